#pragma once
// Adjoint matching (Domingo-Enrich et al., "Adjoint Matching: Fine-tuning Flow and Diffusion Generative
// Models with Memoryless Stochastic Optimal Control", arXiv 2409.08861, Alg. 1 with the lean adjoint;
// spec §7.6) in the discrete DDPM form (η = 1 is a memoryless schedule), written from the spec:
//   a_K = β·∇_x r(x_K),   a_k = J_{μ#}(x_k)ᵀ a_{k+1}     (VJPs through the PRETRAINED step mean only)
//   L = mean over trained k of mean_{b, elem} ((μ_θ(x_k) − μ_#(x_k))/σ_k − σ_k·a_{k+1})²
// on the stored trajectories of the current policy (no graph kept through the adjoint pass). The target
// matches ∇-DB's forward condition S→_θ − S→_# = ∇ log F(x_{k+1}) with the flow score replaced by the
// back-propagated value gradient a_{k+1}.
// What changed: the trained transitions are subsampled with sample_transitions (train.timestep_fraction);
// the adjoint runs only down to the earliest trained step + 1; second-order samplers' x̂0_{k−1} input is
// held fixed (the lean adjoint follows x_k only).
#include "algorithms/algorithm.h"

namespace nablagfn {

// The lean adjoints of trajectories mb: [B, K+1, S...] in mb.x's dtype (float32 for lower-precision
// latents), rows k < k_min zero. a_K = β·∇r(x_K) with mb's prompts; a_k = J_{μ#}(x_k)ᵀ a_{k+1} for
// k_min <= k < K. Detached.
at::Tensor lean_adjoint(Problem& problem, const TrajectoryBatch& mb, double beta, int k_min);

class AdjointMatching : public Algorithm {
 public:
  AdjointMatching(Problem& problem, const Config& config);
  std::string name() const override { return "adjoint_matching"; }
  bool needs_reward_gradient() const override { return true; }
  LossTerms accumulate(const TrajectoryBatch& mb, const StepInfo& info, double scale) override;

 private:
  Problem& problem_;
  const Config& config_;
};

}  // namespace nablagfn
