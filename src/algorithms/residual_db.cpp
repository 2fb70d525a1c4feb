#include "algorithms/residual_db.h"

#include <ATen/ATen.h>
#include <ATen/core/grad_mode.h>

#include "algorithms/predicted_reward.h"
#include "algorithms/transition_sampling.h"
#include "algorithms/transition_utils.h"

namespace nablagfn {

ResidualDB::ResidualDB(Problem& problem, const Config& config)
    : problem_(problem), config_(config), flow_(problem, "residual_db") {
  require_gaussian_steps(*problem.scheduler, "residual_db");
}

RolloutOptions ResidualDB::rollout_options() const {
  RolloutOptions o;
  o.store_eps = config_.algorithm.output_reg > 0;
  return o;
}

at::Tensor ResidualDB::guessed_log_flow(const TrajectoryBatch& mb, const at::Tensor& x, const at::Tensor& eps,
                                        const at::Tensor& k) const {
  at::NoGradGuard no_grad;
  at::Tensor x0_hat = problem_.scheduler->predict_x0(k, x, eps.detach());  // [B, S...]
  at::Tensor r = problem_.reward_of(x0_hat, mb.prompts).to(at::kDouble);   // [B]
  at::Tensor gamma = flow_gamma(*problem_.scheduler, k, config_.algorithm.gamma_mode).to(r.device());
  return config_.algorithm.beta * gamma * r;
}

LossTerms ResidualDB::accumulate(const TrajectoryBatch& mb, const StepInfo& info, double scale) {
  const Scheduler& S = *problem_.scheduler;
  const int K = S.n_steps();
  const double lambda = config_.algorithm.output_reg;
  at::Tensor idx = sample_transitions(mb.size(), K, config_.train.timestep_fraction, config_.train.low_var_subsampling,
                                      info.gen);  // [B, J]
  Conditioning c = problem_.conditioning(mb.cond);
  LossTerms sums = accumulate_transitions(idx, info, mb, scale, [&](const at::Tensor& k) {
    at::Tensor k_next = k + 1;
    TransitionRows tr = transition_rows(mb, k);
    const at::ScalarType dt = tr.x.scalar_type() == at::kDouble ? at::kDouble : at::kFloat;
    const at::Device device = tr.x.device();
    at::Tensor x = tr.x.to(dt), x_next = tr.x_next.to(dt);
    at::Tensor var = baseline_row_view(S.step_std(k, x_next).pow(2), x_next);  // [B, 1...] σ_k²
    // log P_θ − log P_# of the transition, summed over the elements; the shared σ_k cancels the constants:
    // Σ[(x' − μ_#)² − (x' − μ_θ)²] / (2σ²).
    at::Tensor eps_pol;
    at::Tensor mean_pol = baseline_step_mean(problem_, tr, k, c, Adapter::On, &eps_pol).to(dt);  // [B, S...]
    at::Tensor mean_ref;
    {
      at::NoGradGuard no_grad;
      mean_ref = baseline_step_mean(problem_, tr, k, c, Adapter::Off).to(dt);
    }
    at::Tensor log_ratio =
        ((x_next - mean_ref).pow(2) - (x_next - mean_pol).pow(2)).div(2 * var).flatten(1).sum(1);  // [B]
    // Forward-looking log-flows F̃ = β·γ·r(x̂_θ) + f_ψ; the terminal one is β·r(x_K) with the stored reward.
    at::Tensor t = S.state_timesteps(k).to(device), t_next = S.state_timesteps(k_next).to(device);
    at::Tensor log_flow = flow_(x, t, mb.cond) + guessed_log_flow(mb, tr.x, eps_pol, k).to(device, dt);  // [B]
    at::Tensor eps_next;
    {
      at::NoGradGuard no_grad;
      eps_next = guided_eps(*problem_.denoiser, tr.x_next, t_next, c, Adapter::On);
    }
    at::Tensor terminal = k_next.eq(K).to(device);  // [B] bool
    at::Tensor log_flow_next =
        at::where(terminal, config_.algorithm.beta * mb.reward.to(device, dt),
                  flow_(x_next, t_next, mb.cond) + guessed_log_flow(mb, tr.x_next, eps_next, k_next).to(device, dt));
    at::Tensor l_db = (log_flow + log_ratio - log_flow_next).pow(2).mean();
    at::Tensor l_R = lambda > 0 ? (eps_pol.to(dt) - tr.eps_old.to(dt)).pow(2).mean() : at::zeros({}, l_db.options());
    at::Tensor total = l_db + lambda * l_R;
    return TransitionLoss{total,
                          {{"l_db", l_db.item<double>()},
                           {"l_R", l_R.item<double>()},
                           {"log_ratio", log_ratio.mean().item<double>()},
                           {"log_flow", log_flow.mean().item<double>()}}};
  });
  return sums;
}

}  // namespace nablagfn
