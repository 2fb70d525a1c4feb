#pragma once
// DDPO, the PPO-clip variant (Black et al., "Training Diffusion Models with Reinforcement Learning",
// ICLR 2024; spec §7.1). Port of the loss of ddpo-pytorch `scripts/train.py` (L426-575) with
// `ddpo_pytorch/stat_tracking.py` for the advantages:
//   A = clip((r − mean_p)/(std_p + 1e-6), ±ddpo_adv_clip)   (per-prompt running statistics)
//   ρ = exp(log P_θ(x_{k+1}|x_k) − log P_old(x_{k+1}|x_k))  (per-element-mean log-probs, spec §2.3)
//   L = mean over (trajectory, trained step) of max(−A·ρ, −A·clip(ρ, 1 − ε, 1 + ε)).
// What changed: trained steps come from sample_transitions (train.timestep_fraction; DDPO's own configs
// train every step, timestep_fraction = 1) instead of a per-trajectory permutation prefix; the statistics
// are updated once per epoch in begin_epoch() with the training buffer's rewards of every process; no inner
// epochs. Needs no reward gradient, so it also trains on non-differentiable rewards.
#include "algorithms/algorithm.h"
#include "algorithms/per_prompt_stats.h"

namespace nablagfn {

class DDPO : public Algorithm {
 public:
  DDPO(Problem& problem, const Config& config);
  std::string name() const override { return "ddpo"; }
  RolloutOptions rollout_options() const override;
  bool needs_reward_gradient() const override { return false; }
  void begin_epoch(const TrajectoryBatch& buffer, const StepInfo& info) override;
  LossTerms accumulate(const TrajectoryBatch& mb, const StepInfo& info, double scale) override;
  // The per-prompt reward buffers ("stats.<prompt>", float64 [n]), so a resumed run normalises as before.
  std::vector<std::pair<std::string, at::Tensor>> state() override;
  void load_state(const TensorMap& state) override;

 private:
  Problem& problem_;
  const Config& config_;
  PerPromptStatTracker stats_;
};

}  // namespace nablagfn
