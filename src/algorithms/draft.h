#pragma once
// DRaFT-K (Clark et al., "Directly Fine-Tuning Diffusion Models on Differentiable Rewards", ICLR 2024,
// Alg. 1 with the truncation of §4.3; spec §7.5), written from the paper (no reference code).
// Backpropagates −r(x_K) through the last K_d = draft_k sampling steps: the first K − K_d steps run without
// gradient (here: the stored state x_{K−K_d} of the trainer's trajectory, sampled by the current policy),
// the last K_d steps are re-run with fresh step noise and the policy's ε on the graph. draft_k = n_steps
// is full DRaFT; draft_k = 1 is DRaFT-1.
// What changed: no gradient checkpointing (the toy does not need it; for SD, memory grows with draft_k).
#include "algorithms/algorithm.h"

namespace nablagfn {

class DRaFT : public Algorithm {
 public:
  DRaFT(Problem& problem, const Config& config);
  std::string name() const override { return "draft"; }
  bool needs_reward_gradient() const override { return true; }
  LossTerms accumulate(const TrajectoryBatch& mb, const StepInfo& info, double scale) override;

 private:
  Problem& problem_;
  const Config& config_;
};

}  // namespace nablagfn
