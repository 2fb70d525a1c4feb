#pragma once
// Sampled trajectories (no graph) and the rollout that produces them (spec §3.8, SAMPLING).
//
// Shapes: B trajectories, K steps, S = per-sample state shape (Problem::latent_shape).
//   x        [B, K+1, S...]  states x_0 (noise) .. x_K (final sample), latent dtype
//   eps_old  [B, K, S...]    guided ε of the sampling policy at each step (undefined unless stored)
//   log_prob [B, K]          per-element-mean log-prob of each step under the sampling policy (float32)
//   x0_prev  [B, K, S...]    x̂0 of step k−1 fed to step k (second-order samplers only)
//   cond     [B, L, D]       prompt hidden states (undefined without text)
//   reward   [B]             reward of the final sample (float32)
#include <string>
#include <vector>

#include <ATen/core/Tensor.h>

#include "algorithms/problem.h"

namespace nablagfn {

struct TrajectoryBatch {
  std::vector<std::string> prompts;
  at::Tensor cond;
  at::Tensor x;
  at::Tensor eps_old;
  at::Tensor log_prob;
  at::Tensor x0_prev;
  at::Tensor reward;

  int64_t size() const { return x.defined() ? x.size(0) : 0; }
  int n_steps() const { return static_cast<int>(x.size(1)) - 1; }
  // Rows idx (int64 [b]) of every field.
  TrajectoryBatch select(const at::Tensor& idx) const;
  // Concatenation along the batch dimension.
  static TrajectoryBatch cat(const std::vector<TrajectoryBatch>& parts);
};

struct RolloutOptions {
  bool store_eps = false;       // fill eps_old (λ ℓ_R, DAG-DB)
  bool store_log_prob = false;  // fill log_prob (DDPO, DAG-DB)
  bool show_progress = false;
};

// Samples trajectories from the policy (Adapter::On) without autograd, then scores the final samples.
// x0 [B, S...] initial noise (latent dtype); prompts of size B; gen drives the step noise.
TrajectoryBatch rollout(Problem& problem, const at::Tensor& x0, const std::vector<std::string>& prompts,
                        at::Generator gen, const RolloutOptions& options, Adapter adapter = Adapter::On);

// Final samples only (evaluation / `sample`): the same chain, no storage of intermediate states.
at::Tensor sample_final(Problem& problem, const at::Tensor& x0, const std::vector<std::string>& prompts,
                        at::Generator gen, Adapter adapter = Adapter::On);

}  // namespace nablagfn
