#include "algorithms/draft_lv.h"

#include <ATen/ATen.h>

#include <cmath>

#include "algorithms/baseline_utils.h"

namespace nablagfn {

DRaFTLV::DRaFTLV(Problem& problem, const Config& config) : problem_(problem), config_(config) {}

LossTerms DRaFTLV::accumulate(const TrajectoryBatch& mb, const StepInfo& info, double scale) {
  const Scheduler& S = *problem_.scheduler;
  const int K = S.n_steps();
  const int n = config_.algorithm.draft_lv.n;
  const int64_t B = mb.size();
  const int64_t N = n * B;
  // n copies of the batch, copy i in rows [i·B, (i+1)·B).
  at::Tensor x_final = mb.x.select(1, K).detach();  // [B, K+1, S...] -> [B, S...]
  std::vector<int64_t> reps(x_final.dim(), 1);
  reps[0] = n;
  at::Tensor x_rep = x_final.repeat(reps);                                    // [B, S...] -> [n·B, S...]
  at::Tensor cond = mb.cond.defined() ? mb.cond.repeat({n, 1, 1}) : mb.cond;  // [B, L, D] -> [n·B, L, D]
  std::vector<std::string> prompts;
  for (int i = 0; i < n; ++i) prompts.insert(prompts.end(), mb.prompts.begin(), mb.prompts.end());
  // Re-noise to the last step's level: x^(i) = √ᾱ·sg(x_K) + √(1 − ᾱ)·ε_i.
  const double ab = S.state_alpha_bar(K - 1);
  at::Tensor noise = at::randn(x_rep.sizes(), info.noise_gen, x_rep.options());
  at::Tensor x = std::sqrt(ab) * x_rep + std::sqrt(1.0 - ab) * noise;  // [n·B, S...]
  // The last sampling step with gradient.
  at::Tensor kk = at::full({N}, K - 1, at::kLong);
  at::Tensor t = at::full({N}, S.timestep(K - 1), at::TensorOptions().dtype(at::kLong).device(x.device()));
  at::Tensor eps = guided_eps(*problem_.denoiser, x, t, problem_.conditioning(cond), Adapter::On);
  at::Tensor x0_prev;
  if (S.second_order()) x0_prev = mb.x0_prev.select(1, K - 1).detach().repeat(reps);  // [n·B, S...]
  at::Tensor mean = S.step_mean(kk, x, eps, x0_prev);
  at::Tensor z = at::randn(x.sizes(), info.noise_gen, x.options());
  at::Tensor x_out = mean + baseline_row_view(S.step_std(kk, x), x) * z;  // [n·B, S...]
  at::Tensor r = problem_.reward_of(x_out, prompts);                      // [n·B]
  at::Tensor loss = -r.view({n, B}).sum(0).mean();                        // [n·B] -> [n, B] -> []
  LossTerms terms{{"loss", loss.item<double>()}, {"reward_lv", r.mean().item<double>()}};
  for (const auto& [name, v] : terms) check_finite_term(v, name, info, mb);
  (loss * scale).backward();
  return terms;
}

}  // namespace nablagfn
