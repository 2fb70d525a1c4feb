// Config: JSONC files, --set overrides, unknown keys with suggestions, type errors, validation.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>

#include "config/config.h"
#include "core/error.h"

using namespace nablagfn;

namespace {
std::string write_tmp(const std::string& name, const std::string& text) {
  std::string path = ::testing::TempDir() + "/" + name;
  std::ofstream(path) << text;
  return path;
}
std::string error_of(const std::function<void()>& f) {
  try {
    f();
  } catch (const Error& e) {
    return e.what();
  }
  return "";
}
}  // namespace

TEST(Config, ReadsJsoncOntoDefaults) {
  std::string path = write_tmp("a.jsonc", R"({
    // comment
    "train": {"lr": 3e-4, /* inline */ "n_epochs": 7},
    "model": {"flow_block_out_channels": [8, 16]}
  })");
  Config c = load_config(path);
  EXPECT_DOUBLE_EQ(c.train.lr, 3e-4);
  EXPECT_EQ(c.train.n_epochs, 7);
  EXPECT_EQ(c.model.flow_block_out_channels, (std::vector<int>{8, 16}));
  EXPECT_EQ(c.sample.n_steps, 50);  // untouched default
}

TEST(Config, UnknownKeySuggestsClosest) {
  std::string path = write_tmp("b.jsonc", R"({"train": {"lrr": 1.0}})");
  std::string msg = error_of([&] { load_config(path); });
  EXPECT_NE(msg.find("unknown config key 'train.lrr'"), std::string::npos) << msg;
  EXPECT_NE(msg.find("train.lr"), std::string::npos) << msg;
}

TEST(Config, TypeMismatchAndMalformedJsonAreErrors) {
  std::string p1 = write_tmp("c.jsonc", R"({"train": {"n_epochs": "ten"}})");
  EXPECT_NE(error_of([&] { load_config(p1); }).find("must be an integer"), std::string::npos);
  std::string p2 = write_tmp("d.jsonc", R"({"train": {"n_epochs": 3,}})");
  EXPECT_NE(error_of([&] { load_config(p2); }).find("malformed config"), std::string::npos);
  EXPECT_NE(error_of([&] { load_config("/nonexistent.jsonc"); }).find("cannot open"), std::string::npos);
}

TEST(Config, OverridesApplyLast) {
  Config c;
  apply_override(c, "train.lr=1e-4");
  apply_override(c, "reward.name=quadratic");
  apply_override(c, "algorithm.no_flow=true");
  apply_override(c, "run.out=123");
  EXPECT_DOUBLE_EQ(c.train.lr, 1e-4);
  EXPECT_EQ(c.reward.name, "quadratic");
  EXPECT_TRUE(c.algorithm.no_flow);
  EXPECT_EQ(c.run.out, "123");
  EXPECT_NE(error_of([&] { apply_override(c, "train.nope=1"); }).find("unknown config key"), std::string::npos);
  EXPECT_NE(error_of([&] { apply_override(c, "novalue"); }).find("not key=value"), std::string::npos);
}

TEST(Config, ValidateChecksBatchArithmetic) {
  Config c;
  EXPECT_NO_THROW(validate(c));  // 16 x 4 = 64 per epoch, 4 x 8 = 32 per update
  c.train.grad_accum_steps = 5;
  EXPECT_NE(error_of([&] { validate(c); }).find("not a multiple"), std::string::npos);
}

TEST(Config, DefaultsPrintWithDocumentationAndRoundTrip) {
  Config c;
  std::string jsonc = to_jsonc(c);
  EXPECT_NE(jsonc.find("// AdamW learning rate"), std::string::npos);
  std::string path = write_tmp("e.jsonc", jsonc);
  Config back = load_config(path);
  EXPECT_EQ(to_json(back), to_json(c));
}

// Every shipped experiment file (configs/*.jsonc) loads through the real loader and passes validate();
// the SD files are the 2 rewards x 10 algorithms of issue 13 plus the one-GPU paper setting.
TEST(Config, EveryShippedConfigLoadsAndValidates) {
  const std::string dir = std::string(NABLAGFN_SOURCE_DIR) + "/configs";
  int n_sd = 0, n_all = 0;
  for (const auto& entry : std::filesystem::directory_iterator(dir)) {
    if (entry.path().extension() != ".jsonc") continue;
    SCOPED_TRACE(entry.path().string());
    Config c;
    EXPECT_EQ(error_of([&] { c = load_config(entry.path().string()); }), "");
    EXPECT_EQ(error_of([&] { validate(c); }), "");
    ++n_all;
    if (entry.path().filename().string().rfind("sd15_", 0) == 0) {
      ++n_sd;
      EXPECT_EQ(c.model.kind, "sd");
      EXPECT_NE(entry.path().filename().string().find(c.algorithm.name), std::string::npos);
    }
  }
  EXPECT_EQ(n_sd, 21);
  EXPECT_GE(n_all, n_sd + 9);
}

// The paper setting on one GPU keeps the paper's global batches: 512 trajectories per epoch, 256 per update.
TEST(Config, PaperSettingOnOneGpuKeepsTheGlobalBatch) {
  Config c = load_config(std::string(NABLAGFN_SOURCE_DIR) + "/configs/sd15_aesthetic_nabla_db_paper.jsonc");
  EXPECT_EQ(c.sample.batch_size * c.sample.n_batches_per_epoch, 8 * 64);
  EXPECT_EQ(c.train.batch_size * c.train.grad_accum_steps, 8 * 32);
  EXPECT_EQ(c.train.data_lag, 1);
  EXPECT_DOUBLE_EQ(c.algorithm.beta, 1e4);
  EXPECT_DOUBLE_EQ(c.algorithm.output_reg, 2e3);
  EXPECT_TRUE(c.algorithm.quirk_double_step);
}
