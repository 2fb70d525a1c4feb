#pragma once
// ReFL, ImageReward's reward feedback learning (Xu et al., NeurIPS 2023; spec §7.4). Port of the loss of
// ImageReward `ImageReward/ReFL.py` (Trainer.train, L714-756): sample without gradient up to a random step
// m of the last `refl_last_steps`, run ONE policy step at τ_m with gradient, take the step's x̂0 directly
// and maximise its reward:  L = mean(relu(refl_target − r(x̂0))) · refl_loss_scale.
// Per reward: ImageReward's target 2 sits inside its standardised score's range; the aesthetic score
// (≈ 5–8 on SD-1.5) and HPSv2 (a cosine, ≈ 0.25–0.35) need a target above their range (10 and 1 in
// configs/sd15_*_refl.jsonc), where the hinge never clips and the loss is DRaFT's −r(x̂0) up to a constant;
// a micro-batch whose rewards all reach the target (zero gradient) is warned about once.
// What changed: the states x_m come from the trainer's stored trajectories (sampled by the current policy,
// so the same distribution as the reference's no-grad prefix); m is drawn per trajectory, not per batch;
// the policy is the trainable part (LoRA / residual MLP) instead of the full UNet; no pretraining loss.
#include "algorithms/algorithm.h"

namespace nablagfn {

class ReFL : public Algorithm {
 public:
  ReFL(Problem& problem, const Config& config);
  std::string name() const override { return "refl"; }
  bool needs_reward_gradient() const override { return true; }
  LossTerms accumulate(const TrajectoryBatch& mb, const StepInfo& info, double scale) override;

 private:
  Problem& problem_;
  const Config& config_;
  bool warned_ = false;
};

}  // namespace nablagfn
