#pragma once
// Per-mode masses of 2-D samples (nearest mean) and their total variation to exact masses: the toy
// problem's measure of whether a sampler lands on p·exp(βr) (issue 2). Samples far from every mode (run
// off the ring) get their own "off" bin instead of counting for their nearest mode.
#include <vector>

#include <ATen/core/Tensor.h>

namespace nablagfn {

// A sample is off the modes when it lies farther than kOffStds stds from every mean. A 2-D Gaussian puts
// exp(−r²/2) of its mass beyond r stds: 3.4e-4 at r = 4 (1.1 % at r = 3, which would lift the exact
// chain's TV by ~0.01), so an exact sampler's off mass is negligible and the target's off bin is 0.
inline constexpr double kOffStds = 4.0;

// samples [N, D], means [M, D], stds [M] -> masses [M + 1] float64: the fraction of samples nearest to each
// mean among those within off_stds·std of some mean, then the fraction off every mode.
at::Tensor mode_masses(const at::Tensor& samples, const at::Tensor& means, const at::Tensor& stds,
                       double off_stds = kOffStds);
// Exact per-mode weights [M] with an empty off bin appended: [M + 1], comparable with mode_masses.
at::Tensor with_off_bin(const at::Tensor& weights);
// ½ Σ |p − q| of two mass vectors [M] (or [M + 1] with the off bin: an off sample then counts once).
double total_variation(const at::Tensor& p, const at::Tensor& q);

}  // namespace nablagfn
