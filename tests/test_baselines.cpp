// Smoke tests of the baselines of spec §7 on a small toy problem (float64, 10 steps, 8 trajectories):
// three updates of each run and give finite losses close to pinned values; a short overfit raises the
// mean reward of the gradient methods; a few properties every baseline must have at the first update
// (the policy starts as the pretrained model) and the errors for unsupported settings.
#include <ATen/ATen.h>
#include <ATen/Parallel.h>
#include <gtest/gtest.h>
#include <torch/torch.h>

#include "algorithms/algorithm.h"
#include "algorithms/dag_db.h"
#include "core/error.h"
#include "problems/toy2d.h"

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
  c.model.dtype = "float64";
  c.model.toy_hidden = 16;
  c.model.toy_layers = 2;
  c.reward.name = "linear";
  c.algorithm.name = algorithm;
  c.algorithm.beta = 1.0;
  c.algorithm.output_reg = 1.0;
  c.algorithm.draft_k = 2;
  c.algorithm.ddpo_min_count = 4;
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
    StepInfo info{epoch, 20, epoch, gen};
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
    {"refl", {0, 0, 0}},
    {"draft", {0, 0, 0}},
    {"draft_lv", {0, 0, 0}},
    {"ddpo", {0, 0, 0}},
    {"dag_db", {0, 0, 0}},
    {"residual_db", {0, 0, 0}},
    {"adjoint_matching", {0, 0, 0}},
};
}  // namespace

TEST(Baselines, ThreeUpdatesGiveFinitePinnedLosses) {
  for (const auto& [name, pinned] : kPinnedLosses) {
    BaselineRun run(smoke_config(name));
    for (int u = 0; u < 3; ++u) {
      LossTerms t = run.update();
      ASSERT_TRUE(t.count("loss")) << name;
      for (const auto& [k, v] : t) EXPECT_TRUE(std::isfinite(v)) << name << " " << k;
      printf("%s %d %.10g\n", name.c_str(), u, t["loss"]);
      EXPECT_NEAR(t["loss"], pinned[u], 1e-6 + 1e-4 * std::abs(pinned[u])) << name << " update " << u;
    }
  }
}

TEST(Baselines, OverfitRaisesTheMeanRewardOfGradientMethods) {
  for (const std::string name : {"refl", "draft", "draft_lv", "adjoint_matching"}) {
    Config c = smoke_config(name);
    c.algorithm.refl_target = 10.0;  // keep ReFL's hinge active
    c.algorithm.refl_loss_scale = 1.0;
    BaselineRun run(c);
    const double before = run.mean_reward();
    for (int u = 0; u < 20; ++u) run.update();
    const double after = run.mean_reward();
    printf("%s %.4f -> %.4f\n", name.c_str(), before, after);
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

TEST(Baselines, DAGBetaAnnealing) {
  Config c = smoke_config("dag_db");
  c.algorithm.beta = 10.0;
  c.algorithm.dag_beta_anneal = 0.5;
  Toy2D toy = make_toy2d(c, at::kDouble);
  DAGDB dag(toy.problem, c);
  EXPECT_DOUBLE_EQ(dag.beta_at(0, 100), 0.0);
  EXPECT_DOUBLE_EQ(dag.beta_at(25, 100), 5.0);
  EXPECT_DOUBLE_EQ(dag.beta_at(60, 100), 10.0);
  c.algorithm.dag_beta_anneal = 0.0;
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
  c.algorithm.draft_k = 11;
  Toy2D toy = make_toy2d(c, at::kDouble);
  EXPECT_THROW(algorithm_registry().create("draft", toy.problem, c), Error);
}
