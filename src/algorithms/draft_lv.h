#pragma once
// DRaFT-LV (Clark et al., ICLR 2024, §4.3 "lower-variance" K = 1 gradients; spec §7.5), written from the
// paper (no reference code). After sampling x_K without gradient, draw n = draft_lv_n fresh noises, re-noise
// the final sample to the last step's noise level and apply the last sampling step with gradient:
//   x^(i) = √ᾱ_{τ_{K−1}}·sg(x_K) + √(1 − ᾱ_{τ_{K−1}})·ε_i,   x̃^(i) = μ_θ(x^(i)) + σ_{K−1}·z_i,
//   L = −(1/B) Σ_b Σ_i r(x̃_b^(i))   (sum over the n results, mean over the batch).
// What changed: x_K is the trainer's stored final sample (drawn by the current policy).
#include "algorithms/algorithm.h"

namespace nablagfn {

class DRaFTLV : public Algorithm {
 public:
  DRaFTLV(Problem& problem, const Config& config);
  std::string name() const override { return "draft_lv"; }
  bool needs_reward_gradient() const override { return true; }
  LossTerms accumulate(const TrajectoryBatch& mb, const StepInfo& info, double scale) override;

 private:
  Problem& problem_;
  const Config& config_;
};

}  // namespace nablagfn
