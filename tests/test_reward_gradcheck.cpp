// Gradient checks of every differentiable reward's image gradient: central finite differences in double
// precision along unit directions v (the gradient's own, then random ones), (r(x + h v) − r(x − h v)) / 2h,
// against <∇_x r, v> from backprop, compared as max |difference| / max |<∇_x r, v>|. The image rewards run
// in float64 (to(kDouble)) on a small non-square input, so the bicubic resize / padding of their
// preprocessing is covered too.
#include <functional>

#include <ATen/ATen.h>
#include <torch/torch.h>

#include "config/config.h"
#include "rewards/aesthetic.h"
#include "rewards/clip_score.h"
#include "rewards/hps.h"
#include "rewards/registry.h"
#include "rewards/torchscript.h"
#include "test_util.h"

namespace nablagfn {
namespace {

using RewardFn = std::function<at::Tensor(const at::Tensor&)>;

// max over directions |fd − backprop| / max over directions |backprop|; direction 0 is ∇_x r / |∇_x r|.
double directional_gradcheck(const RewardFn& r, const at::Tensor& x0, double h, int n_directions) {
  at::Tensor x = x0.detach().clone().requires_grad_(true);
  at::Tensor grad = torch::autograd::grad({r(x).sum()}, {x})[0];
  torch::NoGradGuard no_grad;
  at::Tensor fd = at::empty({n_directions}, at::kDouble), bp = at::empty({n_directions}, at::kDouble);
  for (int k = 0; k < n_directions; ++k) {
    at::Tensor v = k == 0 ? grad.clone() : at::randn_like(x0);
    v = v / v.norm();
    const double plus = r(x0 + h * v).sum().item<double>(), minus = r(x0 - h * v).sum().item<double>();
    fd[k] = (plus - minus) / (2 * h);
    bp[k] = (grad * v).sum().item<double>();
  }
  return test::rel_err(fd, bp);
}

at::Tensor tiny_images() {
  at::manual_seed(0);
  return 0.1 + 0.8 * at::rand({2, 3, 20, 28}, at::kDouble);  // [B, 3, H, W] in [0.1, 0.9]
}

// Everything runs in float64 (compat::attention_reference keeps float64 through the softmax), so the
// central difference's error is its truncation, O(h^2): at h = 3e-3 it measured 4.4e-7, 1.3e-6 and 5.2e-7
// (aesthetic, pickscore, hps); at h = 1e-4 that shrinks ~900-fold while float64 rounding stays ~1e-12.
constexpr double kStep = 1e-4;
constexpr double kTolerance = 1e-6;

TEST(RewardGradcheck, Aesthetic) {
  RewardConfig config;
  config.path = test::data_path("clip_vision_tiny/vision_model");
  config.head_path = test::data_path("clip_vision_tiny/aesthetic_head.safetensors");
  auto reward = make_aesthetic_reward(config, at::kCPU);
  reward->to(at::kCPU, at::kDouble);
  RewardFn r = [&](const at::Tensor& x) { return reward->score(x, {"", ""}); };
  EXPECT_ERR_LE(directional_gradcheck(r, tiny_images(), kStep, 6), kTolerance);
}

TEST(RewardGradcheck, ClipModelPickscore) {
  RewardConfig config;
  config.path = test::data_path("clip_model_tiny/model");
  auto reward = make_clip_score_reward("pickscore", config, at::kCPU);
  reward->to(at::kCPU, at::kDouble);
  RewardFn r = [&](const at::Tensor& x) { return reward->score(x, {"a photo of a cat", "a dog"}); };
  EXPECT_ERR_LE(directional_gradcheck(r, tiny_images(), kStep, 6), kTolerance);
}

TEST(RewardGradcheck, Hps) {
  RewardConfig config;
  config.path = test::data_path("openclip_hps_tiny/model.safetensors");
  auto reward = make_hps_reward(config, at::kCPU);
  reward->to(at::kCPU, at::kDouble);
  RewardFn r = [&](const at::Tensor& x) { return reward->score(x, {"a photo of a cat", "a dog"}); };
  EXPECT_ERR_LE(directional_gradcheck(r, tiny_images(), kStep, 6), kTolerance);
}

TEST(RewardGradcheck, TorchscriptWithPrompts) {
  RewardConfig config;
  config.path = test::data_path("torchscript/prompt_reward.pt");
  auto reward = make_torchscript_reward(config, at::kCPU);
  reward->to(at::kCPU, at::kDouble);
  RewardFn r = [&](const at::Tensor& x) { return reward->score(x, {"a photo of a cat", "a dog"}); };
  EXPECT_ERR_LE(directional_gradcheck(r, tiny_images(), kStep, 6), kTolerance);
}

TEST(RewardGradcheck, TorchscriptTraced) {
  RewardConfig config;
  config.path = test::data_path("torchscript/image_reward.pt");
  auto reward = make_torchscript_reward(config, at::kCPU);
  reward->to(at::kCPU, at::kDouble);
  RewardFn r = [&](const at::Tensor& x) { return reward->score(x, {}); };
  EXPECT_ERR_LE(directional_gradcheck(r, tiny_images(), kStep, 6), kTolerance);
}

// The analytic rewards take points [B, D] and keep float64 (a central difference is exact for linear and
// quadratic functions up to rounding).
TEST(RewardGradcheck, LinearAndQuadratic) {
  RewardConfig config;
  at::manual_seed(0);
  at::Tensor points = at::randn({4, 2}, at::kDouble);
  for (const char* name : {"linear", "quadratic"}) {
    std::unique_ptr<Reward> reward = reward_registry().create(name, config, at::kCPU);
    RewardFn r = [&](const at::Tensor& x) { return reward->score(x, {}); };
    EXPECT_ERR_LE(directional_gradcheck(r, points, kStep, 6), 1e-8) << name;
  }
}

// The fashion default: float64 all the way, so the finite differences match to rounding; plus its known
// values (uniform grey -> 0, black and white -> 1, images in [0, 1] give [0, 1]).
TEST(RewardGradcheck, Contrast) {
  RewardConfig config;
  config.name = "contrast";
  auto reward = reward_registry().create("contrast", config, at::kCPU);
  RewardFn r = [&](const at::Tensor& x) { return reward->score(x, {"", ""}); };
  EXPECT_LE(directional_gradcheck(r, tiny_images(), 1e-4, 6), 1e-6);
  at::Tensor grey = at::full({1, 1, 4, 4}, 0.5), ink = at::zeros({1, 1, 4, 4});
  ink.slice(3, 0, 2).fill_(1.0);  // left half white, right half black
  EXPECT_NEAR(reward->score(grey, {""}).item<double>(), 0.0, 1e-7);
  EXPECT_NEAR(reward->score(ink, {""}).item<double>(), 1.0, 1e-7);
  at::Tensor quarter = at::full({1, 1, 4, 4}, 0.25);  // (2 * 0.25 - 1)^2 = 0.25
  EXPECT_NEAR(reward->score(quarter, {""}).item<double>(), 0.25, 1e-7);
}

}  // namespace
}  // namespace nablagfn
