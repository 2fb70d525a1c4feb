// The best tv_modes a Gaussian policy can reach on the toy (issue 2), for each reward, without training:
// - exact_eps: the DDIM-50 chain driven by the exact ε of the tilted target (the floor, 0.006);
// - mean_matching: the fixed point of ∇-DB's forward condition with the exact flow. Each step's policy is
//   N(μ_# + s, σ²) with s = σ²·E_{x'~N(μ_#+s, σ²)}[∇log F̃(x')], solved by fixed-point iterations over
//   Monte-Carlo draws of x'. The tilted transition's mean is σ²·E_{P*}[∇log F̃(x')] (Stein's identity), so
//   the two differ only where P* is not the Gaussian itself: this is the floor of ∇-DB with a fixed-σ
//   Gaussian policy and a perfect flow.
// ∇log F̃(x) = −(ε_target − ε_prior)(x)/√(1−ᾱ) for a noisy state and β·∇r(x) for the final one.
//   ./bench_toy_floor [n_samples=8192] [mc_draws=16]
#include <ATen/ATen.h>
#include <ATen/core/grad_mode.h>
#include <torch/csrc/autograd/autograd.h>

#include <cstdio>
#include <cstdlib>

#include "metrics/mode_mass.h"
#include "problems/toy2d.h"

using namespace nablagfn;

namespace {
at::Tensor flow_score(Toy2D& toy, const at::Tensor& x, const at::Tensor& k, double beta) {
  const Scheduler& S = *toy.problem.scheduler;
  if (k[0].item<int64_t>() == S.n_steps()) {
    at::AutoGradMode on(true);
    at::Tensor y = x.detach().clone().set_requires_grad(true);
    at::Tensor r = toy.problem.reward->score(y, {}).sum();
    return beta * torch::autograd::grad({r}, {y})[0].to(at::kDouble);
  }
  at::Tensor ab = S.state_alpha_bars(k);  // [N]
  return -(toy.target.eps(x, ab) - toy.prior.eps(x, ab)) / at::sqrt(1 - ab).view({-1, 1});
}

void run(const char* reward, int64_t n, int64_t m) {
  Config c;
  c.model.kind = "toy2d";
  c.reward.name = reward;
  c.algorithm.beta = 1.0;
  c.sample.guidance_scale = 1.0;
  Toy2D toy = make_toy2d(c, at::kDouble);
  const Scheduler& S = *toy.problem.scheduler;
  at::Generator gen = at::detail::createCPUGenerator(11);
  at::Tensor x = at::randn({n, 2}, gen, at::TensorOptions().dtype(at::kDouble));  // [N, 2]
  at::Tensor x_exact = x.clone();
  for (int step = 0; step < S.n_steps(); ++step) {
    at::Tensor k = at::full({n}, step, at::kLong);
    at::Tensor ab = S.state_alpha_bars(k);
    at::Tensor mean = S.step_mean(k, x, toy.prior.eps(x, ab));
    const double sd = S.step_std(k, x)[0].item<double>();
    at::Tensor shift = at::zeros_like(mean);
    at::Tensor k_next = at::full({n * m}, step + 1, at::kLong);
    for (int it = 0; it < 4; ++it) {
      at::Tensor z = at::randn({n, m, 2}, gen, x.options());
      at::Tensor x_next = ((mean + shift).unsqueeze(1) + sd * z).reshape({n * m, 2});  // [N·M, 2]
      shift = sd * sd * flow_score(toy, x_next, k_next, 1.0).reshape({n, m, 2}).mean(1);
    }
    at::Tensor z = at::randn({n, 2}, gen, x.options());
    x = mean + shift + sd * z;
    x_exact = S.step_mean(k, x_exact, toy.target.eps(x_exact, ab)) + sd * z;
  }
  const at::Tensor means = toy.prior.means(), stds = toy.prior.stds(), target = with_off_bin(toy.target.weights());
  std::printf("toy_floor reward=%-9s n=%lld mc=%lld  exact_eps tv_modes %.4f  mean_matching tv_modes %.4f\n", reward,
              static_cast<long long>(n), static_cast<long long>(m),
              total_variation(mode_masses(x_exact, means, stds), target),
              total_variation(mode_masses(x, means, stds), target));
}
}  // namespace

int main(int argc, char** argv) {
  const int64_t n = argc > 1 ? std::atoll(argv[1]) : 8192;
  const int64_t m = argc > 2 ? std::atoll(argv[2]) : 16;
  for (const char* reward : {"linear", "quadratic"}) run(reward, n, m);
  return 0;
}
