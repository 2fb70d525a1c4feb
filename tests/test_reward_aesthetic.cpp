// Parity of the aesthetic reward against transformers' CLIPVisionModelWithProjection + LAION's MLP head
// (fixture clip_vision_tiny): image embeddings, last hidden state, score and its gradient w.r.t. the pixels,
// with the head read from .safetensors and from a torch.save .pth.
#include <ATen/ATen.h>
#include <torch/torch.h>

#include "config/config.h"
#include "core/error.h"
#include "io/pth.h"
#include "io/tensor_io.h"
#include "models/clip_vision.h"
#include "rewards/aesthetic.h"
#include "rewards/image_preprocess.h"
#include "test_util.h"

namespace nablagfn {
namespace {

TensorMap aesthetic_io() { return load_safetensors(test::data_path("clip_vision_tiny/io.safetensors")); }

// The fixture's pixel_values are normalised; the reward takes [0, 1] images: undo clip_normalize.
at::Tensor unnormalize(const at::Tensor& pixel_values) {
  at::Tensor mean = at::tensor({kCLIPMean[0], kCLIPMean[1], kCLIPMean[2]}, at::kFloat).view({1, 3, 1, 1});
  at::Tensor std = at::tensor({kCLIPStd[0], kCLIPStd[1], kCLIPStd[2]}, at::kFloat).view({1, 3, 1, 1});
  return pixel_values * std + mean;
}

TEST(RewardAesthetic, VisionTowerMatchesTransformers) {
  TensorMap io = aesthetic_io();
  CLIPVisionModelWithProjection vision = load_clip_vision_model(test::data_path("clip_vision_tiny/vision_model"));
  torch::NoGradGuard no_grad;
  CLIPVisionProjectionOutput out = vision(io.at("pixel_values"));
  EXPECT_CLOSE(out.image_embeds, io.at("image_embeds"), 1e-4);
  EXPECT_CLOSE(out.last_hidden_state, io.at("last_hidden_state"), 1e-4);
}

TEST(RewardAesthetic, HeadFromSafetensorsAndPthAreEqual) {
  TensorMap st = load_tensors(test::data_path("clip_vision_tiny/aesthetic_head.safetensors"));
  TensorMap pth = load_pth(test::data_path("clip_vision_tiny/aesthetic_head.pth"));
  ASSERT_EQ(st.size(), pth.size());
  for (const auto& kv : st) {
    ASSERT_TRUE(pth.count(kv.first)) << kv.first;
    EXPECT_TRUE(at::equal(kv.second, pth.at(kv.first))) << kv.first;
  }
}

// Score and pixel gradient through the tower + head, for a head file in either format.
void check_score_and_gradient(const std::string& head_file) {
  TensorMap io = aesthetic_io();
  CLIPVisionModelWithProjection vision = load_clip_vision_model(test::data_path("clip_vision_tiny/vision_model"));
  AestheticHead head = load_aesthetic_head(test::data_path("clip_vision_tiny/" + head_file));
  at::Tensor pixel_values = io.at("pixel_values").clone().requires_grad_(true);
  at::Tensor embeds = vision(pixel_values).image_embeds;              // [B, E]
  at::Tensor score = head(embeds / embeds.norm(2, -1, true));          // [B, 1]
  EXPECT_CLOSE(score, io.at("aesthetic_score"), 1e-4);
  score.sum().backward();
  EXPECT_CLOSE(pixel_values.grad(), io.at("grad_pixel_values"), 1e-3);
}

TEST(RewardAesthetic, ScoreAndPixelGradientHeadSafetensors) { check_score_and_gradient("aesthetic_head.safetensors"); }
TEST(RewardAesthetic, ScoreAndPixelGradientHeadPth) { check_score_and_gradient("aesthetic_head.pth"); }

// The registered reward on [0, 1] images: 32x32 input equals the tower size, so the resize is the identity
// and d score / d image = d score / d pixel_values / std.
TEST(RewardAesthetic, RewardFromConfigMatchesFixture) {
  TensorMap io = aesthetic_io();
  RewardConfig config;
  config.path = test::data_path("clip_vision_tiny/vision_model");
  config.head_path = test::data_path("clip_vision_tiny/aesthetic_head.pth");
  auto reward = make_aesthetic_reward(config, at::kCPU);
  EXPECT_TRUE(reward->differentiable());
  EXPECT_FALSE(reward->uses_prompt());
  at::Tensor images = unnormalize(io.at("pixel_values")).requires_grad_(true);
  at::Tensor score = reward->score(images, {"", ""});
  ASSERT_EQ(score.sizes(), (std::vector<int64_t>{2}));
  EXPECT_EQ(score.scalar_type(), at::kFloat);
  EXPECT_CLOSE(score, io.at("aesthetic_score").view({2}), 1e-4);
  score.sum().backward();
  at::Tensor std = at::tensor({kCLIPStd[0], kCLIPStd[1], kCLIPStd[2]}, at::kFloat).view({1, 3, 1, 1});
  EXPECT_CLOSE(images.grad(), io.at("grad_pixel_values") / std, 1e-3);
}

// The image tower can also come from a full CLIPModel folder (openai/clip-vit-large-patch14 ships one):
// its text side is ignored, and the embeddings equal CLIPModel.get_image_features.
TEST(RewardAesthetic, VisionTowerFromCLIPModelFolder) {
  TensorMap io = load_safetensors(test::data_path("clip_model_tiny/io.safetensors"));
  CLIPVisionModelWithProjection vision = load_clip_vision_model(test::data_path("clip_model_tiny/model"));
  torch::NoGradGuard no_grad;
  EXPECT_CLOSE(vision(io.at("pixel_values")).image_embeds, io.at("image_embeds"), 1e-4);
}

}  // namespace
}  // namespace nablagfn
