#include "algorithms/trajectory.h"

#include <ATen/ATen.h>
#include <ATen/core/grad_mode.h>

#include "algorithms/fast_chain.h"
#include "core/progress.h"
#include "schedulers/gaussian_policy.h"

namespace nablagfn {

namespace {
at::Tensor rows(const at::Tensor& t, const at::Tensor& idx) {
  return t.defined() ? t.index_select(0, idx.to(t.device())) : t;
}
at::Tensor cat_field(const std::vector<TrajectoryBatch>& parts, at::Tensor TrajectoryBatch::*field) {
  std::vector<at::Tensor> ts;
  for (const auto& p : parts)
    if ((p.*field).defined()) ts.push_back(p.*field);
  return ts.empty() ? at::Tensor() : at::cat(ts, 0);
}
}  // namespace

TrajectoryBatch TrajectoryBatch::select(const at::Tensor& idx) const {
  TrajectoryBatch out;
  at::Tensor cpu_idx = idx.to(at::kCPU).to(at::kLong);
  auto acc = cpu_idx.accessor<int64_t, 1>();
  for (int64_t i = 0; i < cpu_idx.size(0); ++i) out.prompts.push_back(prompts.at(acc[i]));
  out.cond = rows(cond, cpu_idx);
  out.x = rows(x, cpu_idx);
  out.eps_old = rows(eps_old, cpu_idx);
  out.log_prob = rows(log_prob, cpu_idx);
  out.x0_prev = rows(x0_prev, cpu_idx);
  out.reward = rows(reward, cpu_idx);
  return out;
}

TrajectoryBatch TrajectoryBatch::cat(const std::vector<TrajectoryBatch>& parts) {
  TrajectoryBatch out;
  for (const auto& p : parts) out.prompts.insert(out.prompts.end(), p.prompts.begin(), p.prompts.end());
  out.cond = cat_field(parts, &TrajectoryBatch::cond);
  out.x = cat_field(parts, &TrajectoryBatch::x);
  out.eps_old = cat_field(parts, &TrajectoryBatch::eps_old);
  out.log_prob = cat_field(parts, &TrajectoryBatch::log_prob);
  out.x0_prev = cat_field(parts, &TrajectoryBatch::x0_prev);
  out.reward = cat_field(parts, &TrajectoryBatch::reward);
  return out;
}

namespace {
struct StepRecord {
  int k;
  at::Tensor x, eps, mean, std, x_next;
};

// Runs the K-step chain from x0 (no autograd) and calls on_step after each step. Returns x_K.
template <class OnStep>
at::Tensor run_chain(Problem& problem, const at::Tensor& x0, const at::Tensor& cond, at::Generator gen,
                     Adapter adapter, bool show_progress, OnStep&& on_step) {
  const Scheduler& sched = *problem.scheduler;
  const int64_t B = x0.size(0);
  Conditioning c = problem.conditioning(cond);
  std::vector<int64_t> row_shape(x0.dim(), 1);
  row_shape[0] = B;
  at::Tensor x = x0;
  at::Tensor x0_prev = at::zeros_like(x0);
  std::unique_ptr<ProgressBar> bar;
  if (show_progress) bar = std::make_unique<ProgressBar>("sampling", sched.n_steps());
  for (int k = 0; k < sched.n_steps(); ++k) {
    at::Tensor kk = at::full({B}, k, at::kLong);
    at::Tensor t = at::full({B}, sched.timestep(k), at::TensorOptions().dtype(at::kLong).device(x.device()));
    at::Tensor eps = guided_eps(*problem.denoiser, x, t, c, adapter);
    at::Tensor mean = sched.step_mean(kk, x, eps, x0_prev);
    at::Tensor std = sched.step_std(kk, x);  // [B]
    at::Tensor x_next = mean + std.view(row_shape) * at::randn(x.sizes(), gen, x.options());
    on_step(StepRecord{k, x, eps, mean, std, x_next}, x0_prev);
    if (sched.second_order()) x0_prev = sched.predict_x0(kk, x, eps);
    x = x_next;
    if (bar) bar->update();
  }
  return x;
}

// The chain on problem.fast_chain (CUDA graphs): every state, the ε when asked, the log-probs recomputed
// from them (flattened over the K steps).
void rollout_fast(Problem& problem, const at::Tensor& x0, at::Generator gen, const RolloutOptions& options,
                  Adapter adapter, TrajectoryBatch& out) {
  const Scheduler& sched = *problem.scheduler;
  const bool need_eps = options.store_eps || options.store_log_prob;
  ChainResult r = problem.fast_chain->run(x0, out.cond, gen, adapter, /*store_states=*/true, need_eps);
  out.x = r.x;  // [B, K+1, S...]
  if (options.store_eps) out.eps_old = r.eps;
  if (!options.store_log_prob) return;
  const int64_t B = x0.size(0), K = sched.n_steps();
  std::vector<int64_t> flat{B * K};
  flat.insert(flat.end(), x0.sizes().begin() + 1, x0.sizes().end());
  const at::Tensor x = r.x.narrow(1, 0, K).reshape(flat);       // [B, K, S...] -> [B·K, S...]
  const at::Tensor x_next = r.x.narrow(1, 1, K).reshape(flat);  // [B, K, S...] -> [B·K, S...]
  const at::Tensor eps = r.eps.reshape(flat);
  const at::Tensor kk = at::arange(K, at::kLong).repeat({B});   // [B·K]: row b·K + k is step k
  const at::Tensor mean = sched.step_mean(kk, x, eps);
  const at::Tensor std = sched.step_std(kk, x);
  out.log_prob = gaussian_log_prob(x_next, mean, std).view({B, K}).to(at::kFloat);  // [B·K] -> [B, K]
}

}  // namespace

TrajectoryBatch rollout(Problem& problem, const at::Tensor& x0, const std::vector<std::string>& prompts,
                        at::Generator gen, const RolloutOptions& options, Adapter adapter) {
  at::NoGradGuard no_grad;
  TrajectoryBatch out;
  out.prompts = prompts;
  if (problem.text) out.cond = problem.text->encode(prompts);
  if (problem.fast_chain && problem.fast_chain->serves(x0, adapter)) {
    rollout_fast(problem, x0, gen, options, adapter, out);
    out.reward = problem.reward_of(out.x.select(1, problem.scheduler->n_steps()), prompts).to(at::kFloat);
    return out;
  }
  const bool second_order = problem.scheduler->second_order();
  std::vector<at::Tensor> xs{x0}, eps_all, lp_all, x0_prev_all;
  at::Tensor x_final = run_chain(problem, x0, out.cond, gen, adapter, options.show_progress,
                                 [&](const StepRecord& s, const at::Tensor& x0_prev) {
                                   xs.push_back(s.x_next);
                                   if (options.store_eps) eps_all.push_back(s.eps);
                                   if (options.store_log_prob)
                                     lp_all.push_back(gaussian_log_prob(s.x_next, s.mean, s.std));
                                   if (second_order) x0_prev_all.push_back(x0_prev);
                                 });
  out.x = at::stack(xs, 1);  // K+1 x [B, S...] -> [B, K+1, S...]
  if (options.store_eps) out.eps_old = at::stack(eps_all, 1);                        // [B, K, S...]
  if (options.store_log_prob) out.log_prob = at::stack(lp_all, 1).to(at::kFloat);  // [B, K]
  if (second_order) out.x0_prev = at::stack(x0_prev_all, 1);                         // [B, K, S...]
  out.reward = problem.reward_of(x_final, prompts).to(at::kFloat);
  return out;
}

at::Tensor sample_final(Problem& problem, const at::Tensor& x0, const std::vector<std::string>& prompts,
                        at::Generator gen, Adapter adapter) {
  at::NoGradGuard no_grad;
  at::Tensor cond;
  if (problem.text) cond = problem.text->encode(prompts);
  if (problem.fast_chain && problem.fast_chain->serves(x0, adapter))
    return problem.fast_chain->run(x0, cond, gen, adapter, /*store_states=*/false, /*store_eps=*/false).x;
  return run_chain(problem, x0, cond, gen, adapter, false, [](const StepRecord&, const at::Tensor&) {});
}

}  // namespace nablagfn
