// CLIP image tower; see clip_vision.h for the reference and what changed.
#include "models/clip_vision.h"

#include <nlohmann/json.hpp>
#include <torch/torch.h>

#include "core/error.h"
#include "io/atomic_file.h"
#include "io/json_fields.h"
#include "io/pth.h"
#include "models/state_dict.h"

namespace nablagfn {

// The hint of a wrong or missing config field.
const char* const kCLIPVisionHint = "compare with the config.json transformers writes for this model";

namespace clip_vision_detail {

// Keys of a full CLIPModel checkpoint that the image tower alone does not use.
std::vector<std::string> text_side_keys(const TensorMap& tensors) {
  std::vector<std::string> keys;
  for (const auto& kv : tensors)
    if (kv.first.rfind("text_model.", 0) == 0 || kv.first == "text_projection.weight" || kv.first == "logit_scale")
      keys.push_back(kv.first);
  return keys;
}

}  // namespace clip_vision_detail

CLIPVisionConfig clip_vision_config_from_json(const nlohmann::json& j, const std::string& source) {
  require(j.is_object(), "'" + source + "': the vision config is not a JSON object",
          "expected a transformers CLIPVisionConfig");
  CLIPVisionConfig c;
  c.encoder.hidden_size = json_field_or<int64_t>(j, "hidden_size", 768, source, kCLIPVisionHint);
  c.encoder.intermediate_size = json_field_or<int64_t>(j, "intermediate_size", 3072, source, kCLIPVisionHint);
  c.encoder.num_attention_heads = json_field_or<int64_t>(j, "num_attention_heads", 12, source, kCLIPVisionHint);
  c.encoder.num_hidden_layers = json_field_or<int64_t>(j, "num_hidden_layers", 12, source, kCLIPVisionHint);
  c.encoder.layer_norm_eps = json_field_or<double>(j, "layer_norm_eps", 1e-5, source, kCLIPVisionHint);
  c.encoder.hidden_act =
      parse_clip_activation(json_field_or<std::string>(j, "hidden_act", "quick_gelu", source, kCLIPVisionHint));
  c.image_size = json_field_or<int64_t>(j, "image_size", 224, source, kCLIPVisionHint);
  c.patch_size = json_field_or<int64_t>(j, "patch_size", 32, source, kCLIPVisionHint);
  c.num_channels = json_field_or<int64_t>(j, "num_channels", 3, source, kCLIPVisionHint);
  c.projection_dim = json_field_or<int64_t>(j, "projection_dim", 512, source, kCLIPVisionHint);
  require(c.patch_size > 0 && c.image_size % c.patch_size == 0,
          "'" + source + "': image_size " + std::to_string(c.image_size) + " is not a multiple of patch_size " +
              std::to_string(c.patch_size),
          "check the vision config");
  return c;
}

CLIPVisionConfig load_clip_vision_config(const std::string& path) {
  nlohmann::json j = nlohmann::json::parse(read_file(path), nullptr, /*allow_exceptions=*/false);
  require(!j.is_discarded(), "'" + path + "' is not valid JSON", "expected a transformers config.json");
  const std::string type = json_field_or<std::string>(j, "model_type", "", path, kCLIPVisionHint);
  if (type == "clip") {
    require(j.contains("vision_config"), "'" + path + "' (a CLIPModel config) has no vision_config",
            "expected a transformers CLIPModel config.json");
    CLIPVisionConfig c = clip_vision_config_from_json(j.at("vision_config"), path);
    c.projection_dim = json_field_or<int64_t>(j, "projection_dim", 512, path, kCLIPVisionHint);
    return c;
  }
  require(type == "clip_vision_model", "'" + path + "' has model_type '" + type + "', not a CLIP image tower",
          "expected model_type clip_vision_model (CLIPVisionModelWithProjection) or clip (CLIPModel)");
  return clip_vision_config_from_json(j, path);
}

CLIPVisionEmbeddingsImpl::CLIPVisionEmbeddingsImpl(const CLIPVisionConfig& config) : image_size_(config.image_size) {
  const int64_t D = config.encoder.hidden_size, P = config.patch_size;
  const int64_t N = (config.image_size / P) * (config.image_size / P);
  class_embedding = register_parameter("class_embedding", torch::zeros({D}));
  patch_embedding = register_module(
      "patch_embedding", torch::nn::Conv2d(torch::nn::Conv2dOptions(config.num_channels, D, P).stride(P).bias(false)));
  position_embedding = register_module("position_embedding", torch::nn::Embedding(N + 1, D));
}

at::Tensor CLIPVisionEmbeddingsImpl::forward(const at::Tensor& pixel_values) {
  TORCH_CHECK(pixel_values.dim() == 4 && pixel_values.size(2) == image_size_ && pixel_values.size(3) == image_size_,
              "CLIPVisionEmbeddings: expected pixel_values [B, C, ", image_size_, ", ", image_size_, "], got ",
              pixel_values.sizes());
  const int64_t B = pixel_values.size(0);
  at::Tensor patches = patch_embedding(pixel_values);   // [B, C, S, S] -> [B, D, S/P, S/P]
  patches = patches.flatten(2).transpose(1, 2);          // [B, D, S/P, S/P] -> [B, N, D]
  at::Tensor cls = class_embedding.view({1, 1, -1}).expand({B, 1, -1});  // [D] -> [B, 1, D]
  at::Tensor x = torch::cat({cls, patches}, 1);          // [B, 1 + N, D]
  return x + position_embedding->weight.unsqueeze(0);    // [1 + N, D] broadcast over B
}

CLIPVisionTransformerImpl::CLIPVisionTransformerImpl(const CLIPVisionConfig& config) {
  auto ln = torch::nn::LayerNormOptions({config.encoder.hidden_size}).eps(config.encoder.layer_norm_eps);
  embeddings = register_module("embeddings", CLIPVisionEmbeddings(config));
  pre_layrnorm = register_module("pre_layrnorm", torch::nn::LayerNorm(ln));
  encoder = register_module("encoder", CLIPEncoder(config.encoder));
  post_layernorm = register_module("post_layernorm", torch::nn::LayerNorm(ln));
}

CLIPVisionOutput CLIPVisionTransformerImpl::forward(const at::Tensor& pixel_values) {
  at::Tensor h = pre_layrnorm(embeddings(pixel_values));  // [B, C, S, S] -> [B, 1 + N, D]
  h = encoder(h, at::Tensor());                           // [B, 1 + N, D], no mask: every patch sees every patch
  at::Tensor pooled = post_layernorm(h.select(1, 0));     // class token: [B, 1 + N, D] -> [B, D]
  return {h, pooled};
}

CLIPVisionModelWithProjectionImpl::CLIPVisionModelWithProjectionImpl(const CLIPVisionConfig& config)
    : config_(config) {
  vision_model = register_module("vision_model", CLIPVisionTransformer(config));
  visual_projection = register_module(
      "visual_projection",
      torch::nn::Linear(torch::nn::LinearOptions(config.encoder.hidden_size, config.projection_dim).bias(false)));
}

CLIPVisionProjectionOutput CLIPVisionModelWithProjectionImpl::forward(const at::Tensor& pixel_values) {
  CLIPVisionOutput out = vision_model(pixel_values);
  return {visual_projection(out.pooler_output), out.last_hidden_state};  // [B, D] -> [B, E]
}

void CLIPVisionModelWithProjectionImpl::load(const TensorMap& tensors, const std::string& source) {
  LoadOptions options;
  // Older transformers saved the positions as a buffer; they are always 0..N here.
  options.ignore_keys = clip_vision_detail::text_side_keys(tensors);
  options.ignore_keys.push_back("vision_model.embeddings.position_ids");
  options.hint = "expected a transformers CLIPVisionModelWithProjection or CLIPModel checkpoint matching config.json";
  load_state_dict(*this, tensors, source, options);
}

CLIPVisionModelWithProjection load_clip_vision_model(const std::string& folder) {
  CLIPVisionModelWithProjection model(load_clip_vision_config(folder + "/config.json"));
  const std::string weights = find_transformers_weights(folder);
  model->load(load_tensors(weights), weights);
  model->eval();
  return model;
}

}  // namespace nablagfn
