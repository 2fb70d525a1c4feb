// Config: JSONC files, --set overrides, unknown keys with suggestions, type errors, validation, modes,
// component sections and their old flat names, the resume check.
#include <gtest/gtest.h>

#include <algorithm>
#include <filesystem>
#include <fstream>

#include "config/config.h"
#include "config/config_diff.h"
#include "config/renamed_keys.h"
#include "core/error.h"
#include "core/log.h"
#include "test_util.h"

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
  EXPECT_EQ(n_sd, 23);
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

// Each case of issue 10: a value that used to train silently, wrap or fail deep inside LibTorch is a
// one-line error naming the key and the accepted range.
TEST(Config, ValidateRejectsOutOfRangeValues) {
  const std::vector<std::pair<std::string, std::string>> cases = {
      {"train.adam_beta1=1.5", "in [0, 1)"},       {"train.adam_beta2=-0.1", "in [0, 1)"},
      {"train.weight_decay=-1", ">= 0"},           {"train.max_grad_norm=-1", ">= 0"},
      {"eval.n_samples=0", ">= 1"},                {"train.lr=-1", "> 0"},
      {"train.lr_flow=0", "> 0"},                  {"train.n_epochs=0", ">= 1"},
      {"run.seed=-3", ">= 0"},                     {"train.adam_eps=0", "> 0"},
      {"train.timestep_fraction=0", "in (0, 1]"},  {"train.data_lag=2", "in [0, 1]"},
      {"model.flow_block_out_channels=[8,0]", ">= 1"}, {"algorithm.ddpo.clip_range=0", "> 0"},
      {"reward.quadratic.scale=0", "> 0"},         {"sample.eta=-1", ">= 0"},
      {"algorithm.flow_target_ema=1", "in [0, 1)"},
  };
  for (const auto& [assignment, range] : cases) {
    Config c;
    apply_override(c, assignment);
    const std::string key = assignment.substr(0, assignment.find('='));
    const std::string msg = error_of([&] { validate(c); });
    EXPECT_NE(msg.find("config key '" + key + "' must be " + range), std::string::npos) << assignment << ": " << msg;
    EXPECT_EQ(msg.find('\n'), std::string::npos) << msg;
  }
}

TEST(Config, IntegersThatOverflowIntAreErrorsNotWraps) {
  for (const std::string assignment : {"train.n_epochs=4294967298", "run.seed=18446744073709551615",
                                       "eval.n_samples=-2147483649", "model.flow_block_out_channels=[8,4294967304]"}) {
    Config c;
    const std::string msg = error_of([&] { apply_override(c, assignment); });
    EXPECT_NE(msg.find("between -2147483648 and 2147483647"), std::string::npos) << assignment << ": " << msg;
  }
  std::string path = write_tmp("overflow.jsonc", R"({"train": {"n_epochs": 4294967298}})");
  EXPECT_NE(error_of([&] { load_config(path); }).find("'train.n_epochs' must be an integer between"),
            std::string::npos);
  Config c;
  apply_override(c, "train.n_epochs=2147483647");
  EXPECT_EQ(c.train.n_epochs, 2147483647);
}

TEST(Config, DefaultsDocumentTheAcceptedRange) {
  Config c;
  EXPECT_NE(to_jsonc(c).find("AdamW beta1 (in [0, 1))"), std::string::npos);
}

TEST(Config, ModesAreEnumsParsedOnceWithTheirNamesInJson) {
  Config c;
  apply_override(c, "algorithm.reverse_target=backup");
  apply_override(c, "train.lr_schedule=cosine");
  apply_override(c, "model.dtype=float32");
  EXPECT_EQ(c.algorithm.reverse_target, ReverseTarget::Backup);
  EXPECT_EQ(c.train.lr_schedule, LRSchedule::Cosine);
  EXPECT_EQ(c.model.dtype, ModelDType::Float32);
  const std::string json = to_json(c);
  EXPECT_NE(json.find("\"reverse_target\": \"backup\""), std::string::npos) << json;
  EXPECT_NE(json.find("\"gamma_mode\": \"squared\""), std::string::npos) << json;
  const std::string msg = error_of([&] { apply_override(c, "algorithm.condition_weighting=snr"); });
  EXPECT_NE(msg.find("config key 'algorithm.condition_weighting' must be one of none, noise or eps, got \"snr\""),
            std::string::npos)
      << msg;
  test::expect_error([&] { apply_override(c, "algorithm.score_precision=bf16"); },
                     {"'algorithm.score_precision' must be one of float32, float64 or model, got \"bf16\""});
  std::string path = write_tmp("mode.jsonc", R"({"algorithm": {"guess_model": "reference"}})");
  EXPECT_NE(error_of([&] { load_config(path); }).find("one of policy or pretrained"), std::string::npos);
  EXPECT_EQ(to_string(GammaMode::Sqrt), "sqrt");
  EXPECT_EQ(parse_enum<AttentionBackend>("auto", "model.attention"), AttentionBackend::Fused);
}

TEST(Config, ComponentKnobsLiveInTheirOwnSections) {
  std::string path = write_tmp("sections.jsonc", R"({
    "algorithm": {"ddpo": {"clip_range": 0.2, "min_count": 3}, "refl": {"target": 3.5}},
    "model": {"toy": {"n_modes": 4, "std": 0.25}},
    "reward": {"quadratic": {"center": [1.0, 2.0]}}
  })");
  Config c = load_config(path);
  apply_override(c, "algorithm.draft.k=3");
  apply_override(c, "sample.dpmpp.final_sigmas=zero");
  EXPECT_DOUBLE_EQ(c.algorithm.ddpo.clip_range, 0.2);
  EXPECT_EQ(c.algorithm.ddpo.min_count, 3);
  EXPECT_DOUBLE_EQ(c.algorithm.refl.target, 3.5);
  EXPECT_EQ(c.model.toy.n_modes, 4);
  EXPECT_DOUBLE_EQ(c.model.toy.std_dev, 0.25);
  EXPECT_EQ(c.reward.quadratic.center, (std::vector<double>{1.0, 2.0}));
  EXPECT_EQ(c.algorithm.draft.k, 3);
  EXPECT_EQ(c.sample.dpmpp.final_sigmas, FinalSigmas::Zero);
  const std::string json = to_json(c);
  EXPECT_NE(json.find("\"ddpo\": {"), std::string::npos) << json;
  const std::string msg = error_of([&] { apply_override(c, "algorithm.ddpo.clip=1"); });
  EXPECT_NE(msg.find("algorithm.ddpo.clip_range"), std::string::npos) << msg;
}

TEST(Config, OldFlatKeysStayReadableWithADeprecationWarning) {
  std::string path = write_tmp("flat.jsonc", R"({
    "algorithm": {"refl_target": 3.0, "ddpo_clip_range": 0.3},
    "reward": {"linear_coef": [1.0, -1.0]}
  })");
  const int warnings = log_warning_count();
  ::testing::internal::CaptureStderr();
  Config c = load_config(path);
  apply_override(c, "model.toy_n_modes=5");
  const std::string err = ::testing::internal::GetCapturedStderr();
  EXPECT_EQ(log_warning_count(), warnings + 4);
  EXPECT_NE(err.find("config key 'algorithm.refl_target' is deprecated: use 'algorithm.refl.target'"),
            std::string::npos)
      << err;
  EXPECT_DOUBLE_EQ(c.algorithm.refl.target, 3.0);
  EXPECT_DOUBLE_EQ(c.algorithm.ddpo.clip_range, 0.3);
  EXPECT_EQ(c.reward.linear.coef, (std::vector<double>{1.0, -1.0}));
  EXPECT_EQ(c.model.toy.n_modes, 5);
  // Every old name leads to a key that exists.
  Config d;
  const std::vector<std::string> keys = config_keys(d);
  for (const auto& [old_key, new_key] : renamed_keys())
    EXPECT_NE(std::find(keys.begin(), keys.end(), new_key), keys.end()) << old_key << " -> " << new_key;
}

TEST(Config, ShippedConfigsUseTheCurrentKeysAndValidate) {
  const int warnings = log_warning_count();
  int n = 0;
  for (const auto& entry : std::filesystem::directory_iterator(std::string(NABLAGFN_SOURCE_DIR) + "/configs")) {
    Config c = load_config(entry.path().string());
    EXPECT_NO_THROW(validate(c)) << entry.path();
    ++n;
  }
  EXPECT_GT(n, 0);
  EXPECT_EQ(log_warning_count(), warnings);
}

TEST(Config, ResumeRejectsAChangedExperimentAndListsTheKeys) {
  Config run;
  std::string path = write_tmp("config.resolved.json", to_json(run));
  Config same = run;
  same.eval.every = 1;  // free on resume
  same.train.save_every = 1;
  same.run.out = "elsewhere";
  EXPECT_NO_THROW(check_resume_config(same, path, false));
  Config changed = run;
  changed.train.lr = 1e-4;
  changed.algorithm.ddpo.clip_range = 0.5;
  changed.algorithm.gamma_mode = GammaMode::Sqrt;
  EXPECT_EQ(experiment_differences(run, changed),
            (std::vector<std::string>{"train.lr: 0.001 -> 0.0001", "algorithm.gamma_mode: \"squared\" -> \"sqrt\"",
                                      "algorithm.ddpo.clip_range: 0.0001 -> 0.5"}));
  const std::string msg = error_of([&] { check_resume_config(changed, path, false); });
  EXPECT_NE(msg.find("in 3 key(s) that change the experiment: train.lr: 0.001 -> 0.0001"), std::string::npos) << msg;
  EXPECT_NE(msg.find("--allow-config-change"), std::string::npos) << msg;
  ::testing::internal::CaptureStderr();
  EXPECT_NO_THROW(check_resume_config(changed, path, true));
  EXPECT_NE(::testing::internal::GetCapturedStderr().find("train.lr"), std::string::npos);
}
