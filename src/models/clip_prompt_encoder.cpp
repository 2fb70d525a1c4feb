// CLIP prompt encoder; see clip_prompt_encoder.h for the reference.
#include "models/clip_prompt_encoder.h"

#include <filesystem>

#include <torch/torch.h>

#include "core/error.h"
#include "core/log.h"

namespace nablagfn {

CLIPPromptEncoder::CLIPPromptEncoder(CLIPTokenizer tokenizer, CLIPTextModel model, c10::Device device,
                                     c10::ScalarType dtype)
    : tokenizer_(std::move(tokenizer)), model_(std::move(model)), device_(device), dtype_(dtype) {
  TORCH_CHECK(tokenizer_.max_length() <= model_->config().max_position_embeddings, "CLIPPromptEncoder: tokenizer ",
              "max_length ", tokenizer_.max_length(), " exceeds the model's max_position_embeddings ",
              model_->config().max_position_embeddings);
  model_->to(device_, dtype_);
  model_->eval();
  for (auto& p : model_->parameters()) p.set_requires_grad(false);
}

CLIPPromptEncoder CLIPPromptEncoder::from_folder(const std::string& model_dir, c10::Device device,
                                                 c10::ScalarType dtype) {
  namespace fs = std::filesystem;
  const fs::path dir(model_dir);
  require(fs::is_directory(dir / "tokenizer") && fs::is_directory(dir / "text_encoder"),
          "model folder '" + model_dir + "' has no tokenizer/ or text_encoder/",
          "point at a diffusers Stable Diffusion folder (model_index.json, tokenizer/, text_encoder/, unet/, vae/)");
  return CLIPPromptEncoder(CLIPTokenizer::from_folder((dir / "tokenizer").string()),
                           load_clip_text_model((dir / "text_encoder").string()), device, dtype);
}

at::Tensor CLIPPromptEncoder::encode(const std::vector<std::string>& prompts) {
  torch::NoGradGuard no_grad;
  for (const auto& p : prompts) {
    if (!checked_.insert(p).second) continue;
    const size_t n_tokens = tokenizer_.encode(p).size();
    if (n_tokens > static_cast<size_t>(tokenizer_.max_length()))
      NABLAGFN_WARN("prompt \"%.40s...\" is %zu tokens; CLIP reads the first %lld, the rest is cut off", p.c_str(),
                    n_tokens, static_cast<long long>(tokenizer_.max_length()));
  }
  at::Tensor ids = tokenizer_.encode_batch(prompts).to(device_);  // [B, 77]
  return model_->forward(ids).last_hidden_state;                  // [B, 77, D]
}

}  // namespace nablagfn
