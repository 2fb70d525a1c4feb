#pragma once
// Which transitions of each trajectory are trained (spec §3.7). With K steps and fraction f, n = int(K·f):
//  - low variance (stratified, the default): [K−1, u_{n−1}, …, u_0] with u_i uniform in the i-th of n
//    contiguous trunks of size K/n (requires K % n == 0);
//  - uniform: [K−1] followed by n distinct indices from {0, …, K−2};
//  - n + 1 > K (e.g. f = 1, which crashes the release): every transition once, in random order.
// The terminal transition K−1 comes first in the first two modes. Drawn independently per trajectory.
#include <ATen/core/Tensor.h>

namespace nablagfn {

// [B, J] int64 step indices.
at::Tensor sample_transitions(int64_t n_trajectories, int n_steps, double fraction, bool low_variance,
                              at::Generator gen);

}  // namespace nablagfn
