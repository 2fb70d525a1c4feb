#pragma once
// Residual DB, the GFlowNet baseline of the ∇-GFlowNet paper (spec §7.3). Not released; this is the
// natural form the spec derives from §3.2, and its details are an ASSUMPTION:
//   log F̃(x_k) = β·γ(x_k)·r(x̂_θ(x_k)) + f_ψ(x_k, τ_k, c)     (forward-looking, x̂ from the guided policy ε,
//                                                            no gradient through the guess)
//   log F̃(x_K) = β·r(x_K)                                  (the stored reward)
//   ℓ_DB = (log F̃(x_k) + log P_θ(x_{k+1}|x_k) − log P_#(x_{k+1}|x_k) − log F̃(x_{k+1}))²
//   L = mean_b[ℓ_DB] + λ·mean((ε^cfg_θ(x_k) − ε_old)²)
// i.e. DB on the residual process whose backward policy is the pretrained forward policy P_# (the prior's
// reversal), the DAG-DB parameterisation with P_B replaced by P_# and γ of ∇-DB. Log-probs are EXACT
// (summed over the elements; the normalising constants cancel since θ and # share σ_k), unlike DAG's
// per-element means; γ is algorithm.gamma_mode (ᾱ by default), f_ψ the problem's scalar flow network.
#include "algorithms/algorithm.h"
#include "algorithms/baseline_utils.h"

namespace nablagfn {

class ResidualDB : public Algorithm {
 public:
  ResidualDB(Problem& problem, const Config& config);
  std::string name() const override { return "residual_db"; }
  RolloutOptions rollout_options() const override;
  bool needs_reward_gradient() const override { return false; }
  std::vector<ParamGroup> extra_parameter_groups() override { return {flow_.parameter_group(config_)}; }
  LossTerms accumulate(const TrajectoryBatch& mb, const StepInfo& info, double scale) override;
  std::vector<std::pair<std::string, at::Tensor>> state() override { return flow_.state(); }
  void load_state(const TensorMap& state) override { flow_.load_state(state); }

 private:
  // β·γ(x)·r(x̂_θ(x)) for states x at step indices k [B] from the guided policy ε eps (detached), [B] float64.
  at::Tensor guessed_log_flow(const TrajectoryBatch& mb, const at::Tensor& x, const at::Tensor& eps,
                              const at::Tensor& k) const;
  Problem& problem_;
  const Config& config_;
  ScalarLogFlow flow_;
};

}  // namespace nablagfn
