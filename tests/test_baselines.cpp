// Smoke tests of the baselines of spec §7 on a small toy problem (float64, 10 steps, 8 trajectories):
// three updates of each run and give finite losses close to pinned values; a short overfit raises the
// mean reward of the gradient methods; a few properties every baseline must have at the first update
// (the policy starts as the pretrained model); every baseline's loss against its formula written out here
// in float64 from the stored trajectories and the scheduler's primitives (random policy and flow weights,
// every transition trained, the algorithm's random draws replayed from a copy of its generator); the
// errors for unsupported settings.
#include <ATen/ATen.h>
#include <ATen/Parallel.h>
#include <gtest/gtest.h>
#include <torch/torch.h>

#include <functional>

#include "algorithms/algorithm.h"
#include "algorithms/dag_db.h"
#include "core/error.h"
#include "models/guidance.h"
#include "problems/toy2d.h"
#include "schedulers/gaussian_policy.h"

using namespace nablagfn;

namespace {
// Tiny tensors: one thread avoids OpenMP overhead on a shared CPU.
class OneThread : public ::testing::Environment {
 public:
  void SetUp() override { at::set_num_threads(1); }
};
const auto* const kOneThread = ::testing::AddGlobalTestEnvironment(new OneThread);

Config smoke_config(const std::string& algorithm) {
  Config c;
  c.model.kind = "toy2d";
  c.model.dtype = ModelDType::Float64;
  c.model.toy.hidden = 16;
  c.model.toy.layers = 2;
  c.reward.name = "linear";
  c.algorithm.name = algorithm;
  c.algorithm.beta = 1.0;
  c.algorithm.output_reg = 1.0;
  c.algorithm.draft.k = 2;
  c.algorithm.ddpo.min_count = 4;
  c.sample.guidance_scale = 1.0;
  c.sample.n_steps = 10;
  c.sample.batch_size = 8;
  c.train.batch_size = 4;
  c.train.grad_accum_steps = 2;
  c.train.timestep_fraction = 0.2;
  c.train.lr = 1e-2;
  return c;
}

// The toy with its MLPs initialised from a fixed seed.
Toy2D seeded_toy(const Config& c) {
  at::manual_seed(3);
  return make_toy2d(c, at::kDouble);
}

// A problem, its algorithm and an AdamW over the policy and the algorithm's networks.
struct BaselineRun {
  Config config;
  Toy2D toy;
  std::unique_ptr<Algorithm> algo;
  std::unique_ptr<torch::optim::AdamW> opt;
  at::Generator gen = at::detail::createCPUGenerator(7);
  int epoch = 0;

  explicit BaselineRun(const Config& c) : config(c), toy(seeded_toy(config)) {
    algo = algorithm_registry().create(config.algorithm.name, toy.problem, config);
    std::vector<torch::optim::OptimizerParamGroup> groups;
    groups.emplace_back(toy.problem.denoiser->trainable_parameters(),
                        std::make_unique<torch::optim::AdamWOptions>(config.train.lr));
    for (auto& g : algo->extra_parameter_groups())
      groups.emplace_back(g.params, std::make_unique<torch::optim::AdamWOptions>(g.lr));
    opt = std::make_unique<torch::optim::AdamW>(groups, torch::optim::AdamWOptions(config.train.lr));
  }

  TrajectoryBatch sample(int64_t n, at::Generator g) {
    at::Tensor x0 = at::randn({n, 2}, g, at::TensorOptions().dtype(at::kDouble));
    return rollout(toy.problem, x0, std::vector<std::string>(n, ""), g, algo->rollout_options());
  }

  // One epoch: sample, begin_epoch, one update of grad_accum_steps micro-batches. Returns its terms.
  LossTerms update() {
    TrajectoryBatch data = sample(config.sample.batch_size, gen);
    StepInfo info{epoch, 20, epoch, gen, gen};
    algo->begin_epoch(data, info);
    opt->zero_grad();
    LossTerms sums;
    const int64_t b = config.train.batch_size;
    for (int a = 0; a < config.train.grad_accum_steps; ++a) {
      LossTerms t = algo->accumulate(data.select(at::arange(a * b, (a + 1) * b, at::kLong)), info,
                                     1.0 / config.train.grad_accum_steps);
      for (const auto& [k, v] : t) sums[k] += v / config.train.grad_accum_steps;
    }
    opt->step();
    ++epoch;
    return sums;
  }

  // Mean reward of 256 samples from fixed noise.
  double mean_reward() {
    at::Generator g = at::detail::createCPUGenerator(99);
    at::Tensor x0 = at::randn({256, 2}, g, at::TensorOptions().dtype(at::kDouble));
    at::Tensor x = sample_final(toy.problem, x0, std::vector<std::string>(256, ""), g);
    return toy.problem.reward->score(x, {}).mean().item<double>();
  }
};

// Losses of the first three updates, pinned from this implementation (float64, fixed seeds).
const std::map<std::string, std::vector<double>> kPinnedLosses = {
    {"refl", {0.001581972096, 0.001852466549, 0.001712240868}},
    {"draft", {-0.5823884278, -0.01596522526, 0.3692803484}},
    {"draft_lv", {-1.172894625, -0.4302371793, -0.2923913443}},
    {"ddpo", {7.450580597e-09, 0.394346565, 0.07896271348}},
    {"dag_db", {0.2564143493, 0.3409365293, 0.118450743}},
    {"residual_db", {0.03795100342, 0.02599244638, 0.01694956729}},
    {"adjoint_matching", {0.1763459795, 0.1439131703, 0.3023690616}},
};
}  // namespace

TEST(Baselines, ThreeUpdatesGiveFinitePinnedLosses) {
  for (const auto& [name, pinned] : kPinnedLosses) {
    BaselineRun run(smoke_config(name));
    for (int u = 0; u < 3; ++u) {
      LossTerms t = run.update();
      ASSERT_TRUE(t.count("loss")) << name;
      for (const auto& [k, v] : t) EXPECT_TRUE(std::isfinite(v)) << name << " " << k;
      EXPECT_NEAR(t["loss"], pinned[u], 1e-6 + 1e-4 * std::abs(pinned[u])) << name << " update " << u;
    }
  }
}

TEST(Baselines, OverfitRaisesTheMeanRewardOfGradientMethods) {
  for (const std::string name : {"refl", "draft", "draft_lv", "adjoint_matching"}) {
    Config c = smoke_config(name);
    c.algorithm.refl.target = 10.0;  // keep ReFL's hinge active
    c.algorithm.refl.loss_scale = 1.0;
    BaselineRun run(c);
    const double before = run.mean_reward();
    for (int u = 0; u < 20; ++u) run.update();
    const double after = run.mean_reward();
    EXPECT_GT(after, before + 0.1) << name;
  }
}

TEST(Baselines, FirstUpdateStartsFromThePretrainedPolicy) {
  // On-policy DDPO: every ratio is 1, so nothing is clipped and the KL estimate is 0.
  LossTerms ddpo = BaselineRun(smoke_config("ddpo")).update();
  EXPECT_NEAR(ddpo["approx_kl"], 0.0, 1e-20);
  EXPECT_EQ(ddpo["clipfrac"], 0.0);
  // Residual DB: θ = # makes the log-ratio of every transition vanish; ε_θ = ε_old makes ℓ_R vanish.
  LossTerms rdb = BaselineRun(smoke_config("residual_db")).update();
  EXPECT_NEAR(rdb["log_ratio"], 0.0, 1e-12);
  EXPECT_NEAR(rdb["l_R"], 0.0, 1e-20);
  // DAG-DB anneals β from 0 at epoch 0.
  LossTerms dag = BaselineRun(smoke_config("dag_db")).update();
  EXPECT_EQ(dag["beta"], 0.0);
}

namespace {
// Random non-zero weights (the zero-initialised outputs would hide terms).
void randomise_weights(const std::vector<at::Tensor>& params, int64_t seed) {
  at::NoGradGuard no_grad;
  at::Generator gen = at::detail::createCPUGenerator(seed);
  for (const auto& p : params) p.copy_(0.2 * at::randn(p.sizes(), gen, p.options()));
}

// A copy of the algorithm's scalar flow network F_ψ (from its checkpoint state).
std::shared_ptr<FlowNet> flow_copy(Problem& P, Algorithm& algo) {
  std::shared_ptr<FlowNet> net = P.make_scalar_flow_net();
  TensorMap state;
  for (const auto& [name, t] : algo.state()) state[name.substr(5)] = t;  // drop "flow."
  net->load_state(state);
  return net;
}

// The mean over all K transitions of a DB-type loss, from the per-transition residual written out in
// `residual(k, x, x_next, eps)` (x = x_k [B, 2], eps = ε_θ(x_k)) plus λ·mean((ε_θ − ε_old)²).
template <class Residual>
double all_transitions_loss(Problem& P, const TrajectoryBatch& mb, double lambda, Residual&& residual) {
  at::NoGradGuard no_grad;
  const Scheduler& S = *P.scheduler;
  double total = 0.0;
  for (int k = 0; k < S.n_steps(); ++k) {
    at::Tensor kk = at::full({mb.size()}, k, at::kLong);
    at::Tensor x = mb.x.select(1, k), x_next = mb.x.select(1, k + 1);
    at::Tensor eps = P.denoiser->eps(x, S.state_timesteps(kk), {}, Adapter::On);
    at::Tensor db = residual(k, x, x_next, eps);  // [B]
    total += db.pow(2).mean().item<double>() + lambda * (eps - mb.eps_old.select(1, k)).pow(2).mean().item<double>();
  }
  return total / S.n_steps();
}

struct FormulaCase {
  Config config;
  Toy2D toy;
  std::unique_ptr<Algorithm> algo;
  TrajectoryBatch mb;
  std::shared_ptr<FlowNet> flow;

  explicit FormulaCase(const std::string& name) : config(smoke_config(name)), toy(seeded_toy(config)) {
    config.train.timestep_fraction = 1.0;  // every transition, so the loss does not depend on the draw
    config.algorithm.dag_db.beta_anneal = 0.0;
    config.algorithm.beta = 1.5;
    config.algorithm.gamma_mode = GammaMode::Sqrt;
    algo = algorithm_registry().create(name, toy.problem, config);
    randomise_weights(toy.problem.denoiser->trainable_parameters(), 5);
    if (!algo->extra_parameter_groups().empty()) {  // DB-type methods: the scalar flow network
      randomise_weights(algo->extra_parameter_groups().at(0).params, 6);
      flow = flow_copy(toy.problem, *algo);
    }
    at::Generator gen = at::detail::createCPUGenerator(8);
    at::Tensor x0 = at::randn({4, 2}, gen, at::TensorOptions().dtype(at::kDouble));
    mb = rollout(toy.problem, x0, {"", "", "", ""}, gen, algo->rollout_options());
    if (mb.eps_old.defined()) mb.eps_old = mb.eps_old + 0.05;  // a non-zero ℓ_R
  }
  at::Tensor F(const at::Tensor& x, int k) {
    return flow->forward(x, at::full({x.size(0)}, toy.problem.scheduler->state_timestep(k), at::kLong), {}).view({-1});
  }
  at::Tensor r(const at::Tensor& x) { return toy.problem.reward->score(x, {}).to(at::kDouble); }
  // The generator accumulate() draws from; a copy replays its draws.
  static at::Generator step_gen() { return at::detail::createCPUGenerator(9); }
  double loss() {
    at::Generator gen = step_gen();
    StepInfo info{0, 10, 0, gen, gen};
    algo->begin_epoch(mb, info);
    return algo->accumulate(mb, info, 1.0)["loss"];
  }
};
}  // namespace

TEST(Baselines, DAGDBLossMatchesItsFormula) {
  FormulaCase f("dag_db");
  Problem& P = f.toy.problem;
  const Scheduler& S = *P.scheduler;
  const int K = S.n_steps();
  const double beta = f.config.algorithm.beta;
  double expected = all_transitions_loss(
      P, f.mb, f.config.algorithm.output_reg,
      [&](int k, const at::Tensor& x, const at::Tensor& x_next, const at::Tensor& eps) {
        at::Tensor kk = at::full({x.size(0)}, k, at::kLong), k1 = kk + 1;
        at::Tensor log_pf = gaussian_log_prob(x_next, S.step_mean(kk, x, eps), S.step_std(kk, x));
        // P_B = N(√(ᾱ_τ/ᾱ_τ')·x', (1 − ᾱ_τ/ᾱ_τ')·I), ᾱ_τ' of the next level (τ = 0 after the last step).
        const double a = S.state_alpha_bar(k) / S.schedule().alpha_bar(S.state_timestep(k + 1));
        at::Tensor log_pb =
            gaussian_log_prob(x, std::sqrt(a) * x_next, at::full({x.size(0)}, std::sqrt(1 - a), at::kDouble));
        at::Tensor log_f = f.F(x, k) + beta * f.r(S.predict_x0(kk, x, eps));
        at::Tensor log_f_next =
            k + 1 == K ? beta * f.mb.reward.to(at::kDouble)
                       : f.F(x_next, k + 1) +
                             beta * f.r(S.predict_x0(k1, x_next,
                                                     P.denoiser->eps(x_next, S.state_timesteps(k1), {}, Adapter::On)));
        return log_f + log_pf - log_pb - log_f_next;
      });
  EXPECT_NEAR(f.loss(), expected, 1e-10 * std::max(1.0, std::abs(expected)));
}

TEST(Baselines, ResidualDBLossMatchesItsFormula) {
  FormulaCase f("residual_db");
  Problem& P = f.toy.problem;
  const Scheduler& S = *P.scheduler;
  const int K = S.n_steps();
  const double beta = f.config.algorithm.beta;
  double expected = all_transitions_loss(
      P, f.mb, f.config.algorithm.output_reg,
      [&](int k, const at::Tensor& x, const at::Tensor& x_next, const at::Tensor& eps) {
        at::Tensor kk = at::full({x.size(0)}, k, at::kLong), k1 = kk + 1;
        // Exact log-probs: summed over the 2 elements.
        at::Tensor std = S.step_std(kk, x);
        at::Tensor eps_ref = P.denoiser->eps(x, S.state_timesteps(kk), {}, Adapter::Off);
        at::Tensor log_ratio = 2 * (gaussian_log_prob(x_next, S.step_mean(kk, x, eps), std) -
                                    gaussian_log_prob(x_next, S.step_mean(kk, x, eps_ref), std));
        // γ = √ᾱ (gamma_mode sqrt).
        at::Tensor log_f = f.F(x, k) + beta * std::sqrt(S.state_alpha_bar(k)) * f.r(S.predict_x0(kk, x, eps));
        at::Tensor log_f_next =
            k + 1 == K ? beta * f.mb.reward.to(at::kDouble)
                       : f.F(x_next, k + 1) +
                             beta * std::sqrt(S.state_alpha_bar(k + 1)) *
                                 f.r(S.predict_x0(k1, x_next,
                                                  P.denoiser->eps(x_next, S.state_timesteps(k1), {}, Adapter::On)));
        return log_f + log_ratio - log_f_next;
      });
  EXPECT_NEAR(f.loss(), expected, 1e-10 * std::max(1.0, std::abs(expected)));
}

// ReFL (ImageReward Alg. 1): L = s·mean_b relu(target − r(x̂0(x_m))), m ~ U{K − N, …, K − 1} per row.
TEST(Baselines, ReFLLossMatchesItsFormula) {
  FormulaCase f("refl");
  const Scheduler& S = *f.toy.problem.scheduler;
  const AlgorithmConfig& a = f.config.algorithm;
  const int K = S.n_steps();
  at::Tensor m = at::randint(K - a.refl.last_steps, K, {f.mb.size()}, FormulaCase::step_gen(), at::kLong);
  double total = 0.0;
  for (int64_t b = 0; b < f.mb.size(); ++b) {
    at::Tensor kk = m.slice(0, b, b + 1), x = f.mb.x[b][m[b].item<int64_t>()].unsqueeze(0);  // [1, 2]
    at::Tensor eps = f.toy.problem.denoiser->eps(x, S.state_timesteps(kk), {}, Adapter::On);
    total += std::max(0.0, a.refl.target - f.r(S.predict_x0(kk, x, eps)).item<double>());
  }
  const double expected = a.refl.loss_scale * total / static_cast<double>(f.mb.size());
  ASSERT_GT(expected, 0.0);  // the hinge is active
  EXPECT_NEAR(f.loss(), expected, 1e-12 * std::max(1.0, expected));
}

// DRaFT-K (DRaFT Alg. 1): from the stored x_{K−K_d}, K_d steps x' = μ_θ(x) + σ·z with fresh z; L = −mean r.
TEST(Baselines, DRaFTLossMatchesItsFormula) {
  FormulaCase f("draft");
  const double loss = f.loss();  // before the no-grad formula below (the loss runs backward)
  const Scheduler& S = *f.toy.problem.scheduler;
  const int K = S.n_steps(), B = static_cast<int>(f.mb.size());
  at::Generator gen = FormulaCase::step_gen();
  at::NoGradGuard no_grad;
  at::Tensor x = f.mb.x.select(1, K - f.config.algorithm.draft.k);  // [B, 2]
  for (int k = K - f.config.algorithm.draft.k; k < K; ++k) {
    at::Tensor kk = at::full({B}, k, at::kLong);
    at::Tensor eps = f.toy.problem.denoiser->eps(x, S.state_timesteps(kk), {}, Adapter::On);
    at::Tensor z = at::randn(x.sizes(), gen, x.options());
    x = S.step_mean(kk, x, eps) + S.step_std(kk, x).view({B, 1}) * z;
  }
  const double expected = -f.r(x).mean().item<double>();
  EXPECT_NEAR(loss, expected, 1e-12 * std::max(1.0, std::abs(expected)));
}

// DRaFT-LV: n re-noisings x = √ᾱ_{K−1}·x_K + √(1 − ᾱ_{K−1})·ε_i of the final state, one last step each;
// L = −(1/B) Σ_i Σ_b r(x_out).
TEST(Baselines, DRaFTLVLossMatchesItsFormula) {
  FormulaCase f("draft_lv");
  const double loss = f.loss();
  const Scheduler& S = *f.toy.problem.scheduler;
  const int K = S.n_steps(), n = f.config.algorithm.draft_lv.n;
  const int64_t B = f.mb.size();
  at::Generator gen = FormulaCase::step_gen();
  at::NoGradGuard no_grad;
  const double ab = S.state_alpha_bar(K - 1);
  at::Tensor x_final = f.mb.x.select(1, K).repeat({n, 1});  // [n·B, 2]
  at::Tensor x = std::sqrt(ab) * x_final + std::sqrt(1 - ab) * at::randn(x_final.sizes(), gen, x_final.options());
  at::Tensor kk = at::full({n * B}, K - 1, at::kLong);
  at::Tensor eps = f.toy.problem.denoiser->eps(x, S.state_timesteps(kk), {}, Adapter::On);
  at::Tensor z = at::randn(x.sizes(), gen, x.options());
  at::Tensor x_out = S.step_mean(kk, x, eps) + S.step_std(kk, x).view({n * B, 1}) * z;
  const double expected = -f.r(x_out).sum().item<double>() / static_cast<double>(B);
  EXPECT_NEAR(loss, expected, 1e-12 * std::max(1.0, std::abs(expected)));
}

// DDPO (PPO-clip, DDPO train.py): A_b = clip((r_b − mean r)/(std r + 1e-6)), ρ = exp(log π_θ − log π_old);
// L = mean over b and k of max(−A ρ, −A clip(ρ, 1 ± ε)). The policy moves after the rollout so ρ ≠ 1.
TEST(Baselines, DDPOLossMatchesItsFormula) {
  FormulaCase f("ddpo");
  f.config.algorithm.ddpo.clip_range = 0.05;
  f.algo = algorithm_registry().create("ddpo", f.toy.problem, f.config);
  {
    at::NoGradGuard no_grad;
    at::Generator gen = at::detail::createCPUGenerator(12);
    for (const auto& p : f.toy.problem.denoiser->trainable_parameters())
      p.add_(0.02 * at::randn(p.sizes(), gen, p.options()));
  }
  const double loss = f.loss();
  const Scheduler& S = *f.toy.problem.scheduler;
  const AlgorithmConfig& a = f.config.algorithm;
  const int K = S.n_steps();
  const int64_t B = f.mb.size();
  at::Tensor r = f.mb.reward.to(at::kDouble);
  at::Tensor adv =
      ((r - r.mean()) / (r.var(/*unbiased=*/false).sqrt() + 1e-6)).clamp(-a.ddpo.adv_clip, a.ddpo.adv_clip);
  at::NoGradGuard no_grad;
  double total = 0.0, n_clipped = 0.0;
  for (int k = 0; k < K; ++k) {
    at::Tensor kk = at::full({B}, k, at::kLong), x = f.mb.x.select(1, k);
    at::Tensor mean = S.step_mean(kk, x, f.toy.problem.denoiser->eps(x, S.state_timesteps(kk), {}, Adapter::On));
    at::Tensor ratio = at::exp(gaussian_log_prob(f.mb.x.select(1, k + 1), mean, S.step_std(kk, x)) -
                               f.mb.log_prob.select(1, k).to(at::kDouble));  // [B]
    at::Tensor clipped = ratio.clamp(1 - a.ddpo.clip_range, 1 + a.ddpo.clip_range);
    total += at::maximum(-adv * ratio, -adv * clipped).sum().item<double>();
    n_clipped += ((ratio - 1).abs() > a.ddpo.clip_range).sum().item<double>();
  }
  const double expected = total / static_cast<double>(K * B);
  // Both branches of the clip occur.
  ASSERT_GT(n_clipped, 0.0);
  ASSERT_LT(n_clipped, static_cast<double>(K * B));
  // DDPO computes the surrogate in float32 (as the reference does): float32 rounding.
  EXPECT_NEAR(loss, expected, 1e-6 * std::max(1.0, std::abs(expected)));
}

// Adjoint matching (lean adjoint, Domingo-Enrich et al. 2024): a_K = β∇r(x_K), a_k = J_{μ#}(x_k)ᵀ a_{k+1},
// with J_{μ#} by central differences here (the implementation uses VJPs); L = mean over b, k and the state
// elements of ((μ_θ − μ_#)/σ_k − σ_k·a_{k+1})².
TEST(Baselines, AdjointMatchingLossMatchesItsFormula) {
  FormulaCase f("adjoint_matching");
  const double loss = f.loss();
  Problem& P = f.toy.problem;
  const Scheduler& S = *P.scheduler;
  const int K = S.n_steps();
  const int64_t B = f.mb.size();
  const double beta = f.config.algorithm.beta, h = 1e-5;
  at::NoGradGuard no_grad;
  auto mu_ref = [&](const at::Tensor& x, int k) {
    at::Tensor kk = at::full({x.size(0)}, k, at::kLong);
    return S.step_mean(kk, x, P.denoiser->eps(x, S.state_timesteps(kk), {}, Adapter::Off));
  };
  // ∇r of the linear toy reward by central differences too.
  auto vjp = [&](const std::function<at::Tensor(const at::Tensor&)>& g, const at::Tensor& x, const at::Tensor& v) {
    at::Tensor out = at::zeros_like(x);  // [B, 2]
    for (int d = 0; d < 2; ++d) {
      at::Tensor e = at::zeros_like(x);
      e.select(1, d).fill_(h);
      at::Tensor column = (g(x + e) - g(x - e)) / (2 * h);  // ∂g/∂x_d: [B, 2] or [B]
      out.select(1, d).copy_(column.dim() == 1 ? column * v : (column * v).sum(1));
    }
    return out;
  };
  std::vector<at::Tensor> adj(K + 1);
  adj[K] = beta * vjp([&](const at::Tensor& x) { return f.r(x); }, f.mb.x.select(1, K), at::ones({B}, at::kDouble));
  for (int k = K - 1; k >= 1; --k)
    adj[k] = vjp([&](const at::Tensor& x) { return mu_ref(x, k); }, f.mb.x.select(1, k), adj[k + 1]);
  double total = 0.0;
  for (int k = 0; k < K; ++k) {
    at::Tensor kk = at::full({B}, k, at::kLong), x = f.mb.x.select(1, k);
    at::Tensor sigma = S.step_std(kk, x).view({B, 1});
    at::Tensor mu_pol = S.step_mean(kk, x, P.denoiser->eps(x, S.state_timesteps(kk), {}, Adapter::On));
    total += ((mu_pol - mu_ref(x, k)) / sigma - sigma * adj[k + 1]).pow(2).mean().item<double>();
  }
  const double expected = total / K;
  EXPECT_NEAR(loss, expected, 1e-7 * std::max(1.0, expected));
}

TEST(Baselines, DAGBetaAnnealing) {
  Config c = smoke_config("dag_db");
  c.algorithm.beta = 10.0;
  c.algorithm.dag_db.beta_anneal = 0.5;
  Toy2D toy = make_toy2d(c, at::kDouble);
  DAGDB dag(toy.problem, c);
  EXPECT_DOUBLE_EQ(dag.beta_at(0, 100), 0.0);
  EXPECT_DOUBLE_EQ(dag.beta_at(25, 100), 5.0);
  EXPECT_DOUBLE_EQ(dag.beta_at(60, 100), 10.0);
  c.algorithm.dag_db.beta_anneal = 0.0;
  EXPECT_DOUBLE_EQ(DAGDB(toy.problem, c).beta_at(0, 100), 10.0);
}

TEST(Baselines, UnsupportedSettingsAreErrors) {
  // No scalar flow network (Stable Diffusion): DAG-DB and residual DB refuse.
  for (const std::string name : {"dag_db", "residual_db"}) {
    Config c = smoke_config(name);
    Toy2D toy = make_toy2d(c, at::kDouble);
    toy.problem.make_scalar_flow_net = nullptr;
    EXPECT_THROW(algorithm_registry().create(name, toy.problem, c), Error) << name;
  }
  // A deterministic last step (DDPM's) has no log-prob.
  for (const std::string name : {"ddpo", "dag_db", "residual_db", "adjoint_matching"}) {
    Config c = smoke_config(name);
    c.sample.scheduler = "ddpm";
    Toy2D toy = make_toy2d(c, at::kDouble);
    EXPECT_THROW(algorithm_registry().create(name, toy.problem, c), Error) << name;
  }
  Config c = smoke_config("draft");
  c.algorithm.draft.k = 11;
  Toy2D toy = make_toy2d(c, at::kDouble);
  EXPECT_THROW(algorithm_registry().create("draft", toy.problem, c), Error);
}
