#include "algorithms/adjoint_matching.h"

#include <ATen/ATen.h>
#include <ATen/core/grad_mode.h>
#include <torch/csrc/autograd/autograd.h>

#include "algorithms/baseline_utils.h"
#include "algorithms/transition_sampling.h"
#include "algorithms/transition_utils.h"

namespace nablagfn {

at::Tensor lean_adjoint(Problem& problem, const TrajectoryBatch& mb, double beta, int k_min) {
  const Scheduler& S = *problem.scheduler;
  const int K = S.n_steps();
  const int64_t B = mb.size();
  TORCH_CHECK(k_min >= 0 && k_min <= K, "lean_adjoint: k_min must be in [0, K]");
  const at::ScalarType dt = mb.x.scalar_type() == at::kDouble ? at::kDouble : at::kFloat;
  at::Tensor a = at::zeros(mb.x.sizes(), mb.x.options().dtype(dt));  // [B, K+1, S...]
  Conditioning c = problem.conditioning(mb.cond);
  // a_K = β·∇_x r(x_K).
  {
    at::Tensor x = mb.x.select(1, K).detach().clone().set_requires_grad(true);  // [B, S...]
    at::Tensor r = problem.reward_of(x, mb.prompts);                            // [B]
    auto g = torch::autograd::grad({r.sum()}, {x}, {}, false, false);
    a.select(1, K).copy_(beta * g[0].to(dt));
  }
  // a_k = J_{μ#}(x_k)ᵀ a_{k+1}, one VJP through the pretrained step per k.
  for (int k = K - 1; k >= k_min; --k) {
    at::Tensor kk = at::full({B}, k, at::kLong);
    at::Tensor x = mb.x.select(1, k).detach().clone().set_requires_grad(true);  // [B, S...]
    at::Tensor t = at::full({B}, S.timestep(k), at::TensorOptions().dtype(at::kLong).device(x.device()));
    at::Tensor x0_prev = mb.x0_prev.defined() ? mb.x0_prev.select(1, k).detach() : at::Tensor();
    at::Tensor mean = S.step_mean(kk, x, guided_eps(*problem.denoiser, x, t, c, Adapter::Off), x0_prev);
    at::Tensor v = a.select(1, k + 1).to(mean.scalar_type());
    auto g = torch::autograd::grad({mean}, {x}, {v}, false, false);
    a.select(1, k).copy_(g[0].to(dt));
  }
  return a;
}

AdjointMatching::AdjointMatching(Problem& problem, const Config& config) : problem_(problem), config_(config) {
  require_gaussian_steps(*problem.scheduler, "adjoint_matching");
}

LossTerms AdjointMatching::accumulate(const TrajectoryBatch& mb, const StepInfo& info, double scale) {
  const Scheduler& S = *problem_.scheduler;
  const int K = S.n_steps();
  at::Tensor idx = sample_transitions(mb.size(), K, config_.train.timestep_fraction, config_.train.low_var_subsampling,
                                      info.gen);  // [B, J]
  at::Tensor a = lean_adjoint(problem_, mb, config_.algorithm.beta, static_cast<int>(idx.min().item<int64_t>()) + 1);
  const at::ScalarType dt = a.scalar_type();
  Conditioning c = problem_.conditioning(mb.cond);
  at::Tensor rows = at::arange(mb.size(), at::kLong);
  LossTerms sums = accumulate_transitions(idx, info, mb, scale, [&](const at::Tensor& k) {
    TransitionRows tr = transition_rows(mb, k);
    at::Tensor a_next = a.index({rows.to(a.device()), (k + 1).to(a.device())});        // [B, K+1, S...] -> [B, S...]
    at::Tensor sigma = baseline_row_view(S.step_std(k, a_next), a_next);               // [B, 1...]
    at::Tensor mean_pol = baseline_step_mean(problem_, tr, k, c, Adapter::On).to(dt);  // [B, S...]
    at::Tensor mean_ref;
    {
      at::NoGradGuard no_grad;
      mean_ref = baseline_step_mean(problem_, tr, k, c, Adapter::Off).to(dt);
    }
    // (μ_θ − μ_#)/σ_k against σ_k·a_{k+1}: the matching residual in units of the step noise.
    at::Tensor loss = ((mean_pol - mean_ref) / sigma - sigma * a_next).pow(2).mean();
    return TransitionLoss{loss,
                          {{"adjoint_norm", a_next.flatten(1).norm(2, 1).mean().item<double>()}}};
  });
  return sums;
}

}  // namespace nablagfn
