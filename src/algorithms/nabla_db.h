#pragma once
// Residual ∇-DB, the ∇-GFlowNet objective (Liu et al., ICLR 2025; spec §3). Port of the loss of the
// release's train_nablagfn.py (L576-L830) with its known bugs fixed (spec §9): each sample's reward
// gradient uses its own prompt, seeds differ per rank, the optimizer steps once per update; the
// `quirk_*` config switches restore the release's behaviour.
//
// Per trained transition k of a trajectory (x = x_k, x' = x_{k+1}), spec §3.4:
//   ℓ_F = mean[(S→_θ − η·S→_# − g_φ(x') − G(x'))²]            (no g_φ on the terminal transition)
//   ℓ_B = mean[(η·S←_θ − η·S←_# + g_φ(x) + G(x))²]            (non-terminal rows unless reverse_at_terminal;
//                                                               S←_θ is a constant)
//   ℓ_T = mean over terminal rows of mean(g_φ(x_K)²)
//   ℓ_R = mean[(ε^cfg_θ(x) − ε_old)²]
//   L = ℓ_F + w_B·ℓ_B + ℓ_T + λ·ℓ_R,  G(x) = β·γ(x)·∇_x r(x̂_θ(x)) detached.
//
// Switches beyond the release, each keeping the exact solution as the minimiser (reverse_at_terminal is
// explained where it is used):
// - condition_weighting = noise multiplies each squared residual by 1 − ᾱ of the state its flow term
//   lives at (x' for ℓ_F, x for ℓ_B): residuals in ε units, as in the usual diffusion loss, so the last
//   steps' 1/σ² (2345 at SD's last step) no longer set Adam's scale for the early steps; eps weights by
//   (σ_k²/κ_k)² of the transition instead, the policy's own ε units (it also mutes the late steps' targets).
// - forward_trains_flow = false detaches g_φ(x') in ℓ_F. The conditions are linear in (policy shift, g + G)
//   except the terminal one, and for ℓ_F, as a function of g_φ, E[(s − g(x') − G(x'))²] adds the spread of
//   g + G over x' ~ P(·|x): trained through ℓ_F, g_φ trades that spread against the terminal boundary
//   condition and settles on a flatter flow, between the exact one and the prior's (the toy stalls at
//   tv_modes ≈ 0.14 so). Detached, g_φ regresses only the reverse condition (an unbiased target) and the
//   policy only the forward one.
// - guess_model = pretrained takes x̂ in G from the pretrained ε. With the policy's ε (the release), G moves
//   with the policy's own ε Jacobian, which x̂ = (x − √(1−ᾱ)·ε)/√ᾱ amplifies by √(1−ᾱ)/√ᾱ (13 at the first
//   step): policy → G → forward target → policy is a feedback loop. log F̃(x) = log E_#[exp(βr(x₀))|x] is a
//   pretrained-posterior expectation, so x̂_# is also the natural first-order guess. (On the toy this
//   alone does not stop the runaways; backup does: bench/README.md.)
// - reverse_target = expected replaces the reverse scores by their means over x' ~ P_θ(·|x) (the data's own
//   distribution on-policy): g_φ(x) + G(x) = η·J_μ#(x)ᵀ(μ_θ − μ_#)(x)/σ². As a regression target for g_φ it
//   has the same conditional mean as the sampled one, without its noise (J_μθ − J_μ#)ᵀz/σ, which grows with
//   the policy's own Jacobian and so feeds back into the flow the policy learns from; and the policy's
//   reverse VJP is no longer needed.
// - reverse_target = backup substitutes the forward condition, (μ_θ − μ_#)/σ² = ∇log F̃(x'), into that:
//   g_φ(x) + G(x) = η·J_μ#(x)ᵀ(g_φ + G)(x') with x' the stored next state and the right side detached
//   (G alone at the final state). It is the exact identity ∇log F̃(x) = J_μ#ᵀ E_{P*}[∇log F̃(x')] of a
//   Gaussian P_# with the data's x' in place of the tilted transition's: the flow then learns by its own
//   backups from the terminal reward, not through the policy's lagging and, at the last steps, 1/σ²-
//   amplified shift (641 and 2345 at SD's last two steps); the policy learns from the forward condition.
//   With the sampled or expected targets that amplified shift is what made the toy's flow and policy run
//   away together (the terminal anchor ℓ_T, then ℓ_B, grow 1000x within ~100 epochs).
#include <memory>

#include "algorithms/algorithm.h"

namespace nablagfn {

// The loss terms of one batch of transitions, for the algorithm and for tests that check them one by one.
struct NablaDBTerms {
  at::Tensor total, l_F, l_B, l_T, l_R;  // scalars; total carries the graph to θ and φ
  // [B, S...]; rev: undefined if w_B = 0. With reverse_target expected / backup, score_rev_policy is 0 and
  // score_rev_ref the term the reverse condition pairs with g_φ(x) + G(x) (see above).
  at::Tensor score_fwd_policy, score_fwd_ref, score_rev_policy, score_rev_ref;
  at::Tensor G_next, G_cur, g_next, g_cur;                                      // [B, S...] (undefined when unused)
};

struct NablaDBSettings {
  double beta = 1e3;
  double eta = 1.0;     // prior strength
  double w_B = 1.0;     // reverse_loss_scale
  double lambda = 1e3;  // output_reg
  GammaMode gamma_mode = GammaMode::Squared;
  GuessModel guess_model = GuessModel::Policy;
  ReverseTarget reverse_target = ReverseTarget::Sample;
  FlowConditioning flow_conditioning = FlowConditioning::Auto;
  bool reverse_at_terminal = false;
  ConditionWeighting condition_weighting = ConditionWeighting::None;
  bool forward_trains_flow = true;
};

class NablaDB : public Algorithm {
 public:
  NablaDB(Problem& problem, const Config& config);
  std::string name() const override { return "nabla_db"; }
  RolloutOptions rollout_options() const override;
  bool needs_reward_gradient() const override { return true; }
  std::vector<ParamGroup> extra_parameter_groups() override;
  void begin_epoch(const TrajectoryBatch& buffer, const StepInfo& info) override;
  LossTerms accumulate(const TrajectoryBatch& mb, const StepInfo& info, double scale) override;
  std::vector<std::pair<std::string, at::Tensor>> state() override;
  void load_state(const TensorMap& state) override;

  // The terms for transitions k [B] of trajectories mb (no backward). prompts are the prompts the reward
  // gradients use (mb.prompts unless quirk_stale_prompts).
  NablaDBTerms terms(const TrajectoryBatch& mb, const at::Tensor& k, const std::vector<std::string>& prompts);
  FlowNet* flow() { return flow_.get(); }

 private:
  at::Tensor flow_context(const TrajectoryBatch& mb) const;
  // Per-row weight of a squared residual of transition k whose flow term lives at state k_state: 1 (none),
  // 1 − ᾱ(k_state) (noise) or (σ_k²/κ_k)² (eps).
  at::Tensor condition_weight(const Scheduler& S, const at::Tensor& k_state, const at::Tensor& k,
                              const std::vector<int64_t>& row_shape, at::ScalarType dtype,
                              const at::Device& device) const;
  Problem& problem_;
  const Config& config_;
  NablaDBSettings settings_;
  std::shared_ptr<FlowNet> flow_;  // null with no_flow
  std::vector<std::string> last_sampled_prompts_;
};

}  // namespace nablagfn
