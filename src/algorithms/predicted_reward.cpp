#include "algorithms/predicted_reward.h"

#include <ATen/ATen.h>
#include <algorithm>
#include <stdexcept>
#include <torch/csrc/autograd/autograd.h>

namespace nablagfn {

at::Tensor flow_gamma(const Scheduler& scheduler, const at::Tensor& k, GammaMode gamma_mode) {
  at::Tensor ab = scheduler.state_alpha_bars(k);  // [B] float64
  switch (gamma_mode) {
    case GammaMode::Squared: return ab;
    case GammaMode::Sqrt: return at::sqrt(ab);
    case GammaMode::None: return at::ones_like(ab);  // the guess at full strength at every noise level
  }
  throw std::logic_error("flow_gamma: gamma_mode out of range");
}

at::Tensor guided_eps_at(Problem& problem, const at::Tensor& x, const at::Tensor& k, const Conditioning& c,
                         Adapter adapter) {
  const int K = problem.scheduler->n_steps();
  if (k.to(at::kCPU).eq(K).all().item<bool>()) return at::Tensor();
  return guided_eps(*problem.denoiser, x, problem.scheduler->state_timesteps(k).to(x.device()), c, adapter);
}

at::Tensor predicted_reward_grad(Problem& problem, const at::Tensor& x, const at::Tensor& eps, const at::Tensor& k,
                                 const std::vector<std::string>& prompts, double beta, GammaMode gamma_mode,
                                 bool retain_graph, at::Tensor* reward) {
  TORCH_CHECK(x.requires_grad(), "predicted_reward_grad: x must require grad");
  at::Tensor x0_hat = eps.defined() ? problem.scheduler->predict_x0(k, x, eps) : x;
  at::Tensor r = problem.reward_of(x0_hat, prompts);  // [B] float32
  auto grads = torch::autograd::grad({r.sum()}, {x}, {}, retain_graph, /*create_graph=*/false);
  if (reward != nullptr) *reward = r.detach();
  std::vector<int64_t> shape(x.dim(), 1);
  shape[0] = x.size(0);
  const at::ScalarType dtype = at::promote_types(x.scalar_type(), at::kFloat);
  at::Tensor scale = (beta * flow_gamma(*problem.scheduler, k, gamma_mode)).to(dtype).to(x.device()).view(shape);
  return (grads[0].to(dtype) * scale).detach();
}

at::Tensor reward_grad_chunked(Problem& problem, const at::Tensor& x0_hat, const std::vector<std::string>& prompts,
                               int64_t chunk, at::Tensor* reward) {
  const int64_t n = x0_hat.size(0);
  const int64_t step = chunk > 0 ? std::min(chunk, n) : n;
  std::vector<at::Tensor> grads, rewards;
  for (int64_t b = 0; b < n; b += step) {
    const int64_t e = std::min(n, b + step);
    at::Tensor leaf = x0_hat.slice(0, b, e).detach().requires_grad_(true);  // [e − b, S...]
    std::vector<std::string> p(prompts.begin() + b, prompts.begin() + e);
    at::Tensor r = problem.reward_of(leaf, p);  // [e − b]
    grads.push_back(torch::autograd::grad({r.sum()}, {leaf})[0]);
    rewards.push_back(r.detach());
  }
  if (reward != nullptr) *reward = at::cat(rewards);
  return grads.size() == 1 ? grads[0] : at::cat(grads);  // [N, S...]
}

}  // namespace nablagfn
