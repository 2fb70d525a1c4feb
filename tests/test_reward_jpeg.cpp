// JPEG compressibility (DDPO's reward): negative kB of a quality-95 JPEG, detached, not differentiable.
#include <ATen/ATen.h>

#include "config/config.h"
#include "rewards/jpeg.h"
#include "rewards/registry.h"
#include "test_util.h"

namespace nablagfn {
namespace {

TEST(RewardJpeg, FlatImagesCompressBetterThanNoise) {
  ASSERT_TRUE(jpeg_available());
  RewardConfig config;
  std::unique_ptr<Reward> reward = reward_registry().create("jpeg_compressibility", config, at::kCPU);
  EXPECT_FALSE(reward->differentiable());
  EXPECT_FALSE(reward->uses_prompt());
  at::manual_seed(0);
  at::Tensor images = at::stack({at::full({3, 64, 64}, 0.5), at::rand({3, 64, 64})}).requires_grad_(true);
  at::Tensor score = reward->score(images, {"", ""});
  ASSERT_EQ(score.sizes(), (std::vector<int64_t>{2}));
  EXPECT_FALSE(score.requires_grad());
  EXPECT_LT(score[0].item<float>(), 0.0f);
  EXPECT_GT(score[0].item<float>(), score[1].item<float>());
  // Noise at quality 95 costs several bits per pixel: well above 4 kB for 64x64x3.
  EXPECT_LT(score[1].item<float>(), -4.0f);
  // The score is the encoded size: -bytes / 1000, and the uint8 quantisation is ddpo's round().
  at::Tensor u8 = (images[1].detach() * 255).round().clamp(0, 255).to(at::kByte);
  EXPECT_FLOAT_EQ(score[1].item<float>(), -static_cast<float>(jpeg_encoded_size(u8, 95)) / 1000.0f);
}

}  // namespace
}  // namespace nablagfn
