// User-facing failures of the rewards: one-line nablagfn::Error messages with hints for malformed .pth files,
// an aesthetic head that does not fit its tower, unknown reward names, a bad TorchScript signature, and a
// non-differentiable reward given to a gradient algorithm.
#include <cstdio>
#include <fstream>
#include <string>

#include <ATen/ATen.h>

#include "config/config.h"
#include "core/error.h"
#include "io/atomic_file.h"
#include "io/pth.h"
#include "rewards/aesthetic.h"
#include "rewards/jpeg.h"
#include "rewards/registry.h"
#include "rewards/reward_checks.h"
#include "rewards/torchscript.h"
#include "test_util.h"

namespace nablagfn {
namespace {

using test::expect_error;

std::string temp_file(const std::string& name, const std::string& bytes) {
  return test::temp_file("test_reward_errors_" + name, bytes);
}

TEST(RewardErrors, PthReadsAModuleStateDictWithMetadata) {
  TensorMap t = load_pth(test::data_path("pth/module_state_dict.pth"));
  ASSERT_EQ(t.size(), 4u);
  EXPECT_EQ(t.at("0.weight").sizes(), (std::vector<int64_t>{3, 4}));
  EXPECT_EQ(t.at("2.weight").sizes(), (std::vector<int64_t>{1, 3}));
  EXPECT_EQ(t.at("2.bias").sizes(), (std::vector<int64_t>{1}));
}

TEST(RewardErrors, PthUnwrapsStateDict) {
  TensorMap t = load_pth(test::data_path("openclip_hps_tiny/hps_checkpoint.pt"));
  EXPECT_TRUE(t.count("visual.conv1.weight"));
  EXPECT_FALSE(t.count("state_dict"));
}

TEST(RewardErrors, MalformedPthFiles) {
  expect_error([] { load_pth(temp_file("text.pth", "this is not a checkpoint")); }, {"not a torch.save zip archive"});
  expect_error([] { load_pth(temp_file("empty.pth", "")); }, {"not a torch.save zip archive"});
  expect_error([] { load_pth(test::data_path("pth/legacy.pth")); }, {"legacy"});
  const std::string head = read_file(test::data_path("clip_vision_tiny/aesthetic_head.pth"));
  expect_error([&] { load_pth(temp_file("truncated.pth", head.substr(0, head.size() / 2))); },
               {"corrupt zip archive", "no end of central directory"});
  expect_error([] { load_pth(test::data_path("pth/not_a_dict.pth")); }, {"not a state dict"});
  expect_error([] { load_pth(test::data_path("pth/non_tensor_value.pth")); }, {"'epoch'", "not a tensor"});
  expect_error([] { load_pth(test::data_path("pth/missing.pth")); }, {"cannot open"});
}

TEST(RewardErrors, PthRecordWithAFlippedByteFailsItsCRC) {
  // libtorch's own reader (miniz built without CRC checks) loads this file with one weight changed.
  const std::string good = read_file(test::data_path("pth/module_state_dict.pth"));
  const at::Tensor w = load_pth(test::data_path("pth/module_state_dict.pth")).at("0.weight");
  const size_t at = good.find(std::string(static_cast<const char*>(w.data_ptr()), w.nbytes()));
  ASSERT_NE(at, std::string::npos);
  std::string bad = good;
  bad[at + 5] ^= 0x10;
  expect_error([&] { load_pth(temp_file("flipped.pth", bad)); }, {"record 'data/", "fails its CRC-32 check"});
}

TEST(RewardErrors, AestheticHeadThatDoesNotFitTheTower) {
  RewardConfig config;
  config.path = test::data_path("clip_model_tiny/model");  // projection width 12
  config.head_path = test::data_path("clip_vision_tiny/aesthetic_head.pth");  // takes 16
  expect_error([&] { make_aesthetic_reward(config, at::kCPU); }, {"16-d", "12-d"});
}

TEST(RewardErrors, AestheticHeadWithWrongLayers) {
  expect_error([] { load_aesthetic_head(test::data_path("pth/module_state_dict.pth")); }, {"not an aesthetic head"});
}

TEST(RewardErrors, AestheticNeedsPaths) {
  RewardConfig config;
  config.path.clear();
  expect_error([&] { reward_registry().create("aesthetic", config, at::kCPU); }, {"reward.path"});
}

TEST(RewardErrors, UnknownRewardNameListsRegisteredOnes) {
  RewardConfig config;
  expect_error([&] { reward_registry().create("aesthetics", config, at::kCPU); },
               {"unknown reward 'aesthetics'", "aesthetic", "clip_score", "hps", "jpeg_compressibility", "linear",
                "pickscore", "quadratic", "torchscript"});
}

TEST(RewardErrors, TorchscriptWithAnotherSignature) {
  RewardConfig config;
  config.path = test::data_path("torchscript/bad_signature.pt");
  expect_error([&] { make_torchscript_reward(config, at::kCPU); }, {"neither (Tensor) nor (Tensor, List[str])"});
  config.path = test::data_path("pth/not_a_dict.pth");
  expect_error([&] { make_torchscript_reward(config, at::kCPU); }, {"cannot load TorchScript reward"});
}

TEST(RewardErrors, JpegWithAGradientAlgorithm) {
  RewardConfig config;
  std::unique_ptr<Reward> jpeg = reward_registry().create("jpeg_compressibility", config, at::kCPU);
  EXPECT_FALSE(jpeg->differentiable());
  expect_error([&] { require_differentiable(*jpeg, "nabla_db"); },
               {"nabla_db", "jpeg_compressibility", "not differentiable"});
  std::unique_ptr<Reward> linear = reward_registry().create("linear", config, at::kCPU);
  EXPECT_NO_THROW(require_differentiable(*linear, "nabla_db"));
}

}  // namespace
}  // namespace nablagfn
