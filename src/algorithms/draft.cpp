#include "algorithms/draft.h"

#include <ATen/ATen.h>

#include "algorithms/baseline_utils.h"
#include "core/error.h"

namespace nablagfn {

DRaFT::DRaFT(Problem& problem, const Config& config) : problem_(problem), config_(config) {
  const int K = problem.scheduler->n_steps();
  require(config.algorithm.draft.k >= 1 && config.algorithm.draft.k <= K,
          "algorithm.draft.k must be in [1, sample.n_steps] (got " + std::to_string(config.algorithm.draft.k) + ", " +
              std::to_string(K) + " steps)",
          "draft.k=1 is DRaFT-1, draft.k=n_steps is full DRaFT");
}

LossTerms DRaFT::accumulate(const TrajectoryBatch& mb, const StepInfo& info, double scale) {
  const Scheduler& S = *problem_.scheduler;
  const int K = S.n_steps();
  const int start = K - config_.algorithm.draft.k;
  const int64_t B = mb.size();
  Conditioning c = problem_.conditioning(mb.cond);
  // The no-gradient prefix: the stored state x_{K−K_d} (and x̂0 of the step before, for 2nd-order samplers).
  at::Tensor x = mb.x.select(1, start).detach();  // [B, K+1, S...] -> [B, S...]
  at::Tensor x0_prev = mb.x0_prev.defined() ? mb.x0_prev.select(1, start).detach() : at::zeros_like(x);
  // The last K_d steps with gradient, x_{k+1} = μ_θ(x_k) + σ_k·z with fresh z (DRaFT Alg. 1).
  for (int k = start; k < K; ++k) {
    at::Tensor kk = at::full({B}, k, at::kLong);
    at::Tensor t = at::full({B}, S.timestep(k), at::TensorOptions().dtype(at::kLong).device(x.device()));
    at::Tensor eps = guided_eps(*problem_.denoiser, x, t, c, Adapter::On);
    at::Tensor mean = S.step_mean(kk, x, eps, x0_prev);  // [B, S...]
    at::Tensor z = at::randn(x.sizes(), info.noise_gen, x.options());
    at::Tensor x_next = mean + baseline_row_view(S.step_std(kk, x), x) * z;
    if (S.second_order()) x0_prev = S.predict_x0(kk, x, eps);
    x = x_next;
  }
  at::Tensor r = problem_.reward_of(x, mb.prompts);  // [B]
  at::Tensor loss = -r.mean();
  LossTerms terms{{"loss", loss.item<double>()}, {"reward_draft", r.mean().item<double>()}};
  for (const auto& [name, v] : terms) check_finite_term(v, name, info, mb);
  (loss * scale).backward();
  return terms;
}

}  // namespace nablagfn
