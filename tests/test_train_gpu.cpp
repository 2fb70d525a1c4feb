// `nablagfn train` on CUDA: the tiny SD stack (tests/data/sd_tiny, aesthetic reward on clip_vision_tiny)
// trained for a few epochs with every algorithm, as the CLI runs it (make_problem, the registry, train()).
// Each run must finish with finite rewards and loss terms in every metrics row, its checkpoints and the
// final LoRA written, and the LoRA moved off its initial value. Algorithms that need a scalar flow network
// the problem does not provide are skipped with that reason. A run stopped after 2 of 4 epochs and resumed
// continues the CUDA step-noise generator where the straight run has it, bit for bit, and ends with a LoRA
// no further from the straight run's than a second straight run is: CUDA training is not bitwise
// reproducible (bf16 atomics in the NHWC group-norm kernel, cuDNN's weight-gradient algorithms), so the
// bit-exact resume is proven on the CPU (test_resume) and here against the measured run-to-run noise.
// Label gpu: needs a CUDA device.
#include <gtest/gtest.h>

#include <ATen/ATen.h>
#include <torch/cuda.h>

#include <cmath>
#include <cstdio>
#include <nlohmann/json.hpp>
#include <string>

#include "algorithms/algorithm.h"
#include "algorithms/trainer.h"
#include "core/device.h"
#include "io/fs_util.h"
#include "io/run_dir.h"
#include "io/tensor_io.h"
#include "problems/factory.h"
#include "test_util.h"
#include "tiny_sd_config.h"

using namespace nablagfn;

namespace {

Config tiny_sd_train_config(const std::string& algorithm) {
  Config c = test::tiny_sd_config();
  c.run.device = "cuda";
  c.run.seed = 1;
  c.sample.n_steps = 10;
  c.sample.prompts = "simple_animals";
  c.sample.batch_size = 4;
  c.sample.n_batches_per_epoch = 2;
  c.algorithm.name = algorithm;
  c.algorithm.beta = 10.0;
  c.algorithm.output_reg = 1.0;
  c.algorithm.draft.k = 2;
  c.algorithm.ddpo.min_count = 2;
  c.train.n_epochs = 3;
  c.train.batch_size = 2;
  c.train.grad_accum_steps = 2;
  c.train.timestep_fraction = 0.2;
  c.train.lr = 1e-3;
  c.train.save_every = 1;
  c.eval.every = 2;
  c.eval.n_samples = 4;
  return c;
}

// Σ|LoRA| of the policy: differs from its initial value once an update has moved it.
double lora_abs_sum(Problem& problem) {
  double s = 0.0;
  for (const auto& p : problem.denoiser->trainable_parameters()) s += p.detach().abs().sum().item<double>();
  return s;
}

// Euclidean distance between two LoRA state dicts over a's keys (b empty: a's norm).
double lora_distance(const TensorMap& a, const TensorMap& b) {
  double s = 0.0;
  for (const auto& [k, v] : a) {
    const at::Tensor d = b.empty() ? v.to(at::kDouble) : v.to(at::kDouble) - b.at(k).to(at::kDouble);
    s += d.square().sum().item<double>();
  }
  return std::sqrt(s);
}

class TrainGpu : public ::testing::TestWithParam<std::string> {};

TEST_P(TrainGpu, TinyStableDiffusionTrainsOnCuda) {
  ASSERT_TRUE(torch::cuda::is_available());
  const std::string name = GetParam();
  Config config = tiny_sd_train_config(name);
  config.run.out = join_path(::testing::TempDir(), "nablagfn_train_gpu_" + name);
  remove_tree(config.run.out);
  validate(config);
  seed_default_generators(config.run.seed);
  auto bundle = make_problem(config);
  Problem& problem = bundle->problem();
  ASSERT_TRUE(problem.device.is_cuda());
  auto algorithm = algorithm_registry().create(name, problem, config);
  const double lora_before = lora_abs_sum(problem);
  RunDir run = RunDir::create(config.run.out, false);
  TrainSummary summary = train(problem, *algorithm, config, run, bundle->evaluator());
  EXPECT_EQ(summary.epochs_done, config.train.n_epochs);
  EXPECT_EQ(summary.updates, config.train.n_epochs * 2);

  // The pretrained model's evaluation (epoch -1), then one row per epoch.
  auto rows = MetricsLog::read_all(run.path(RunDir::kMetricsFile));
  ASSERT_EQ(rows.size(), static_cast<size_t>(config.train.n_epochs) + 1);
  EXPECT_EQ(rows.front()["epoch"].get<int>(), -1);
  for (const auto& row : rows) {
    if (row["epoch"].get<int>() >= 0) ASSERT_TRUE(row.contains("loss")) << row.dump();
    for (const auto& [key, value] : row.items())
      if (value.is_number()) EXPECT_TRUE(std::isfinite(value.get<double>())) << name << " " << key << " " << row.dump();
  }
  EXPECT_TRUE(std::isfinite(summary.final_metrics.at("reward_eval")));
  for (int e = 0; e < config.train.n_epochs; ++e) {
    char dir[64];
    std::snprintf(dir, sizeof dir, "checkpoints/epoch_%04d", e);
    for (const char* file : {"adapter.safetensors", "algorithm.safetensors", "optimizer.pt", "state.json"})
      EXPECT_TRUE(path_exists(join_path(run.path(dir), file))) << dir << "/" << file;
  }
  EXPECT_TRUE(path_exists(run.path("pytorch_lora_weights.safetensors")));
  EXPECT_NE(lora_abs_sum(problem), lora_before) << name << ": the LoRA did not move";
  remove_tree(config.run.out);
}

// Trains config (fresh problem and algorithm, as a new process would) into out; resume: continue its run.
void train_run(Config config, const std::string& out, bool resume) {
  config.run.out = out;
  validate(config);
  seed_default_generators(config.run.seed);
  auto bundle = make_problem(config);
  auto algorithm = algorithm_registry().create(config.algorithm.name, bundle->problem(), config);
  RunDir run = RunDir::create(out, resume);
  train(bundle->problem(), *algorithm, config, run, bundle->evaluator());
}

TEST(TrainGpuResume, ResumedRunContinuesTheDeviceNoiseGenerator) {
  ASSERT_TRUE(torch::cuda::is_available());
  Config config = tiny_sd_train_config("nabla_db");
  config.train.n_epochs = 4;
  config.train.save_every = 2;
  config.eval.every = 0;
  const std::string straight = join_path(::testing::TempDir(), "nablagfn_train_gpu_resume_straight");
  const std::string again = join_path(::testing::TempDir(), "nablagfn_train_gpu_resume_again");
  const std::string resumed = join_path(::testing::TempDir(), "nablagfn_train_gpu_resume_resumed");
  for (const auto& dir : {straight, again, resumed}) remove_tree(dir);
  train_run(config, straight, false);
  train_run(config, again, false);
  Config first_half = config;
  first_half.train.n_epochs = 2;
  train_run(first_half, resumed, false);
  train_run(config, resumed, true);
  const TensorMap a = load_safetensors(join_path(straight, "checkpoints/epoch_0003/rng.safetensors"));
  const TensorMap b = load_safetensors(join_path(resumed, "checkpoints/epoch_0003/rng.safetensors"));
  ASSERT_EQ(a.count("device_generator"), 1u);
  for (const char* key : {"generator", "device_generator"}) EXPECT_TRUE(at::equal(a.at(key), b.at(key))) << key;
  const auto lora = [](const std::string& dir) {
    return load_safetensors(join_path(dir, "checkpoints/epoch_0003/adapter.safetensors"));
  };
  const TensorMap la = lora(straight);
  const double noise = lora_distance(la, lora(again));
  const double drift = lora_distance(la, lora(resumed));
  const double scale = lora_distance(la, {});
  std::printf("LoRA distance to the straight run: resumed %.4g, second straight run %.4g (LoRA norm %.4g)\n", drift,
              noise, scale);
  EXPECT_LE(drift, 4.0 * noise + 1e-6 * scale);
  for (const auto& dir : {straight, again, resumed}) remove_tree(dir);
}

INSTANTIATE_TEST_SUITE_P(EveryAlgorithm, TrainGpu,
                         ::testing::Values("nabla_db", "refl", "draft", "draft_lv", "ddpo", "dag_db", "residual_db",
                                           "adjoint_matching"),
                         [](const ::testing::TestParamInfo<std::string>& info) { return info.param; });

}  // namespace
