#include "algorithms/refl.h"

#include <ATen/ATen.h>

#include <algorithm>

#include "algorithms/transition_utils.h"
#include "core/error.h"
#include "core/log.h"

namespace nablagfn {

ReFL::ReFL(Problem& problem, const Config& config) : problem_(problem), config_(config) {}

LossTerms ReFL::accumulate(const TrajectoryBatch& mb, const StepInfo& info, double scale) {
  const AlgorithmConfig& a = config_.algorithm;
  const Scheduler& S = *problem_.scheduler;
  const int K = S.n_steps();
  const int first = std::max(0, K - a.refl.last_steps);
  // m ~ U{K − N, …, K − 1} per trajectory: the step whose x̂0 is scored.
  at::Tensor m = at::randint(first, K, {mb.size()}, info.gen, at::kLong);  // [B]
  TransitionRows tr = transition_rows(mb, m);
  at::Tensor x = tr.x.detach();                        // [B, S...] stored x_m
  at::Tensor t = S.state_timesteps(m).to(x.device());  // [B]
  at::Tensor eps = guided_eps(*problem_.denoiser, x, t, problem_.conditioning(mb.cond), Adapter::On);
  at::Tensor x0_hat = S.predict_x0(m, x, eps);            // [B, S...]
  at::Tensor r = problem_.reward_of(x0_hat, mb.prompts);  // [B]
  at::Tensor loss = at::relu(a.refl.target - r).mean() * a.refl.loss_scale;
  if (!warned_ && r.min().item<double>() >= a.refl.target) {
    NABLAGFN_WARN("refl: every reward of the micro-batch is >= algorithm.refl.target = %g: the hinge gives no "
                  "gradient; set algorithm.refl.target above the reward's range (aesthetic 10, hps 1: configs/sd15_*_refl.jsonc)",
                  a.refl.target);
    warned_ = true;
  }
  LossTerms terms{{"loss", loss.item<double>()}, {"reward_x0", r.mean().item<double>()}};
  for (const auto& [name, v] : terms) check_finite_term(v, name, info, mb);
  (loss * scale).backward();
  return terms;
}

}  // namespace nablagfn
