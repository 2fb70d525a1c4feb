#include "algorithms/nabla_db.h"

#include <ATen/ATen.h>
#include <ATen/core/grad_mode.h>
#include <torch/csrc/autograd/autograd.h>

#include <stdexcept>

#include "algorithms/predicted_reward.h"
#include "algorithms/transition_sampling.h"
#include "algorithms/transition_utils.h"
#include "core/error.h"
#include "schedulers/gaussian_policy.h"

namespace nablagfn {

NablaDB::NablaDB(Problem& problem, const Config& config) : problem_(problem), config_(config) {
  const AlgorithmConfig& a = config.algorithm;
  settings_ = {a.beta,          a.prior_strength,
               a.no_flow ? 0.0 : a.reverse_loss_scale,
               a.output_reg,    a.gamma_mode,
               a.guess_model,   a.reverse_target,
               config.model.flow_conditioning,
               a.reverse_at_terminal, a.condition_weighting,
               a.forward_trains_flow, a.score_precision,
               a.flow_target_ema};
  require(problem.reward->differentiable(), "nabla_db needs a differentiable reward, '" + problem.reward->name() + "' is not",
          "use ddpo for non-differentiable rewards");
  require(problem.scheduler->n_steps() > 0 && problem.scheduler->std_at(0) > 0,
          "nabla_db needs a stochastic sampler (the policy must be Gaussian)", "set sample.eta > 0");
  if (!a.no_flow) {
    require(static_cast<bool>(problem.make_flow_net), "this problem has no flow network", "set algorithm.no_flow=true");
    flow_ = problem.make_flow_net();
  }
  if (a.flow_target_ema > 0) {
    require(flow_ != nullptr && uses_flow_target(),
            "algorithm.flow_target_ema averages g_phi for the conditions that take g_phi(x') detached as a target, "
            "and with these switches none does",
            "set algorithm.forward_trains_flow=false or reverse_target=backup (with the flow network and "
            "reverse_loss_scale > 0), or flow_target_ema=0");
    flow_average_ = problem.make_flow_net();
    std::vector<at::Tensor> average = flow_average_->parameters();
    for (auto& p : average) p.set_requires_grad(false);
    flow_ema_ = std::make_unique<ParameterEMA>(flow_->parameters(), average, a.flow_target_ema);
  }
  const bool foldable = settings_.w_B > 0 && flow_ && settings_.reverse_target == ReverseTarget::Sample &&
                        settings_.guess_model == GuessModel::Policy;
  require(a.fold_passes != FoldPasses::Folded || foldable,
          "algorithm.fold_passes=folded needs the flow network, reverse_loss_scale > 0, reverse_target=sample and "
          "guess_model=policy",
          "use fold_passes=auto or separate with these switches");
  folded_ = foldable && (a.fold_passes == FoldPasses::Folded || (a.fold_passes == FoldPasses::Auto && problem.device.is_cuda()));
  auto* sd = dynamic_cast<SDDenoiser*>(problem.denoiser.get());
  if (folded_ && a.merged_lora_guess && sd != nullptr) merged_ = std::make_unique<MergedLoRA>(*sd);
}

RolloutOptions NablaDB::rollout_options() const {
  RolloutOptions o;
  o.store_eps = settings_.lambda > 0;
  return o;
}

std::vector<ParamGroup> NablaDB::extra_parameter_groups() {
  if (!flow_) return {};
  return {ParamGroup{"flow", flow_->parameters(), config_.train.lr_flow, config_.train.weight_decay_flow}};
}

at::Tensor NablaDB::flow_context(const TrajectoryBatch& mb) const {
  if (!mb.cond.defined()) return at::Tensor();
  bool zero = false;
  switch (settings_.flow_conditioning) {
    case FlowConditioning::Auto: zero = !problem_.reward->uses_prompt(); break;
    case FlowConditioning::Prompt: zero = false; break;
    case FlowConditioning::Zero: zero = true; break;
  }
  at::Tensor c = mb.cond.to(at::kFloat);
  return zero ? at::zeros_like(c) : c;
}

bool NablaDB::uses_flow_target() const {
  return !settings_.forward_trains_flow || (settings_.reverse_target == ReverseTarget::Backup && settings_.w_B > 0);
}

at::Tensor NablaDB::flow_target(const at::Tensor& x_next, const at::Tensor& t_next, const at::Tensor& cg,
                                const at::Tensor& g_next) {
  if (!uses_flow_target()) return at::Tensor();
  if (!flow_average_) return g_next.detach();
  at::NoGradGuard no_grad;
  return flow_average_->forward(x_next, t_next, cg);  // [B, S...]
}

namespace {
// The dtype of the state leaves, ε at x̂ and the reverse scores and G (algorithm.score_precision) for a
// UNet of dtype model.
at::ScalarType score_dtype_for(ScorePrecision precision, at::ScalarType model) {
  switch (precision) {
    case ScorePrecision::Float32: return at::promote_types(model, at::kFloat);
    case ScorePrecision::Float64: return at::kDouble;
    case ScorePrecision::Model: return model;
  }
  throw std::logic_error("score_dtype_for: score_precision out of range");
}

at::Tensor cast(const at::Tensor& t, at::ScalarType dtype) { return t.defined() ? t.to(dtype) : t; }
}  // namespace

NablaDBTerms NablaDB::terms(const TrajectoryBatch& mb, const at::Tensor& k, const std::vector<std::string>& prompts) {
  if (folded_) return terms_folded(mb, k, prompts);
  Problem& P = problem_;
  const Scheduler& S = *P.scheduler;
  const int K = S.n_steps();
  const NablaDBSettings& s = settings_;
  const bool reverse = s.w_B > 0 && flow_ != nullptr;
  const Adapter guess_adapter = s.guess_model == GuessModel::Pretrained ? Adapter::Off : Adapter::On;
  const at::Device device = mb.x.device();
  at::Tensor kc = k.to(at::kCPU).to(at::kLong);
  at::Tensor k_next = kc + 1;
  TransitionRows tr = transition_rows(mb, kc);
  const at::ScalarType model_dtype = tr.x.scalar_type();
  const at::ScalarType score_dtype = score_dtype_for(s.score_precision, model_dtype);
  const at::ScalarType loss_dtype = at::promote_types(score_dtype, at::kFloat);
  const at::ScalarType flow_dtype = at::promote_types(model_dtype, at::kFloat);  // g_φ's input
  // The leaves are exact copies of the stored latents in the score dtype, so every VJP (S←, G) sums its
  // O(1/σ) parts there; the UNet reads them cast back to its own dtype.
  at::Tensor x = tr.x.detach().to(score_dtype, false, /*copy=*/true).set_requires_grad(reverse);  // [B, S...] leaf x_k
  at::Tensor x_in = x.to(model_dtype);
  at::Tensor x_next = tr.x_next.detach();  // [B, S...]
  at::Tensor x_next_l = x_next.to(loss_dtype);
  at::Tensor t = S.state_timesteps(kc).to(device);                    // [B]
  at::Tensor t_next = S.state_timesteps(k_next).to(device);           // [B]
  // The scores divide x' − μ by σ² (1/σ² ≈ 2345 at SD's last step), so μ and x' − μ are formed in float64:
  // μ rounded to the latent dtype (|x|·2^-24 in fp32, |x|·2^-8 in bf16) would swamp S→_θ − η·S→_# there.
  at::Tensor x_next_d = x_next.to(at::kDouble);                        // [B, S...]
  at::Tensor x0_prev_d = tr.x0_prev.defined() ? tr.x0_prev.to(at::kDouble) : tr.x0_prev;
  at::Tensor std = S.step_std(kc, x_next_d);                           // [B] float64
  Conditioning c = P.conditioning(mb.cond);
  NablaDBTerms out;

  // (1) policy ε_θ: the forward score keeps θ's graph.
  at::Tensor eps_pol = guided_eps(*P.denoiser, x_in, t, c, Adapter::On);
  at::Tensor mean_pol = S.step_mean(kc, x.to(at::kDouble), eps_pol.to(at::kDouble), x0_prev_d);
  out.score_fwd_policy = forward_score(x_next_d, mean_pol, std).to(loss_dtype);
  out.l_R = s.lambda > 0 ? (eps_pol.to(loss_dtype) - tr.eps_old.to(loss_dtype)).pow(2).mean()
                         : at::zeros({}, x_next_l.options());
  // (2) predicted-reward gradient at the next state, through the guess model's x̂ (detached).
  {
    at::Tensor y = x_next.to(score_dtype, false, /*copy=*/true).set_requires_grad(true);  // [B, S...]
    at::Tensor eps_next = guided_eps_at(P, y.to(model_dtype), k_next, c, guess_adapter);
    out.G_next = predicted_reward_grad(P, y, cast(eps_next, score_dtype), k_next, prompts, s.beta, s.gamma_mode, false)
                     .to(loss_dtype);
  }
  // (3) the learned residual flow score g_φ.
  at::Tensor terminal = kc.eq(K - 1).to(loss_dtype).to(device);  // [B]
  std::vector<int64_t> row_shape(x.dim(), 1);
  row_shape[0] = x.size(0);
  at::Tensor non_terminal = (1 - terminal).view(row_shape);
  if (flow_) {
    at::Tensor cg = flow_context(mb);
    at::Tensor x_next_f = x_next.to(flow_dtype);
    out.g_next = flow_->forward(x_next_f, t_next, cg);
    out.g_next_target = flow_target(x_next_f, t_next, cg, out.g_next);
    if (reverse) out.g_cur = flow_->forward(x.detach().to(flow_dtype), t, cg);
  }
  // (4) pretrained reference ε_# (adapter off): forward score, and what the reverse condition pairs with
  // g_φ(x) + G(x), by a VJP through μ_# (its graph is kept when the guess at x reuses ε_#):
  //   sample:   S←_θ and S←_# at the stored x' (the release; S←_θ a constant, create_graph = false);
  //   expected: their means over x' ~ P_θ(·|x): E[S←_θ] = 0, E[S←_#] = J_μ#ᵀ(μ_θ − μ_#)/σ²;
  //   backup:   J_μ#ᵀ(g_φ + G)(x') (detached), the forward condition substituted into the reverse one.
  at::Tensor eps_ref;
  {
    at::AutoGradMode grad_mode(reverse);
    eps_ref = guided_eps(*P.denoiser, x_in, t, c, Adapter::Off);
    at::Tensor mean_ref = S.step_mean(kc, x.to(at::kDouble), eps_ref.to(at::kDouble), x0_prev_d);
    out.score_fwd_ref = forward_score(x_next_d, mean_ref.detach(), std).to(loss_dtype);
    const bool keep = guess_adapter == Adapter::Off;
    if (reverse) {
      switch (s.reverse_target) {
        case ReverseTarget::Sample:
          out.score_rev_ref = reverse_score(x, mean_ref, x_next_d, std, keep).to(loss_dtype);
          out.score_rev_policy = reverse_score(x, mean_pol, x_next_d, std, /*retain_graph=*/true).to(loss_dtype);
          break;
        case ReverseTarget::Expected:
          out.score_rev_ref = reverse_score(x, mean_ref, mean_pol.detach(), std, keep).to(loss_dtype);
          out.score_rev_policy = at::zeros_like(out.score_rev_ref);
          break;
        case ReverseTarget::Backup: {
          at::Tensor f_next = out.G_next + non_terminal * out.g_next_target;  // [B, S...] ∇log F̃(x') as learned
          out.score_rev_ref = mean_vjp(x, mean_ref, f_next, keep).to(loss_dtype);
          out.score_rev_policy = at::zeros_like(out.score_rev_ref);
          break;
        }
      }
    }
  }
  // (5) the predicted-reward gradient at the current state, reusing ε_θ's (or ε_#'s) graph.
  if (reverse)
    out.G_cur = predicted_reward_grad(P, x, (guess_adapter == Adapter::On ? eps_pol : eps_ref).to(score_dtype), kc,
                                      prompts, s.beta, s.gamma_mode, true)
                    .to(loss_dtype);
  // (6) residuals of the forward and reverse ∇-DB conditions (spec §3.2, §3.4).
  add_losses(out, kc, x_next_l);
  return out;
}

NablaDBTerms NablaDB::terms_folded(const TrajectoryBatch& mb, const at::Tensor& k,
                                   const std::vector<std::string>& prompts) {
  Problem& P = problem_;
  const Scheduler& S = *P.scheduler;
  const NablaDBSettings& s = settings_;
  const int64_t chunk = config_.train.reward_grad_chunk;
  const at::Device device = mb.x.device();
  at::Tensor kc = k.to(at::kCPU).to(at::kLong);
  at::Tensor k_next = kc + 1;
  TransitionRows tr = transition_rows(mb, kc);
  const at::ScalarType model_dtype = tr.x.scalar_type();
  const at::ScalarType score_dtype = score_dtype_for(s.score_precision, model_dtype);
  const at::ScalarType loss_dtype = at::promote_types(score_dtype, at::kFloat);
  const at::ScalarType flow_dtype = at::promote_types(model_dtype, at::kFloat);  // g_φ's input
  // Leaves in the score dtype hold the latents' values exactly (see terms()); the UNet reads them cast back.
  at::Tensor x = tr.x.detach().to(score_dtype, false, /*copy=*/true).set_requires_grad(true);       // [B, S...]
  at::Tensor y = tr.x_next.detach().to(score_dtype, false, /*copy=*/true).set_requires_grad(true);  // [B, S...]
  at::Tensor x_in = x.to(model_dtype);
  at::Tensor x_next_l = tr.x_next.to(loss_dtype);
  at::Tensor t = S.state_timesteps(kc).to(device);           // [B]
  at::Tensor t_next = S.state_timesteps(k_next).to(device);  // [B]
  at::Tensor x_next_d = tr.x_next.to(at::kDouble);           // [B, S...] (float64: see terms())
  at::Tensor x0_prev_d = tr.x0_prev.defined() ? tr.x0_prev.to(at::kDouble) : tr.x0_prev;
  at::Tensor std = S.step_std(kc, x_next_d);  // [B] float64
  std::vector<int64_t> row_shape(x.dim(), 1);
  row_shape[0] = x.size(0);
  auto guess_scale = [&](const at::Tensor& kk) {  // β·γ per row, [B, 1...] in the loss dtype
    return (s.beta * flow_gamma(S, kk, s.gamma_mode)).to(loss_dtype).to(device).view(row_shape);
  };
  Conditioning c = P.conditioning(mb.cond);
  NablaDBTerms out;
  // (a) G(x') through ε_θ(x'): the chunked reward gradient at x̂, then one VJP; the graph is freed after.
  // With merged_ the LoRA is in the projection weights for the forward and the VJP (no LoRA gradient here).
  {
    std::unique_ptr<MergedLoRA::Scope> merged_scope;
    if (merged_) {
      merged_->refresh();
      merged_scope = std::make_unique<MergedLoRA::Scope>(*merged_);
    }
    at::Tensor eps_next =
        guided_eps_at(P, y.to(model_dtype), k_next, c, merged_ ? Adapter::Off : Adapter::On);
    at::Tensor xh = eps_next.defined() ? S.predict_x0(k_next, y, eps_next.to(score_dtype)) : y;  // [B, S...]
    at::Tensor g = reward_grad_chunked(P, xh.detach(), prompts, chunk);
    at::Tensor gy = eps_next.defined() ? torch::autograd::grad({xh}, {y}, {g.to(xh.scalar_type())})[0] : g;
    out.G_next = gy.to(loss_dtype) * guess_scale(k_next);
  }
  // (b) ε_#(x): forward score and S←_#; the graph is freed by the VJP.
  {
    at::Tensor eps_ref = guided_eps(*P.denoiser, x_in, t, c, Adapter::Off);
    at::Tensor mean_ref = S.step_mean(kc, x.to(at::kDouble), eps_ref.to(at::kDouble), x0_prev_d);
    out.score_fwd_ref = forward_score(x_next_d, mean_ref.detach(), std).to(loss_dtype);
    out.score_rev_ref = reverse_score(x, mean_ref, x_next_d, std, /*retain_graph=*/false).to(loss_dtype);
  }
  // (c) ε_θ(x): forward score, ℓ_R, and η·S←_θ + G(x) as one VJP (cotangent η(x' − μ_θ)/σ² on μ_θ and
  // β·γ·∇r on x̂_θ(x)); the graph stays for the loss's backward.
  at::Tensor eps_pol = guided_eps(*P.denoiser, x_in, t, c, Adapter::On);
  at::Tensor mean_pol = S.step_mean(kc, x.to(at::kDouble), eps_pol.to(at::kDouble), x0_prev_d);
  out.score_fwd_policy = forward_score(x_next_d, mean_pol, std).to(loss_dtype);
  out.l_R = s.lambda > 0 ? (eps_pol.to(loss_dtype) - tr.eps_old.to(loss_dtype)).pow(2).mean()
                         : at::zeros({}, x_next_l.options());
  {
    at::Tensor xh = S.predict_x0(kc, x, eps_pol.to(score_dtype));  // [B, S...]
    at::Tensor g = reward_grad_chunked(P, xh.detach(), prompts, chunk);
    at::Tensor var = std.pow(2).view(row_shape);
    at::Tensor v_pol = s.eta * (x_next_d - mean_pol.detach()) / var;  // [B, S...] float64
    at::Tensor v_guess = (g.to(loss_dtype) * guess_scale(kc)).to(xh.scalar_type());
    out.rev_policy_guess = torch::autograd::grad({mean_pol, xh}, {x}, {v_pol, v_guess}, /*retain_graph=*/true)[0]
                               .to(loss_dtype);
  }
  at::Tensor cg = flow_context(mb);
  at::Tensor x_next_f = tr.x_next.to(flow_dtype);
  out.g_next = flow_->forward(x_next_f, t_next, cg);
  out.g_next_target = flow_target(x_next_f, t_next, cg, out.g_next);
  out.g_cur = flow_->forward(x.detach().to(flow_dtype), t, cg);
  add_losses(out, kc, x_next_l);
  return out;
}

void NablaDB::add_losses(NablaDBTerms& out, const at::Tensor& kc, const at::Tensor& x_next_l) const {
  const NablaDBSettings& s = settings_;
  const Scheduler& S = *problem_.scheduler;
  const bool reverse = s.w_B > 0 && flow_ != nullptr;
  const at::ScalarType loss_dtype = x_next_l.scalar_type();
  const at::Device device = x_next_l.device();
  at::Tensor terminal = kc.eq(S.n_steps() - 1).to(loss_dtype).to(device);  // [B]
  std::vector<int64_t> row_shape(x_next_l.dim(), 1);
  row_shape[0] = x_next_l.size(0);
  at::Tensor non_terminal = (1 - terminal).view(row_shape);
  at::Tensor resid_F = out.score_fwd_policy - s.eta * out.score_fwd_ref - out.G_next;
  if (flow_) resid_F = resid_F - non_terminal * (s.forward_trains_flow ? out.g_next : out.g_next_target);
  at::Tensor w_F = condition_weight(S, kc + 1, kc, row_shape, loss_dtype, device);  // [B, 1...]
  at::Tensor w_B = condition_weight(S, kc, kc, row_shape, loss_dtype, device);      // [B, 1...]
  out.l_F = (w_F * resid_F.pow(2)).mean();
  if (reverse) {
    // The separate path sums the terms in the release's order; the folded one has η·S←_θ + G(x) as one VJP.
    at::Tensor resid_B = out.G_cur.defined()
                             ? s.eta * out.score_rev_policy - s.eta * out.score_rev_ref + out.g_cur + out.G_cur
                             : out.rev_policy_guess - s.eta * out.score_rev_ref + out.g_cur;
    // The release masks the last transition's reverse condition (spec §3.4); x_{K−1} is not a final state,
    // so the condition holds there too and, kept, carries the terminal reward into g_φ.
    out.l_B = (w_B * (s.reverse_at_terminal ? resid_B : non_terminal * resid_B).pow(2)).mean();
  } else {
    out.l_B = at::zeros({}, x_next_l.options());
  }
  if (flow_) {
    at::Tensor per_row = out.g_next.pow(2).flatten(1).mean(1);  // [B]
    out.l_T = (terminal * per_row).sum() / (terminal.sum() + 1e-6);
  } else {
    out.l_T = at::zeros({}, x_next_l.options());
  }
  out.total = out.l_F + s.w_B * out.l_B + out.l_T + s.lambda * out.l_R;
}

at::Tensor NablaDB::condition_weight(const Scheduler& S, const at::Tensor& k_state, const at::Tensor& k,
                                     const std::vector<int64_t>& row_shape, at::ScalarType dtype,
                                     const at::Device& device) const {
  if (settings_.condition_weighting == ConditionWeighting::None)
    return at::ones({}, at::TensorOptions().dtype(dtype).device(device));
  // The mean is affine in ε with coefficient −κ_k, so the forward score moves by κ_k/σ_k² per unit of ε.
  at::Tensor kc = k.to(at::kCPU).to(at::kLong);
  at::Tensor kappa = at::empty({kc.size(0)}, at::kDouble);  // [B]
  for (int64_t b = 0; b < kc.size(0); ++b) kappa[b] = -S.coef_eps(static_cast<int>(kc[b].item<int64_t>()));
  at::Tensor eps_units = (S.step_std(kc, kappa).pow(2) / kappa).pow(2);  // [B]
  if (settings_.condition_weighting == ConditionWeighting::Noise) {
    // The final state is clean (1 − ᾱ = 0): its row takes the transition's own ε units instead of 0.
    at::Tensor ks = k_state.to(at::kCPU).to(at::kLong);
    eps_units = at::where(ks.eq(S.n_steps()), eps_units, 1 - S.state_alpha_bars(ks));
  }
  return eps_units.to(dtype).to(device).view(row_shape);
}

LossTerms NablaDB::accumulate(const TrajectoryBatch& mb, const StepInfo& info, double scale) {
  const int K = problem_.scheduler->n_steps();
  at::Tensor idx = sample_transitions(mb.size(), K, config_.train.timestep_fraction, config_.train.low_var_subsampling,
                                      info.gen);  // [B, J]
  std::vector<std::string> prompts = mb.prompts;
  if (config_.algorithm.quirk_stale_prompts && !last_sampled_prompts_.empty())
    for (size_t i = 0; i < prompts.size(); ++i) prompts[i] = last_sampled_prompts_[i % last_sampled_prompts_.size()];
  LossTerms sums = accumulate_transitions(idx, info, mb, scale, [&](const at::Tensor& k) {
    NablaDBTerms t = terms(mb, k, prompts);
    return TransitionLoss{t.total,
                          {{"l_F", t.l_F.item<double>()},
                           {"l_B", t.l_B.item<double>()},
                           {"l_T", t.l_T.item<double>()},
                           {"l_R", t.l_R.item<double>()}}};
  });
  return sums;
}

void NablaDB::begin_epoch(const TrajectoryBatch& buffer, const StepInfo&) {
  const size_t n = std::min<size_t>(buffer.prompts.size(), static_cast<size_t>(config_.sample.batch_size));
  last_sampled_prompts_.assign(buffer.prompts.end() - n, buffer.prompts.end());
}

std::vector<std::pair<std::string, at::Tensor>> NablaDB::state() {
  std::vector<std::pair<std::string, at::Tensor>> out;
  if (flow_)
    for (auto& [name, t] : flow_->named_state()) out.emplace_back("flow." + name, t);
  if (flow_average_)
    for (auto& [name, t] : flow_average_->named_state()) out.emplace_back("flow_ema." + name, t);
  return out;
}

void NablaDB::load_state(const TensorMap& state) {
  if (!flow_) return;
  TensorMap flow_state, average_state;
  for (const auto& [name, t] : state) {
    if (name.rfind("flow.", 0) == 0) flow_state[name.substr(5)] = t;
    if (name.rfind("flow_ema.", 0) == 0) average_state[name.substr(9)] = t;
  }
  flow_->load_state(flow_state);
  if (!flow_average_) return;
  // A checkpoint of a run without the average (flow_target_ema turned on at --resume): it starts at the
  // loaded weights, as a fresh run's starts at the initial ones.
  if (average_state.empty())
    flow_ema_->reset();
  else
    flow_average_->load_state(average_state);
}

void NablaDB::end_update() {
  if (flow_ema_) flow_ema_->update();
}

}  // namespace nablagfn
