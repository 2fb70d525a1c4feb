#include "algorithms/transition_sampling.h"

#include <ATen/ATen.h>

#include "core/error.h"

namespace nablagfn {

at::Tensor sample_transitions(int64_t n_trajectories, int n_steps, double fraction, bool low_variance,
                              at::Generator gen) {
  const int K = n_steps;
  // + 1e-9: int(50·0.1) must be 5 although 50·0.1 is 5.000000000000001 or 4.999… depending on rounding.
  const int n = static_cast<int>(K * fraction + 1e-9);
  const auto opts = at::TensorOptions().dtype(at::kLong);
  if (n + 1 > K) {
    std::vector<at::Tensor> rows;
    for (int64_t b = 0; b < n_trajectories; ++b) rows.push_back(at::randperm(K, gen, opts));
    return at::stack(rows, 0);  // [B, K]
  }
  at::Tensor out = at::empty({n_trajectories, n + 1}, opts);
  out.select(1, 0).fill_(K - 1);
  if (n == 0) return out;
  if (low_variance) {
    require(K % n == 0,
            "stratified transition sampling needs n_steps (" + std::to_string(K) + ") divisible by int(n_steps x fraction) (" +
                std::to_string(n) + ")",
            "set train.low_var_subsampling=false or change train.timestep_fraction");
    const int trunk = K / n;
    for (int i = 0; i < n; ++i) {
      // column 1 is the last trunk, column n the first (the release visits trunks n−1 … 0).
      const int trunk_index = n - 1 - i;
      at::Tensor u = at::randint(trunk, {n_trajectories}, gen, opts) + trunk_index * trunk;
      out.select(1, i + 1).copy_(u);
    }
  } else {
    for (int64_t b = 0; b < n_trajectories; ++b)
      out[b].slice(0, 1, n + 1).copy_(at::randperm(K - 1, gen, opts).slice(0, 0, n));
  }
  return out;
}

}  // namespace nablagfn
