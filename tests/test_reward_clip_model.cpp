// Parity of the two-tower CLIPModel and the PickScore / CLIP-score reward against transformers' CLIPModel
// (fixture clip_model_tiny): token ids, image and text embeddings, exp(logit_scale)·cos score, and its
// gradient w.r.t. the pixels.
#include <ATen/ATen.h>
#include <torch/torch.h>

#include "config/config.h"
#include "io/tensor_io.h"
#include "models/clip_model.h"
#include "rewards/clip_score.h"
#include "rewards/image_preprocess.h"
#include "rewards/registry.h"
#include "test_util.h"

namespace nablagfn {
namespace {

const std::vector<std::string> kPrompts = {"a photo of a cat", "an astronaut riding a horse on mars"};

TensorMap clip_model_io() { return load_safetensors(test::data_path("clip_model_tiny/io.safetensors")); }
at::Tensor clip_std() { return at::tensor({kCLIPStd[0], kCLIPStd[1], kCLIPStd[2]}, at::kFloat).view({1, 3, 1, 1}); }
at::Tensor clip_mean() { return at::tensor({kCLIPMean[0], kCLIPMean[1], kCLIPMean[2]}, at::kFloat).view({1, 3, 1, 1}); }

TEST(RewardClipModel, TokenIdsMatchCLIPTokenizer) {
  TensorMap io = clip_model_io();
  CLIPTokenizerOptions options;
  options.max_length = 77;
  CLIPTokenizer tokenizer = load_reward_tokenizer(test::data_path("clip_model_tiny/model"), options);
  EXPECT_TRUE(at::equal(tokenizer.encode_batch(kPrompts), io.at("input_ids").to(at::kLong)));
}

TEST(RewardClipModel, EmbeddingsScoreAndPixelGradientMatchTransformers) {
  TensorMap io = clip_model_io();
  CLIPModel model = load_clip_model(test::data_path("clip_model_tiny/model"));
  at::Tensor text_embeds = model->get_text_features(io.at("input_ids").to(at::kLong));  // [B, E]
  EXPECT_CLOSE(text_embeds, io.at("text_embeds"), 1e-4);
  at::Tensor pixel_values = io.at("pixel_values").clone().requires_grad_(true);
  at::Tensor image_embeds = model->get_image_features(pixel_values);  // [B, E]
  EXPECT_CLOSE(image_embeds, io.at("image_embeds"), 1e-4);
  at::Tensor cos = (image_embeds / image_embeds.norm(2, -1, true) * (text_embeds / text_embeds.norm(2, -1, true)))
                       .sum(-1);                      // [B]
  at::Tensor score = model->logit_scale.exp() * cos;  // [B]
  EXPECT_CLOSE(score, io.at("score"), 1e-4);
  score.sum().backward();
  EXPECT_CLOSE(pixel_values.grad(), io.at("grad_pixel_values"), 1e-3);
}

// The registered rewards on [0, 1] images (32x32 = the tower size: the resize is the identity), with the
// tokenizer read from the model folder. d score / d image = d score / d pixel_values / std.
void check_reward(const std::string& name) {
  TensorMap io = clip_model_io();
  RewardConfig config;
  config.path = test::data_path("clip_model_tiny/model");
  std::unique_ptr<Reward> reward = reward_registry().create(name, config, at::kCPU);
  EXPECT_EQ(reward->name(), name);
  EXPECT_TRUE(reward->differentiable());
  EXPECT_TRUE(reward->uses_prompt());
  at::Tensor images = (io.at("pixel_values") * clip_std() + clip_mean()).requires_grad_(true);
  at::Tensor score = reward->score(images, kPrompts);
  ASSERT_EQ(score.sizes(), (std::vector<int64_t>{2}));
  EXPECT_EQ(score.scalar_type(), at::kFloat);
  EXPECT_CLOSE(score, io.at("score"), 1e-4);
  score.sum().backward();
  EXPECT_CLOSE(images.grad(), io.at("grad_pixel_values") / clip_std(), 1e-3);
}

TEST(RewardClipModel, PickscoreRewardMatchesFixture) { check_reward("pickscore"); }
TEST(RewardClipModel, ClipScoreRewardMatchesFixture) { check_reward("clip_score"); }

}  // namespace
}  // namespace nablagfn
