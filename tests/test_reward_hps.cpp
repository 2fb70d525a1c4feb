// Parity of the HPSv2 reward against open_clip (fixture openclip_hps_tiny, an open_clip CLIP in the ViT-H-14
// layout family): open_clip token ids, normalised image and text features, cosine score and its gradient
// w.r.t. the pixels, with the weights read from model.safetensors and from the torch.save checkpoint.
#include <ATen/ATen.h>
#include <torch/torch.h>

#include "config/config.h"
#include "io/tensor_io.h"
#include "models/open_clip.h"
#include "rewards/clip_score.h"
#include "rewards/hps.h"
#include "rewards/image_preprocess.h"
#include "test_util.h"

namespace nablagfn {
namespace {

const std::vector<std::string> kPrompts = {"a photo of a cat", "An Astronaut riding a horse on Mars!"};

TensorMap hps_io() { return load_safetensors(test::data_path("openclip_hps_tiny/io.safetensors")); }
at::Tensor clip_std() { return at::tensor({kCLIPStd[0], kCLIPStd[1], kCLIPStd[2]}, at::kFloat).view({1, 3, 1, 1}); }
at::Tensor clip_mean() { return at::tensor({kCLIPMean[0], kCLIPMean[1], kCLIPMean[2]}, at::kFloat).view({1, 3, 1, 1}); }

TEST(RewardHps, TokenIdsMatchOpenCLIP) {
  CLIPTokenizerOptions options;
  options.pad_id = 0;
  CLIPTokenizer tokenizer = load_reward_tokenizer(test::data_path("openclip_hps_tiny/model.safetensors"), options);
  EXPECT_TRUE(at::equal(tokenizer.encode_batch(kPrompts), hps_io().at("input_ids").to(at::kLong)));
}

TEST(RewardHps, OpenCLIPConfigMapsOntoCLIPModel) {
  OpenCLIPConfig oc = load_open_clip_config(test::data_path("openclip_hps_tiny/open_clip_config.json"));
  CLIPModelConfig c = to_clip_model_config(oc);
  EXPECT_EQ(c.projection_dim, 12);
  EXPECT_EQ(c.vision.encoder.num_attention_heads, 4);  // width 32 / head_width 8
  EXPECT_EQ(c.vision.encoder.intermediate_size, 128);
  EXPECT_EQ(c.text.encoder.intermediate_size, 64);
  EXPECT_EQ(c.vision.encoder.hidden_act, CLIPActivation::GELU);
  OpenCLIPConfig h14 = open_clip_vit_h_14();
  EXPECT_EQ(to_clip_model_config(h14).vision.encoder.num_attention_heads, 16);  // 1280 / 80
}

// Features, score and pixel gradient of the open_clip model loaded from one weights file.
void check_features(const std::string& weights_file) {
  TensorMap io = hps_io();
  const OpenCLIPConfig config = load_open_clip_config(test::data_path("openclip_hps_tiny/open_clip_config.json"));
  CLIPModel model = load_open_clip_model(test::data_path("openclip_hps_tiny/" + weights_file), config);
  at::Tensor text = model->get_text_features(io.at("input_ids").to(at::kLong));  // [B, E]
  text = text / text.norm(2, -1, true);
  // Tolerances here and below: about 10x the errors measured on libtorch 1.13 (text 5.6e-7, image 2.2e-7,
  // score 2.4e-6, pixel gradient 4.6e-7).
  EXPECT_CLOSE(text, io.at("text_features"), 5e-6);
  at::Tensor pixel_values = io.at("pixel_values").clone().requires_grad_(true);
  at::Tensor image = model->get_image_features(pixel_values);  // [B, E]
  image = image / image.norm(2, -1, true);
  EXPECT_CLOSE(image, io.at("image_features"), 5e-6);
  at::Tensor score = (image * text).sum(-1);  // [B]
  EXPECT_CLOSE(score, io.at("score"), 3e-5);
  score.sum().backward();
  EXPECT_CLOSE(pixel_values.grad(), io.at("grad_pixel_values"), 5e-6);
}

TEST(RewardHps, FeaturesScoreAndGradientFromSafetensors) { check_features("model.safetensors"); }
TEST(RewardHps, FeaturesScoreAndGradientFromTorchSaveCheckpoint) { check_features("hps_checkpoint.pt"); }

// The registered reward on [0, 1] images: 32x32 is the tower size, so resize and padding are the identity
// and d score / d image = d score / d pixel_values / std.
void check_reward(const std::string& weights_file) {
  TensorMap io = hps_io();
  RewardConfig config;
  config.path = test::data_path("openclip_hps_tiny/" + weights_file);
  auto reward = make_hps_reward(config, at::kCPU);
  EXPECT_TRUE(reward->differentiable());
  EXPECT_TRUE(reward->uses_prompt());
  at::Tensor images = (io.at("pixel_values") * clip_std() + clip_mean()).requires_grad_(true);
  at::Tensor score = reward->score(images, kPrompts);
  ASSERT_EQ(score.sizes(), (std::vector<int64_t>{2}));
  EXPECT_CLOSE(score, io.at("score"), 3e-5);
  score.sum().backward();
  EXPECT_CLOSE(images.grad(), io.at("grad_pixel_values") / clip_std(), 5e-6);
}

TEST(RewardHps, RewardFromSafetensorsMatchesFixture) { check_reward("model.safetensors"); }
TEST(RewardHps, RewardFromCheckpointMatchesFixture) { check_reward("hps_checkpoint.pt"); }

// open_clip ResizeMaxSize: a 16x32 image keeps its size (longer side = 32) and gets 8 rows of zero padding
// above and below, normalised like black pixels.
TEST(RewardHps, PreprocessPadsTheShorterSide) {
  auto normalized = [](double value) { return (at::full({1, 3, 1, 1}, value) - clip_mean()) / clip_std(); };
  at::Tensor x = hps_preprocess(at::full({1, 3, 16, 32}, 0.5, at::kFloat), 32);
  ASSERT_EQ(x.sizes(), (std::vector<int64_t>{1, 3, 32, 32}));
  EXPECT_CLOSE(x.slice(2, 0, 8), normalized(0.0).expand({1, 3, 8, 32}), 1e-6);
  EXPECT_CLOSE(x.slice(2, 8, 24), normalized(0.5).expand({1, 3, 16, 32}), 1e-6);
  EXPECT_CLOSE(x.slice(2, 24, 32), normalized(0.0).expand({1, 3, 8, 32}), 1e-6);
  // 64x48: scaled by 1/2 to 32x24, 4 columns of padding left and right.
  at::Tensor y = hps_preprocess(at::full({1, 3, 64, 48}, 0.5, at::kFloat), 32);
  ASSERT_EQ(y.sizes(), (std::vector<int64_t>{1, 3, 32, 32}));
  EXPECT_CLOSE(y.slice(3, 0, 4), normalized(0.0).expand({1, 3, 32, 4}), 1e-6);
  EXPECT_CLOSE(y.slice(3, 4, 28), normalized(0.5).expand({1, 3, 32, 24}), 1e-5);
  EXPECT_CLOSE(y.slice(3, 28, 32), normalized(0.0).expand({1, 3, 32, 4}), 1e-6);
}

}  // namespace
}  // namespace nablagfn
