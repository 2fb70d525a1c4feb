// CLIP text tower; see clip_text.h for the reference and what changed.
#include "models/clip_text.h"

#include <filesystem>

#include <nlohmann/json.hpp>
#include <torch/torch.h>

#include "core/error.h"
#include "io/atomic_file.h"
#include "io/json_fields.h"
#include "models/state_dict.h"

namespace nablagfn {

// The hint of a wrong or missing config field.
const char* const kCLIPTextHint = "compare with a diffusers text_encoder/config.json (CLIPTextConfig)";

CLIPTextConfig clip_text_config_from_json(const nlohmann::json& j, const std::string& source) {
  CLIPTextConfig c;
  c.vocab_size = json_field<int64_t>(j, "vocab_size", source, kCLIPTextHint);
  c.max_position_embeddings = json_field<int64_t>(j, "max_position_embeddings", source, kCLIPTextHint);
  c.encoder.hidden_size = json_field<int64_t>(j, "hidden_size", source, kCLIPTextHint);
  c.encoder.intermediate_size = json_field<int64_t>(j, "intermediate_size", source, kCLIPTextHint);
  c.encoder.num_attention_heads = json_field<int64_t>(j, "num_attention_heads", source, kCLIPTextHint);
  c.encoder.num_hidden_layers = json_field<int64_t>(j, "num_hidden_layers", source, kCLIPTextHint);
  c.encoder.layer_norm_eps = json_field_or<double>(j, "layer_norm_eps", 1e-5, source, kCLIPTextHint);
  c.encoder.hidden_act =
      parse_clip_activation(json_field_or<std::string>(j, "hidden_act", "quick_gelu", source, kCLIPTextHint));
  // transformers' CLIPTextConfig defaults (the legacy ids 0/2/1 that SD-1.5's file spells out).
  c.bos_token_id = json_field_or<int64_t>(j, "bos_token_id", 49406, source, kCLIPTextHint);
  c.eos_token_id = json_field_or<int64_t>(j, "eos_token_id", 49407, source, kCLIPTextHint);
  c.pad_token_id = json_field_or<int64_t>(j, "pad_token_id", 1, source, kCLIPTextHint);
  require(c.encoder.hidden_size % c.encoder.num_attention_heads == 0,
          "'" + source + "': hidden_size is not a multiple of num_attention_heads", "check the config");
  return c;
}

CLIPTextConfig load_clip_text_config(const std::string& path) {
  nlohmann::json j;
  try {
    j = nlohmann::json::parse(read_file(path));
  } catch (const nlohmann::json::exception& e) {
    throw Error("'" + path + "' is not valid JSON: " + e.what(), "a diffusers text_encoder/config.json is expected");
  }
  return clip_text_config_from_json(j, path);
}

CLIPTextEmbeddingsImpl::CLIPTextEmbeddingsImpl(const CLIPTextConfig& config) {
  token_embedding = register_module(
      "token_embedding", torch::nn::Embedding(config.vocab_size, config.encoder.hidden_size));
  position_embedding = register_module(
      "position_embedding", torch::nn::Embedding(config.max_position_embeddings, config.encoder.hidden_size));
}

at::Tensor CLIPTextEmbeddingsImpl::forward(const at::Tensor& input_ids) {
  const int64_t L = input_ids.size(1);
  TORCH_CHECK(L <= position_embedding->weight.size(0), "CLIPTextEmbeddings: sequence length ", L,
              " exceeds max_position_embeddings ", position_embedding->weight.size(0));
  at::Tensor positions = torch::arange(L, input_ids.options().dtype(torch::kLong));  // [L]
  return token_embedding(input_ids) + position_embedding(positions).unsqueeze(0);  // [B, L, D] + [1, L, D]
}

CLIPTextTransformerImpl::CLIPTextTransformerImpl(const CLIPTextConfig& config) : config_(config) {
  embeddings = register_module("embeddings", CLIPTextEmbeddings(config));
  encoder = register_module("encoder", CLIPEncoder(config.encoder));
  auto ln = torch::nn::LayerNormOptions({config.encoder.hidden_size}).eps(config.encoder.layer_norm_eps);
  final_layer_norm = register_module("final_layer_norm", torch::nn::LayerNorm(ln));
}

CLIPTextOutput CLIPTextTransformerImpl::forward(const at::Tensor& input_ids) {
  TORCH_CHECK(input_ids.dim() == 2 && input_ids.scalar_type() == torch::kLong,
              "CLIPTextTransformer: expected int64 ids [B, L], got ", input_ids.sizes(), " ",
              input_ids.scalar_type());
  const int64_t B = input_ids.size(0), L = input_ids.size(1);
  at::Tensor h = embeddings(input_ids);  // [B, L] -> [B, L, D]
  at::Tensor mask = clip_causal_mask(L, h.scalar_type(), h.device());  // [1, 1, L, L]
  std::vector<at::Tensor> hidden = encoder->forward_hidden_states(h, mask);  // N + 1 x [B, L, D]
  CLIPTextOutput out;
  out.last_hidden_state = final_layer_norm(hidden.back());  // [B, L, D]
  out.penultimate_hidden_state = hidden[hidden.size() - 2];  // [B, L, D]
  // transformers' pooling rule: the legacy eos id 2 means "argmax of the ids" (the eos has the
  // largest id in CLIP's vocabulary); otherwise the first position holding eos_token_id.
  at::Tensor eos_pos = config_.eos_token_id == 2
                           ? input_ids.argmax(-1)                                            // [B]
                           : (input_ids == config_.eos_token_id).to(torch::kInt).argmax(-1);  // [B]
  at::Tensor rows = torch::arange(B, eos_pos.options());                                    // [B]
  out.pooler_output = out.last_hidden_state.index({rows, eos_pos});                          // [B, D]
  return out;
}

CLIPTextModelImpl::CLIPTextModelImpl(const CLIPTextConfig& config) : config_(config) {
  text_model = register_module("text_model", CLIPTextTransformer(config));
}

void CLIPTextModelImpl::load(const TensorMap& tensors, const std::string& source) {
  LoadOptions options;
  options.prefix = tensors.count("text_model.final_layer_norm.weight") ? "text_model." : "";
  // Older transformers saved the constant arange buffer; positions are computed here instead.
  options.ignore_keys = {"embeddings.position_ids"};
  options.hint =
      "expected a transformers CLIPTextModel (keys text_model.embeddings / encoder.layers.N / final_layer_norm) "
      "matching config.json";
  load_state_dict(*text_model, tensors, source, options);
}

CLIPTextModel load_clip_text_model(const std::string& folder) {
  namespace fs = std::filesystem;
  const std::string config_path = (fs::path(folder) / "config.json").string();
  const std::string weights_path = (fs::path(folder) / "model.safetensors").string();
  require(fs::exists(config_path) && fs::exists(weights_path),
          "text encoder folder '" + folder + "' lacks config.json or model.safetensors",
          "point at a diffusers model's text_encoder/ folder (safetensors weights; .bin is not read)");
  CLIPTextModel model(load_clip_text_config(config_path));
  model->load(load_safetensors(weights_path), weights_path);
  return model;
}

}  // namespace nablagfn
