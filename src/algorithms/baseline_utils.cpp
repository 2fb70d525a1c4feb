#include "algorithms/baseline_utils.h"

#include <ATen/ATen.h>

#include "core/error.h"
#include "models/guidance.h"

namespace nablagfn {

void require_gaussian_steps(const Scheduler& scheduler, const std::string& algorithm) {
  for (int k = 0; k < scheduler.n_steps(); ++k)
    require(scheduler.std_at(k) > 0,
            algorithm + " needs a stochastic sampler: step " + std::to_string(k) + " of " + scheduler.name() +
                " is deterministic (std 0)",
            "use sample.scheduler=ddim with sample.eta > 0, or dpmpp_sde with sample.dpmpp.final_sigmas=sigma_min");
}

at::Tensor baseline_row_view(const at::Tensor& v, const at::Tensor& like) {
  std::vector<int64_t> shape(like.dim(), 1);
  shape[0] = like.size(0);
  return v.to(like.device(), like.scalar_type()).view(shape);  // [B] -> [B, 1, ...]
}

at::Tensor baseline_step_mean(Problem& problem, const TransitionRows& tr, const at::Tensor& k, const Conditioning& c,
                              Adapter adapter, at::Tensor* eps) {
  const Scheduler& S = *problem.scheduler;
  at::Tensor t = S.state_timesteps(k).to(tr.x.device());  // [B]
  at::Tensor e = guided_eps(*problem.denoiser, tr.x, t, c, adapter);
  if (eps != nullptr) *eps = e;
  return S.step_mean(k, tr.x, e, tr.x0_prev);
}

at::Tensor target_alpha_bars(const Scheduler& scheduler, const at::Tensor& k) {
  at::Tensor kc = k.to(at::kCPU).to(at::kLong);
  at::Tensor out = at::empty({kc.size(0)}, at::kDouble);
  for (int64_t i = 0; i < kc.size(0); ++i)
    out[i] = scheduler.schedule().alpha_bar(scheduler.state_timestep(static_cast<int>(kc[i].item<int64_t>()) + 1));
  return out;
}

ScalarLogFlow::ScalarLogFlow(Problem& problem, const std::string& algorithm) {
  require(static_cast<bool>(problem.make_scalar_flow_net),
          algorithm + " needs a scalar flow network F_psi, which this problem does not provide",
          "the toy and Stable Diffusion provide one; a custom problem must set Problem::make_scalar_flow_net");
  net_ = problem.make_scalar_flow_net();
}

at::Tensor ScalarLogFlow::operator()(const at::Tensor& x, const at::Tensor& t, const at::Tensor& cond) {
  at::Tensor f = net_->forward(x, t, cond.defined() ? cond.to(x.scalar_type()) : cond);  // [B, 1]
  TORCH_CHECK(f.numel() == x.size(0), "scalar flow network must return one value per sample, got ", f.sizes());
  return f.reshape({-1}).to(x.scalar_type());  // [B, 1] -> [B]
}

ParamGroup ScalarLogFlow::parameter_group(const Config& config) {
  return ParamGroup{"flow", net_->parameters(), config.train.lr_flow, config.train.weight_decay_flow};
}

std::vector<std::pair<std::string, at::Tensor>> ScalarLogFlow::state() {
  std::vector<std::pair<std::string, at::Tensor>> out;
  for (auto& [name, t] : net_->named_state()) out.emplace_back("flow." + name, t);
  return out;
}

void ScalarLogFlow::load_state(const TensorMap& state) {
  TensorMap flow_state;
  for (const auto& [name, t] : state)
    if (name.rfind("flow.", 0) == 0) flow_state[name.substr(5)] = t;
  net_->load_state(flow_state);
}

}  // namespace nablagfn
