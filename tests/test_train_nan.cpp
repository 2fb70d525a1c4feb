// A diverging `nablagfn train` run on the tiny Stable Diffusion stack (CPU) stops at the step where a
// non-finite value appears, with one error line naming the reward (or loss term / parameter group), the
// epoch and the update and a hint; the last good checkpoint stays untouched and the run stays INCOMPLETE.
#include <fstream>
#include <string>

#include <ATen/ATen.h>

#include "cli_util.h"
#include "io/atomic_file.h"
#include "io/fs_util.h"
#include "io/tensor_io.h"
#include "test_util.h"

using namespace nablagfn;
using test::data_path;

TEST(TrainNan, HugeLearningRateStopsTheRunAndKeepsTheLastCheckpoint) {
  const std::string dir = join_path(::testing::TempDir(), "nablagfn_test_train_nan");
  remove_tree(dir);
  make_directories(dir);
  const std::string config = dir + "/run.jsonc";
  // lr 1e30 puts the LoRA at ~1e30 after the first update: epoch 1's samples and rewards are not finite.
  std::ofstream(config) << R"({
    "run": {"device": "cpu"},
    "model": {"kind": "sd", "path": ")" << data_path("sd_tiny") << R"(", "dtype": "float32",
              "lora_rank": 4, "lora_alpha": 4.0, "flow_block_out_channels": [16, 32, 32, 32]},
    "reward": {"name": "aesthetic", "path": ")" << data_path("clip_vision_tiny/vision_model") << R"(",
               "head_path": ")" << data_path("clip_vision_tiny/aesthetic_head.safetensors") << R"("},
    "sample": {"n_steps": 10, "batch_size": 2, "n_batches_per_epoch": 1, "prompts": "a photo of a cat"},
    "train": {"n_epochs": 4, "batch_size": 2, "grad_accum_steps": 1, "lr": 1e30, "max_grad_norm": 0,
              "save_every": 1},
    "algorithm": {"name": "nabla_db", "output_reg": 1.0},
    "eval": {"every": 0, "n_samples": 2}
  })";
  const std::string out = dir + "/run";
  test::CommandResult r = test::run_nablagfn("train --config " + config + " --out " + out);
  EXPECT_EQ(r.exit_code, 1) << r.output;
  const std::string last_line = r.output.substr(r.output.rfind("error: "));
  EXPECT_EQ(last_line.find('\n'), last_line.size() - 1) << r.output;
  EXPECT_NE(last_line.find("non-finite"), std::string::npos) << last_line;
  EXPECT_NE(last_line.find("epoch 1"), std::string::npos) << last_line;
  EXPECT_NE(last_line.find("update 1"), std::string::npos) << last_line;
  EXPECT_NE(last_line.find("hint:"), std::string::npos) << last_line;
  EXPECT_TRUE(last_line.find("'aesthetic'") != std::string::npos || last_line.find("loss term") != std::string::npos)
      << last_line;
  // Epoch 0's checkpoint is the last one, complete, and holds finite weights; nothing of epoch 1 was saved.
  EXPECT_EQ(list_directory(out + "/checkpoints"), (std::vector<std::string>{"epoch_0000"}));
  EXPECT_NE(read_file(out + "/checkpoints/epoch_0000/state.json").find("\"epoch\": 0"), std::string::npos);
  for (const auto& [name, t] : load_safetensors(out + "/checkpoints/epoch_0000/adapter.safetensors"))
    EXPECT_TRUE(at::isfinite(t).all().item<bool>()) << name;
  EXPECT_TRUE(path_exists(out + "/INCOMPLETE"));
  EXPECT_FALSE(path_exists(out + "/pytorch_lora_weights.safetensors"));
}
