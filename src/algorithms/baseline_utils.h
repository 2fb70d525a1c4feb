#pragma once
// Small pieces the baselines of spec §7 share: the check that every step of the sampler is a proper
// Gaussian (log-probs and 1/σ need σ > 0), per-row broadcasting of [B] values, the policy's Gaussian step
// at stored transitions, and the scalar log-flow network F_ψ of DAG-DB and residual DB.
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include <ATen/core/Tensor.h>

#include "algorithms/algorithm.h"
#include "algorithms/transition_utils.h"

namespace nablagfn {

// Error naming the algorithm unless every step k of the sampler has std_at(k) > 0.
void require_gaussian_steps(const Scheduler& scheduler, const std::string& algorithm);

// v [B] as [B, 1, ...] with like's rank, in like's dtype and device.
at::Tensor baseline_row_view(const at::Tensor& v, const at::Tensor& like);

// Mean of the Gaussian step k [B] from the stored transition rows tr with the guided ε of `adapter` at
// x = tr.x (graph to the trainable parameters with Adapter::On unless grad mode is off). [B, S...];
// the ε used goes to *eps when given.
at::Tensor baseline_step_mean(Problem& problem, const TransitionRows& tr, const at::Tensor& k, const Conditioning& c,
                              Adapter adapter, at::Tensor* eps = nullptr);

// ᾱ of the noise level step k [B] lands on, from the training schedule: ᾱ_{τ_{k+1}} and, for the last step,
// ᾱ_0 (the final state's level τ = 0 of spec §1, not 1). [B] float64 on the CPU. Used by DDPM's noising
// kernel P_B(x_k | x_{k+1}) = N(√(ᾱ_τ/ᾱ_τ')·x_{k+1}, (1 − ᾱ_τ/ᾱ_τ')·I) (DAG's `ddim_step_with_logprob`).
at::Tensor target_alpha_bars(const Scheduler& scheduler, const at::Tensor& k);

// Scalar log-flow network F_ψ(x, τ, c) of DAG-DB and residual DB, trained with lr_flow / weight_decay_flow
// and checkpointed under "flow.".
class ScalarLogFlow {
 public:
  // Error naming the algorithm when the problem has no scalar flow network.
  ScalarLogFlow(Problem& problem, const std::string& algorithm);
  // x [B, S...] in the network's dtype, t [B] int64 noise levels, cond [B, L, D] or undefined -> [B] in x's
  // dtype, with a graph to ψ.
  at::Tensor operator()(const at::Tensor& x, const at::Tensor& t, const at::Tensor& cond);
  ParamGroup parameter_group(const Config& config);
  std::vector<std::pair<std::string, at::Tensor>> state();
  void load_state(const TensorMap& state);

 private:
  std::shared_ptr<FlowNet> net_;
};

}  // namespace nablagfn
