#include "algorithms/dag_db.h"

#include <ATen/ATen.h>
#include <ATen/core/grad_mode.h>

#include <algorithm>

#include "algorithms/transition_sampling.h"
#include "algorithms/transition_utils.h"
#include "schedulers/gaussian_policy.h"

namespace nablagfn {

DAGDB::DAGDB(Problem& problem, const Config& config)
    : problem_(problem), config_(config), flow_(problem, "dag_db"), beta_epoch_(config.algorithm.beta) {
  require_gaussian_steps(*problem.scheduler, "dag_db");
}

RolloutOptions DAGDB::rollout_options() const {
  RolloutOptions o;
  o.store_eps = config_.algorithm.output_reg > 0;
  return o;
}

std::vector<ParamGroup> DAGDB::extra_parameter_groups() { return {flow_.parameter_group(config_)}; }

double DAGDB::beta_at(int epoch, int n_epochs) const {
  const double anneal = config_.algorithm.dag_db.beta_anneal;
  if (anneal <= 0) return config_.algorithm.beta;
  return config_.algorithm.beta * std::min(1.0, epoch / (anneal * n_epochs));
}

void DAGDB::begin_epoch(const TrajectoryBatch&, const StepInfo& info) {
  beta_epoch_ = beta_at(info.epoch, info.n_epochs);
}

at::Tensor DAGDB::guessed_log_flow(const TrajectoryBatch& mb, const at::Tensor& x, const at::Tensor& k) const {
  const Scheduler& S = *problem_.scheduler;
  at::NoGradGuard no_grad;
  // The conditional ε only (DAG: unet(latents, t, prompt_embeds), no CFG).
  at::Tensor t = S.state_timesteps(k).to(x.device());
  at::Tensor eps = problem_.denoiser->eps(x, t, mb.cond, Adapter::On);
  at::Tensor x0_hat = S.predict_x0(k, x, eps);  // [B, S...]
  return beta_epoch_ * problem_.reward_of(x0_hat, mb.prompts).to(at::kDouble);
}

LossTerms DAGDB::accumulate(const TrajectoryBatch& mb, const StepInfo& info, double scale) {
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
    // log P_θ(x_{k+1}|x_k) with the guided policy ε (graph to θ).
    at::Tensor eps_pol;
    at::Tensor mean = baseline_step_mean(problem_, tr, k, c, Adapter::On, &eps_pol);  // [B, S...]
    at::Tensor x = tr.x.to(dt), x_next = tr.x_next.to(dt);
    at::Tensor log_pf = gaussian_log_prob(x_next, mean.to(dt), S.step_std(k, x_next));  // [B]
    // log P_B(x_k|x_{k+1}), the DDPM noising kernel (constant).
    at::Tensor ratio = (S.state_alpha_bars(k) / target_alpha_bars(S, k)).to(device);  // [B] ᾱ_τ/ᾱ_τ'
    at::Tensor pb_mean = baseline_row_view(at::sqrt(ratio), x_next) * x_next;         // [B, S...]
    at::Tensor log_pb = gaussian_log_prob(x, pb_mean, at::sqrt(1.0 - ratio));         // [B]
    // Forward-looking log-flows; the terminal one is β_e·r(x_K) with the stored reward.
    at::Tensor t = S.state_timesteps(k).to(device), t_next = S.state_timesteps(k_next).to(device);
    at::Tensor log_flow = flow_(x, t, mb.cond) + guessed_log_flow(mb, tr.x, k).to(device, dt);  // [B]
    at::Tensor terminal = k_next.eq(K).to(device);                                              // [B] bool
    at::Tensor log_flow_next =
        at::where(terminal, beta_epoch_ * mb.reward.to(device, dt),
                  flow_(x_next, t_next, mb.cond) + guessed_log_flow(mb, tr.x_next, k_next).to(device, dt));
    at::Tensor l_db = (log_flow + log_pf - log_pb - log_flow_next).pow(2).mean();
    at::Tensor l_R = lambda > 0 ? (eps_pol.to(dt) - tr.eps_old.to(dt)).pow(2).mean() : at::zeros({}, l_db.options());
    at::Tensor total = l_db + lambda * l_R;
    return TransitionLoss{total,
                          {{"l_db", l_db.item<double>()},
                           {"l_R", l_R.item<double>()},
                           {"log_pf", log_pf.mean().item<double>()},
                           {"log_pb", log_pb.mean().item<double>()},
                           {"log_flow", log_flow.mean().item<double>()}}};
  });
  sums["beta"] = beta_epoch_;
  return sums;
}

}  // namespace nablagfn
