// HPSv2.1 reward; see hps.h for the reference and what changed.
#include "rewards/hps.h"

#include <filesystem>

#include <torch/torch.h>

#include "core/error.h"
#include "models/open_clip.h"
#include "rewards/clip_score.h"
#include "rewards/image_preprocess.h"
#include "rewards/reward_checks.h"

namespace nablagfn {

HPSReward::HPSReward(CLIPModel model, CLIPTokenizer tokenizer)
    : model_(std::move(model)), tokenizer_(std::move(tokenizer)) {
  model_->eval();
  for (auto& p : model_->parameters()) p.set_requires_grad(false);
}

void HPSReward::to(c10::Device device, at::ScalarType dtype) {
  model_->to(device, dtype);
  dtype_ = dtype;
}

at::Tensor HPSReward::score(const at::Tensor& images, const std::vector<std::string>& prompts) {
  check_reward_inputs(*this, images, prompts, dtype_);
  at::Tensor image_features = image_embedding(images);  // [B, E]
  at::Tensor text_features;
  {
    torch::NoGradGuard no_grad;  // prompts are constants: no graph through the text tower
    at::Tensor ids = tokenizer_.encode_batch(prompts).to(images.device());  // [B, L]
    text_features = model_->get_text_features(ids);                        // [B, E]
    text_features = text_features / text_features.norm(2, -1, /*keepdim=*/true);
  }
  return (image_features * text_features).sum(-1);  // [B, E] -> [B]
}

at::Tensor HPSReward::image_embedding(const at::Tensor& images) {
  at::Tensor pixel_values = hps_preprocess(images, model_->config().vision.image_size);  // [B, 3, S, S]
  at::Tensor embeds = model_->get_image_features(pixel_values);  // [B, E]
  return embeds / embeds.norm(2, -1, /*keepdim=*/true);
}

std::unique_ptr<HPSReward> make_hps_reward(const RewardConfig& config, c10::Device device) {
  namespace fs = std::filesystem;
  require(!config.path.empty(), "reward 'hps' needs reward.path",
          "the open_clip weights: HPS_v2.1_compressed.pt (from xswu/HPSv2) or a model.safetensors");
  const fs::path config_path = fs::path(config.path).parent_path() / "open_clip_config.json";
  const OpenCLIPConfig open_clip =
      fs::exists(config_path) ? load_open_clip_config(config_path.string()) : open_clip_vit_h_14();
  CLIPModel model = load_open_clip_model(config.path, open_clip);
  CLIPTokenizerOptions options;
  options.max_length = open_clip.text.context_length;
  options.pad_id = 0;  // open_clip pads with 0
  auto reward = std::make_unique<HPSReward>(model, load_reward_tokenizer(config.path, options));
  reward->to(device, at::kFloat);
  return reward;
}

}  // namespace nablagfn
