// Adjoint matching's lean adjoint (spec §7.6) in double precision on the toy problem: a_k must be the
// gradient of β·r(x_K) with respect to x_k along the pretrained chain that produced the trajectory, with
// the step noise held fixed. Checked against central finite differences, on the deterministic mean chain
// x_{k+1} = μ#(x_k) and on a stochastic pretrained rollout (noise z_k = (x_{k+1} − μ#(x_k))/σ_k recovered
// from the stored states).
#include <ATen/ATen.h>
#include <ATen/core/grad_mode.h>
#include <gtest/gtest.h>

#include "algorithms/adjoint_matching.h"
#include "problems/toy2d.h"

using namespace nablagfn;

namespace {
Config adjoint_config() {
  Config c;
  c.model.kind = "toy2d";
  c.model.dtype = ModelDType::Float64;
  c.model.toy.hidden = 16;
  c.model.toy.layers = 2;
  c.reward.name = "quadratic";  // a state-dependent ∇r
  c.reward.quadratic.center = {3.0, 1.0};
  c.reward.quadratic.scale = 6.0;
  c.algorithm.name = "adjoint_matching";
  c.algorithm.beta = 0.7;
  c.sample.guidance_scale = 1.0;
  c.sample.n_steps = 8;
  return c;
}

// β·r(x) of the config's quadratic reward, written out independently of the reward class.
at::Tensor beta_reward(const Config& c, const at::Tensor& x) {
  at::Tensor center = at::tensor(c.reward.quadratic.center, at::kDouble).view({1, -1});
  return c.algorithm.beta * (-(x - center).pow(2).sum(1) / c.reward.quadratic.scale);  // [B, 2] -> [B]
}

// μ#(x) of step k for every row.
at::Tensor pretrained_mean(Problem& P, const at::Tensor& x, int k) {
  at::NoGradGuard no_grad;
  const Scheduler& S = *P.scheduler;
  at::Tensor kk = at::full({x.size(0)}, k, at::kLong);
  return S.step_mean(kk, x, P.denoiser->eps(x, S.state_timesteps(kk), {}, Adapter::Off));
}

// x_{j+1} = μ#(x_j) + σ_j·z_j for j = k … K−1 from y = x_k; z [B, K, 2] (zeros: the mean chain).
at::Tensor pretrained_chain(Problem& P, const at::Tensor& y, int k, const at::Tensor& z) {
  at::Tensor x = y;
  for (int j = k; j < P.scheduler->n_steps(); ++j)
    x = pretrained_mean(P, x, j) + P.scheduler->std_at(j) * z.select(1, j);
  return x;
}

// Max over k and rows of |a_k − FD of β·r(chain(x_k))| / max |a_k|.
double adjoint_fd_error(Problem& P, const Config& c, const TrajectoryBatch& mb, const at::Tensor& z) {
  at::Tensor a = lean_adjoint(P, mb, c.algorithm.beta, 0);  // [B, K+1, 2]
  const int K = P.scheduler->n_steps();
  const double h = 1e-6;
  double worst = 0.0;
  for (int k : {0, 3, K - 1, K}) {
    at::Tensor x = mb.x.select(1, k);
    for (int d = 0; d < 2; ++d) {
      at::Tensor e = at::zeros_like(x);
      e.select(1, d).fill_(h);
      at::Tensor fd =
          (beta_reward(c, pretrained_chain(P, x + e, k, z)) - beta_reward(c, pretrained_chain(P, x - e, k, z))) /
          (2 * h);  // [B]
      at::Tensor ak = a.select(1, k).select(1, d);
      worst = std::max(worst, (ak - fd).abs().max().item<double>() / a.select(1, k).abs().max().item<double>());
    }
  }
  return worst;
}

struct AdjointFixture {
  Config config = adjoint_config();
  Toy2D toy = make_toy2d(config, at::kDouble);
  at::Generator gen = at::detail::createCPUGenerator(11);
  at::Tensor x0 = 1.5 * at::randn({3, 2}, gen, at::TensorOptions().dtype(at::kDouble));
};
}  // namespace

TEST(Adjoint, LeanAdjointIsTheGradientAlongThePretrainedMeanChain) {
  AdjointFixture f;
  Problem& P = f.toy.problem;
  const int K = P.scheduler->n_steps();
  at::Tensor z = at::zeros({3, K, 2}, at::kDouble);
  std::vector<at::Tensor> xs{f.x0};
  for (int k = 0; k < K; ++k) xs.push_back(pretrained_mean(P, xs.back(), k));
  TrajectoryBatch mb;
  mb.prompts = {"", "", ""};
  mb.x = at::stack(xs, 1);  // K+1 x [3, 2] -> [3, K+1, 2]
  EXPECT_LT(adjoint_fd_error(P, f.config, mb, z), 1e-6);
}

TEST(Adjoint, LeanAdjointIsThePathwiseGradientOfAStochasticPretrainedRollout) {
  AdjointFixture f;
  Problem& P = f.toy.problem;
  const Scheduler& S = *P.scheduler;
  const int K = S.n_steps();
  TrajectoryBatch mb = rollout(P, f.x0, {"", "", ""}, f.gen, RolloutOptions{}, Adapter::Off);
  // The step noises that produced the stored states, held fixed in the finite differences.
  std::vector<at::Tensor> zs;
  for (int k = 0; k < K; ++k)
    zs.push_back((mb.x.select(1, k + 1) - pretrained_mean(P, mb.x.select(1, k), k)) / S.std_at(k));
  at::Tensor z = at::stack(zs, 1);  // K x [3, 2] -> [3, K, 2]
  EXPECT_GT(z.abs().max().item<double>(), 0.1);
  EXPECT_LT(adjoint_fd_error(P, f.config, mb, z), 1e-6);
}

TEST(Adjoint, AdjointBelowTheEarliestRequestedStepIsZero) {
  AdjointFixture f;
  TrajectoryBatch mb = rollout(f.toy.problem, f.x0, {"", "", ""}, f.gen, RolloutOptions{}, Adapter::Off);
  at::Tensor a = lean_adjoint(f.toy.problem, mb, f.config.algorithm.beta, 5);
  EXPECT_EQ(a.narrow(1, 0, 5).abs().max().item<double>(), 0.0);
  EXPECT_GT(a.select(1, 5).abs().min().item<double>(), 0.0);
}
