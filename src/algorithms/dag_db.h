#pragma once
// DAG-DB, diffusion alignment with GFlowNets, detailed-balance variant (Zhang et al., "Improving
// GFlowNets for Text-to-Image Diffusion Alignment", 2024; spec §7.2). Port of the loss of
// apple/ml-diffusion-alignment-gflownet `scripts/train_gfn.py` (L525-590, klpf = 0) with
// `alignment/diffusers_patch/ddim_with_logprob.py` (log P_F, log P_B). Per trained transition k:
//   log F(x_k)   = F_ψ(x_k, τ_k, c) + β_e·r(x̂_θ(x_k))       x̂ from the current policy's conditional ε
//                                                           (no CFG, no gradient)
//   log F(x_K)   = β_e·r(x_K)                               (the stored reward)
//   ℓ_DB = (log F(x_k) + log P_θ(x_{k+1}|x_k) − log P_B(x_k|x_{k+1}) − log F(x_{k+1}))²
//   P_B(x_k|x_{k+1}) = N(√(ᾱ_τ/ᾱ_τ')·x_{k+1}, (1 − ᾱ_τ/ᾱ_τ')·I)   (DDPM noising; ᾱ_τ' = ᾱ_0 for the last step)
//   L = mean_b[ℓ_DB + λ·mean_elem((ε^cfg_θ(x_k) − ε_old)²)]
// with per-element-mean log-probs (so β acts like β·numel in "sum" units) and β annealed linearly,
// β_e = β·min(1, e/(dag_beta_anneal·E)) (off when dag_beta_anneal = 0).
// What changed: trained transitions come from sample_transitions (train.timestep_fraction; DAG trains all
// 50); the scalar flow network is the problem's make_scalar_flow_net (DAG's ConditionalFlow UNet for SD is
// not implemented: dag_db on a problem without one is an Error).
#include <memory>

#include "algorithms/algorithm.h"
#include "algorithms/baseline_utils.h"

namespace nablagfn {

class DAGDB : public Algorithm {
 public:
  DAGDB(Problem& problem, const Config& config);
  std::string name() const override { return "dag_db"; }
  RolloutOptions rollout_options() const override;
  bool needs_reward_gradient() const override { return false; }
  std::vector<ParamGroup> extra_parameter_groups() override;
  void begin_epoch(const TrajectoryBatch& buffer, const StepInfo& info) override;
  LossTerms accumulate(const TrajectoryBatch& mb, const StepInfo& info, double scale) override;
  std::vector<std::pair<std::string, at::Tensor>> state() override { return flow_.state(); }
  void load_state(const TensorMap& state) override { flow_.load_state(state); }

  // β of epoch e of n_epochs under the annealing schedule.
  double beta_at(int epoch, int n_epochs) const;

 private:
  // β_e·r(x̂_θ(x)) for states x at step indices k [B] (no gradient; x itself for final states). [B] float64.
  at::Tensor guessed_log_flow(const TrajectoryBatch& mb, const at::Tensor& x, const at::Tensor& k) const;
  Problem& problem_;
  const Config& config_;
  ScalarLogFlow flow_;
  double beta_epoch_;
};

}  // namespace nablagfn
