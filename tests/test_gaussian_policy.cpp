// Gaussian policy step (spec §2.3) in float64: log-prob closed form, forward score against autograd,
// reverse score (a VJP through a nonlinear mean) against central finite differences, retain_graph.
#include <gtest/gtest.h>

#include <cmath>

#include <ATen/ATen.h>
#include <torch/csrc/autograd/autograd.h>

#include "schedulers/gaussian_policy.h"
#include "schedulers/scheduler.h"
#include "test_util.h"

using namespace nablagfn;

namespace {

const at::TensorOptions kF64 = at::TensorOptions().dtype(at::kDouble);

// A small nonlinear DDIM-η=1 step: ε = tanh(W·x) on the flattened state, rows at steps k.
struct NonlinearStep {
  DDIMScheduler ddim{NoiseSchedule(), 50, 1.0, 1};
  at::Tensor W;  // [D, D]
  at::Tensor k;  // [B] int64

  NonlinearStep() {
    at::manual_seed(3);
    W = 0.7 * at::randn({12, 12}, kF64);
    k = at::tensor(std::vector<int64_t>{10, 48}, at::kLong);
  }
  at::Tensor mean(const at::Tensor& x) const {  // x [B, 3, 2, 2]
    at::Tensor eps = at::tanh(at::matmul(x.flatten(1), W.t())).view_as(x);  // [B, 12] -> [B, 3, 2, 2]
    return ddim.step_mean(k, x, eps);
  }
  at::Tensor std(const at::Tensor& like) const { return ddim.step_std(k, like); }  // [B]
};

// Σ over elements of log N(x_next; mean, std²) per row, [B]: the averaged log-prob times the element count.
at::Tensor summed_log_density(const at::Tensor& x_next, const at::Tensor& mean, const at::Tensor& std) {
  return gaussian_log_prob(x_next, mean, std) * static_cast<double>(x_next[0].numel());
}

}  // namespace

TEST(GaussianPolicy, LogProbIsClosedFormAverage) {
  at::manual_seed(0);
  at::Tensor mean = at::randn({3, 2, 4, 4}, kF64);
  at::Tensor std = at::tensor(std::vector<double>{0.5, 0.03, 1.7}, kF64);
  at::Tensor z = at::randn({3, 2, 4, 4}, kF64);
  at::Tensor x_next = mean + std.view({3, 1, 1, 1}) * z;
  at::Tensor lp = gaussian_log_prob(x_next, mean, std);  // [B]
  at::Tensor expected = (-0.5 * z.pow(2)).flatten(1).mean(1) - at::log(std) - 0.5 * std::log(2 * M_PI);  // [B]
  ASSERT_EQ(lp.sizes(), expected.sizes());
  EXPECT_CLOSE(lp, expected, 1e-12);
}

TEST(GaussianPolicy, ForwardScoreIsAutogradOfSummedLogDensity) {
  at::manual_seed(1);
  at::Tensor mean = at::randn({2, 3, 4}, kF64);
  at::Tensor std = at::tensor(std::vector<double>{0.2, 0.9}, kF64);
  at::Tensor x_next = (mean + std.view({2, 1, 1}) * at::randn({2, 3, 4}, kF64)).requires_grad_(true);
  // gaussian_log_prob detaches x_next by contract, so the density is written out here.
  at::Tensor s = std.view({2, 1, 1});
  at::Tensor log_density = (-(x_next - mean).pow(2) / (2 * s * s) - at::log(s) - 0.5 * std::log(2 * M_PI)).sum();
  at::Tensor autograd_score = torch::autograd::grad({log_density}, {x_next})[0];
  EXPECT_CLOSE(forward_score(x_next, mean, std), autograd_score, 1e-12);
  // The same density through gaussian_log_prob.
  EXPECT_NEAR(summed_log_density(x_next, mean, std).sum().item<double>(), log_density.item<double>(), 1e-10);
}

TEST(GaussianPolicy, ReverseScoreMatchesFiniteDifferences) {
  NonlinearStep step;
  at::manual_seed(2);
  at::Tensor x = at::randn({2, 3, 2, 2}, kF64);
  at::Tensor std = step.std(x);
  ASSERT_GT(std.min().item<double>(), 0.0);
  at::Tensor x_next = (step.mean(x) + std.view({2, 1, 1, 1}) * at::randn({2, 3, 2, 2}, kF64)).detach();

  at::Tensor xg = x.clone().requires_grad_(true);
  at::Tensor score = reverse_score(xg, step.mean(xg), x_next, std, false);  // [2, 3, 2, 2]

  // Central differences of Σ log N(x_next; μ(x), σ²) per row w.r.t. each element of x.
  const double h = 1e-5;
  at::Tensor fd = at::zeros_like(x);
  at::Tensor flat = fd.view({2, -1});
  for (int64_t i = 0; i < flat.size(1); ++i) {
    at::Tensor xp = x.clone(), xm = x.clone();
    xp.view({2, -1}).select(1, i).add_(h);
    xm.view({2, -1}).select(1, i).sub_(h);
    at::Tensor diff = summed_log_density(x_next, step.mean(xp), std) - summed_log_density(x_next, step.mean(xm), std);
    flat.select(1, i).copy_(diff / (2 * h));  // row b's density depends only on row b of x
  }
  EXPECT_LT(test::rel_err(score, fd), 1e-6);
  EXPECT_GT(score.abs().max().item<double>(), 1.0);  // k = 48 has 1/σ² ≈ 640: a non-trivial check
}

TEST(GaussianPolicy, RetainGraphKeepsMeanGraphUsable) {
  NonlinearStep step;
  at::manual_seed(4);
  at::Tensor x = at::randn({2, 3, 2, 2}, kF64).requires_grad_(true);
  at::Tensor std = step.std(x);
  at::Tensor x_next = (step.mean(x) + 0.1).detach();

  at::Tensor mean = step.mean(x);
  at::Tensor first = reverse_score(x, mean, x_next, std, true);
  // The graph is still alive: a second VJP gives the same score, and a later backward works.
  at::Tensor second = reverse_score(x, mean, x_next, std, true);
  EXPECT_TRUE(at::equal(first, second));
  mean.sum().backward();
  ASSERT_TRUE(x.grad().defined());
  EXPECT_GT(x.grad().abs().sum().item<double>(), 0.0);
  EXPECT_FALSE(first.requires_grad());  // create_graph = false

  // Without retain_graph the graph is freed: using it again fails.
  at::Tensor mean2 = step.mean(x);
  reverse_score(x, mean2, x_next, std, false);
  EXPECT_ANY_THROW(mean2.sum().backward());
}
