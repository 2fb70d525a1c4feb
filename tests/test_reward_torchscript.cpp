// The TorchScript plug-in reward against the outputs and input gradients Python computed for the same
// modules (tests/data/torchscript/make_torchscript_rewards.py): a scripted (images, prompts) module and a
// traced (images) one.
#include <ATen/ATen.h>

#include "config/config.h"
#include "io/pth.h"
#include "rewards/registry.h"
#include "test_util.h"

namespace nablagfn {
namespace {

void check_module(const std::string& file, const std::string& prefix, bool uses_prompt) {
  TensorMap expected = load_pth(test::data_path("torchscript/expected.pt"));
  RewardConfig config;
  config.name = "torchscript";
  config.path = test::data_path("torchscript/" + file);
  std::unique_ptr<Reward> reward = reward_registry().create("torchscript", config, at::kCPU);
  EXPECT_TRUE(reward->differentiable());
  EXPECT_EQ(reward->uses_prompt(), uses_prompt);
  at::Tensor images = expected.at("images").clone().requires_grad_(true);
  at::Tensor score = reward->score(images, {"a photo of a cat", "an astronaut riding a horse"});
  EXPECT_CLOSE(score, expected.at(prefix + "_score"), 1e-5);
  score.sum().backward();
  EXPECT_CLOSE(images.grad(), expected.at(prefix + "_grad"), 1e-5);
}

TEST(RewardTorchscript, ScriptedWithPromptsMatchesPython) { check_module("prompt_reward.pt", "prompt", true); }
TEST(RewardTorchscript, TracedImagesOnlyMatchesPython) { check_module("image_reward.pt", "image", false); }

}  // namespace
}  // namespace nablagfn
