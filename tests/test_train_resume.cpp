// `nablagfn train` on the tiny Stable Diffusion stack (CPU): a run killed with SIGKILL and continued with
// --resume ends bit for bit where the uninterrupted run ends (LoRA, flow network, metrics rows; the AdamW
// moments through the updates after the resume, which differ unless the moments were restored), with and
// without the one-epoch data lag; the killed run's folder says INCOMPLETE and its metrics rows after the
// checkpoint are dropped; train.keep_checkpoints prunes; `nablagfn export` writes the kohya layout that
// `nablagfn sample --lora` loads, and a merged UNet folder.
#include <chrono>
#include <fstream>
#include <string>
#include <thread>

#include <ATen/ATen.h>
#include <nlohmann/json.hpp>

#include "cli_util.h"
#include "io/fs_util.h"
#include "io/run_dir.h"
#include "io/tensor_io.h"
#include "test_util.h"

using namespace nablagfn;
using test::data_path;
using test::run_nablagfn;

namespace {

const int kEpochs = 4;  // 1 update each; checkpoints after epochs 1 and 3

std::string temp_dir(const std::string& name) {
  const std::string dir = join_path(::testing::TempDir(), "nablagfn_test_train_resume_" + name);
  remove_tree(dir);
  make_directories(dir);
  return dir;
}

// A tiny-SD ∇-DB run: 2 trajectories of 10 steps per epoch, one update of 2 transitions each. flow_ema:
// algorithm.flow_target_ema (with forward_trains_flow false, the condition that takes the average's target).
std::string write_config(const std::string& dir, int data_lag, int keep, double flow_ema = 0.0) {
  const std::string path = dir + "/run.jsonc";
  std::ofstream(path) << R"({
    "run": {"device": "cpu", "seed": 3},
    "model": {"kind": "sd", "path": ")" << data_path("sd_tiny") << R"(", "dtype": "float32",
              "lora_rank": 4, "lora_alpha": 4.0, "flow_block_out_channels": [16, 32, 32, 32]},
    "reward": {"name": "aesthetic", "path": ")" << data_path("clip_vision_tiny/vision_model") << R"(",
               "head_path": ")" << data_path("clip_vision_tiny/aesthetic_head.safetensors") << R"("},
    "sample": {"n_steps": 10, "batch_size": 2, "n_batches_per_epoch": 1, "prompts": "a photo of a cat"},
    "train": {"n_epochs": )" << kEpochs << R"(, "batch_size": 2, "grad_accum_steps": 1, "lr": 1e-2,
              "lr_flow": 1e-2, "save_every": 2, "keep_checkpoints": )" << keep << R"(, "data_lag": )" << data_lag << R"(},
    "algorithm": {"name": "nabla_db", "output_reg": 1.0, "flow_target_ema": )" << flow_ema
                               << R"(, "forward_trains_flow": )" << (flow_ema > 0 ? "false" : "true") << R"(},
    "eval": {"every": 0, "n_samples": 2}
  })";
  return path;
}

size_t line_count(const std::string& path) {
  std::ifstream in(path);
  size_t n = 0;
  for (std::string line; std::getline(in, line);) n += !line.empty();
  return n;
}

void expect_same_tensors(const std::string& a, const std::string& b) {
  const TensorMap ta = load_safetensors(a), tb = load_safetensors(b);
  ASSERT_EQ(ta.size(), tb.size()) << a;
  for (const auto& [k, v] : ta) EXPECT_TRUE(at::equal(v, tb.at(k))) << a << ": " << k;
}

// Every metrics row equal, except the wall-clock seconds.
void expect_same_metrics(const std::string& a, const std::string& b) {
  auto ra = MetricsLog::read_all(a), rb = MetricsLog::read_all(b);
  ASSERT_EQ(ra.size(), rb.size());
  for (size_t i = 0; i < ra.size(); ++i) {
    ra[i].erase("seconds");
    rb[i].erase("seconds");
    EXPECT_EQ(ra[i], rb[i]) << "row " << i;
  }
}

// The uninterrupted run, and a run SIGKILLed after its epoch-2 metrics row (past the epoch-1
// checkpoint, whose row the resume must drop) then resumed: same final checkpoint (the flow network's
// average too, when there is one) and metrics.
void check_kill_and_resume(const std::string& name, int data_lag, double flow_ema = 0.0) {
  const std::string dir = temp_dir(name);
  const std::string config = write_config(dir, data_lag, 1, flow_ema);
  test::CommandResult straight = run_nablagfn("train --config " + config + " --out " + dir + "/straight");
  ASSERT_EQ(straight.exit_code, 0) << straight.output;
  EXPECT_FALSE(path_exists(dir + "/straight/INCOMPLETE"));
  // keep_checkpoints 1: of epochs 1 and 3 only the newest remains.
  EXPECT_EQ(list_directory(dir + "/straight/checkpoints"), (std::vector<std::string>{"epoch_0003"}));

  const std::string killed = dir + "/killed";
  const pid_t pid = test::spawn_nablagfn("train --config " + config + " --out " + killed, dir + "/killed.log");
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(300);
  // Rows: the pretrained model's evaluation (epoch -1), then epochs 0, 1, 2.
  while (line_count(killed + "/metrics.jsonl") < 4 && std::chrono::steady_clock::now() < deadline)
    std::this_thread::sleep_for(std::chrono::milliseconds(2));
  ASSERT_EQ(kill(pid, SIGKILL), 0);
  int status = 0;
  waitpid(pid, &status, 0);
  ASSERT_TRUE(WIFSIGNALED(status)) << "the run ended before it could be killed";
  EXPECT_TRUE(path_exists(killed + "/INCOMPLETE"));
  EXPECT_FALSE(path_exists(killed + "/pytorch_lora_weights.safetensors"));

  test::CommandResult resumed = run_nablagfn("train --config " + config + " --out " + killed + " --resume");
  ASSERT_EQ(resumed.exit_code, 0) << resumed.output;
  EXPECT_NE(resumed.output.find("resumed from epoch"), std::string::npos) << resumed.output;
  EXPECT_FALSE(path_exists(killed + "/INCOMPLETE"));
  for (const char* file : {"adapter.safetensors", "algorithm.safetensors", "rng.safetensors"})
    expect_same_tensors(dir + "/straight/checkpoints/epoch_0003/" + file, killed + "/checkpoints/epoch_0003/" + file);
  size_t n_average = 0;
  for (const auto& [key, t] : load_safetensors(killed + "/checkpoints/epoch_0003/algorithm.safetensors"))
    n_average += key.rfind("flow_ema.", 0) == 0;
  EXPECT_EQ(n_average > 0, flow_ema > 0);
  expect_same_tensors(dir + "/straight/pytorch_lora_weights.safetensors", killed + "/pytorch_lora_weights.safetensors");
  expect_same_metrics(dir + "/straight/metrics.jsonl", killed + "/metrics.jsonl");
  EXPECT_EQ(line_count(killed + "/metrics.jsonl"), static_cast<size_t>(kEpochs) + 1);  // + the pretrained row
}

}  // namespace

TEST(TrainResume, SigkillThenResumeEqualsTheUninterruptedRun) { check_kill_and_resume("lag0", 0); }

// With the one-epoch data lag, and the averaged flow target (algorithm.flow_target_ema) whose average is
// part of the checkpoint.
TEST(TrainResume, SigkillThenResumeWithDataLagEqualsTheUninterruptedRun) { check_kill_and_resume("lag1", 1, 0.9); }

// `nablagfn export` of a finished run: the kohya file (lora_unet_* names) loads into `nablagfn sample --lora`;
// --merge-lora writes a diffusers unet/ folder.
TEST(TrainResume, ExportedKohyaLoRALoadsIntoSample) {
  const std::string dir = temp_dir("export");
  const std::string config = write_config(dir, 0, 0);
  test::CommandResult run = run_nablagfn("train --config " + config + " --out " + dir + "/run --set train.n_epochs=2");
  ASSERT_EQ(run.exit_code, 0) << run.output;
  test::CommandResult exported =
      run_nablagfn("export --run " + dir + "/run --lora-format kohya --merge-lora --out " + dir + "/out");
  ASSERT_EQ(exported.exit_code, 0) << exported.output;
  const TensorMap kohya = load_safetensors(dir + "/out/lora_kohya.safetensors");
  const TensorMap diffusers = load_safetensors(dir + "/run/pytorch_lora_weights.safetensors");
  EXPECT_EQ(kohya.size(), diffusers.size() * 3 / 2);  // down, up and alpha per module
  EXPECT_TRUE(at::equal(
      kohya.at("lora_unet_down_blocks_0_attentions_0_transformer_blocks_0_attn1_to_q.lora_up.weight"),
      diffusers.at("unet.down_blocks.0.attentions.0.transformer_blocks.0.attn1.to_q.lora.up.weight")));
  EXPECT_TRUE(path_exists(dir + "/out/unet/config.json"));
  EXPECT_TRUE(path_exists(dir + "/out/unet/diffusion_pytorch_model.safetensors"));
  test::CommandResult sampled =
      run_nablagfn("sample --model " + data_path("sd_tiny") + " --lora " + dir +
                   "/out/lora_kohya.safetensors --prompt cat --n 1 --steps 2 --device cpu --out " + dir + "/grid.png");
  EXPECT_EQ(sampled.exit_code, 0) << sampled.output;
  EXPECT_TRUE(path_exists(dir + "/grid.png"));
}
