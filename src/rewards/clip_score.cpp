// PickScore / CLIP score reward; see clip_score.h for the reference and what changed.
#include "rewards/clip_score.h"

#include <filesystem>

#include <torch/torch.h>

#include "core/error.h"
#include "rewards/image_preprocess.h"
#include "rewards/reward_checks.h"

namespace nablagfn {

CLIPTokenizer load_reward_tokenizer(const std::string& path, CLIPTokenizerOptions options) {
  namespace fs = std::filesystem;
  const fs::path dir = fs::is_directory(path) ? fs::path(path) : fs::path(path).parent_path();
  for (const fs::path& candidate : {dir, dir / "tokenizer"})
    if (fs::exists(candidate / "vocab.json") && fs::exists(candidate / "merges.txt"))
      return CLIPTokenizer::from_folder(candidate.string(), options);
  throw Error("no CLIP tokenizer (vocab.json + merges.txt) next to '" + path + "'",
              "copy vocab.json and merges.txt of any Stable Diffusion tokenizer/ folder (the same CLIP BPE) into '" +
                  dir.string() + "' or its tokenizer/ subfolder");
}

CLIPScoreReward::CLIPScoreReward(std::string name, CLIPModel model, CLIPTokenizer tokenizer, CLIPScoreVariant variant)
    : name_(std::move(name)), model_(std::move(model)), tokenizer_(std::move(tokenizer)), variant_(variant) {
  model_->eval();
  for (auto& p : model_->parameters()) p.set_requires_grad(false);
}

void CLIPScoreReward::to(c10::Device device, at::ScalarType dtype) {
  model_->to(device, dtype);
  dtype_ = dtype;
}

at::Tensor CLIPScoreReward::score(const at::Tensor& images, const std::vector<std::string>& prompts) {
  check_reward_inputs(*this, images, prompts, dtype_);
  at::Tensor image_embeds = image_embedding(images);  // [B, E]
  at::Tensor text_embeds;
  {
    torch::NoGradGuard no_grad;  // prompts are constants: no graph through the text tower
    at::Tensor ids = tokenizer_.encode_batch(prompts).to(images.device());  // [B, L]
    text_embeds = model_->get_text_features(ids);                          // [B, E]
    text_embeds = text_embeds / text_embeds.norm(2, -1, /*keepdim=*/true);
  }
  at::Tensor cosine = (image_embeds * text_embeds).sum(-1);  // [B, E] -> [B]
  return variant_.logit_scale ? model_->logit_scale.exp() * cosine : cosine;
}

at::Tensor CLIPScoreReward::image_embedding(const at::Tensor& images) {
  const int64_t S = model_->config().vision.image_size;
  at::Tensor pixel_values =
      variant_.pad_to_square ? hps_preprocess(images, S) : clip_preprocess(images, S);  // [B, 3, S, S]
  at::Tensor embeds = model_->get_image_features(pixel_values);                       // [B, E]
  return embeds / embeds.norm(2, -1, /*keepdim=*/true);
}

std::unique_ptr<CLIPScoreReward> make_clip_score_reward(const std::string& name, const RewardConfig& config,
                                                        c10::Device device) {
  require(!config.path.empty(), "reward '" + name + "' needs reward.path",
          "a transformers CLIPModel folder, e.g. yuvalkirstain/PickScore_v1 (config.json + model.safetensors)");
  CLIPModel model = load_clip_model(config.path);
  CLIPTokenizerOptions options;
  options.max_length = model->config().text.max_position_embeddings;
  auto reward = std::make_unique<CLIPScoreReward>(name, model, load_reward_tokenizer(config.path, options));
  reward->to(device, at::kFloat);
  return reward;
}

}  // namespace nablagfn
