// Two-tower CLIP; see clip_model.h for the reference and what changed.
#include "models/clip_model.h"

#include <nlohmann/json.hpp>
#include <torch/torch.h>

#include "core/error.h"
#include "io/atomic_file.h"
#include "io/pth.h"
#include "models/state_dict.h"

namespace nablagfn {

CLIPModelConfig clip_model_config_from_json(const nlohmann::json& j, const std::string& source) {
  require(j.is_object() && j.contains("text_config") && j.contains("vision_config"),
          "'" + source + "' is not a CLIPModel config (no text_config / vision_config)",
          "expected the config.json of a transformers CLIPModel, e.g. yuvalkirstain/PickScore_v1");
  CLIPModelConfig c;
  c.text = clip_text_config_from_json(j.at("text_config"), source);
  c.vision = clip_vision_config_from_json(j.at("vision_config"), source);
  if (j.contains("projection_dim")) {
    require(j.at("projection_dim").is_number_integer(), "'" + source + "': projection_dim is not an integer",
            "check the config");
    c.projection_dim = j.at("projection_dim").get<int64_t>();
  }
  c.vision.projection_dim = c.projection_dim;
  return c;
}

CLIPModelConfig load_clip_model_config(const std::string& path) {
  nlohmann::json j = nlohmann::json::parse(read_file(path), nullptr, /*allow_exceptions=*/false);
  require(!j.is_discarded(), "'" + path + "' is not valid JSON", "expected a transformers config.json");
  return clip_model_config_from_json(j, path);
}

CLIPModelImpl::CLIPModelImpl(const CLIPModelConfig& config) : config_(config) {
  const int64_t E = config.projection_dim;
  text_model = register_module("text_model", CLIPTextTransformer(config.text));
  vision_model = register_module("vision_model", CLIPVisionTransformer(config.vision));
  const int64_t D_vision = config.vision.encoder.hidden_size, D_text = config.text.encoder.hidden_size;
  visual_projection =
      register_module("visual_projection", torch::nn::Linear(torch::nn::LinearOptions(D_vision, E).bias(false)));
  text_projection =
      register_module("text_projection", torch::nn::Linear(torch::nn::LinearOptions(D_text, E).bias(false)));
  // transformers initialises it to logit_scale_init_value (log 1/0.07); every checkpoint overwrites it.
  logit_scale = register_parameter("logit_scale", torch::full({}, 2.6592));
}

at::Tensor CLIPModelImpl::get_text_features(const at::Tensor& input_ids) {
  return text_projection(text_model(input_ids).pooler_output);  // [B, L] -> [B, D_text] -> [B, E]
}

at::Tensor CLIPModelImpl::get_image_features(const at::Tensor& pixel_values) {
  return visual_projection(vision_model(pixel_values).pooler_output);  // [B, 3, S, S] -> [B, D_vision] -> [B, E]
}

void CLIPModelImpl::load(const TensorMap& tensors, const std::string& source) {
  LoadOptions options;
  // Older transformers saved the constant position arange buffers; positions are computed here.
  options.ignore_keys = {"text_model.embeddings.position_ids", "vision_model.embeddings.position_ids"};
  options.hint = "expected a transformers CLIPModel checkpoint (text_model.*, vision_model.*, visual_projection, "
                 "text_projection, logit_scale) matching config.json";
  load_state_dict(*this, tensors, source, options);
}

CLIPModel load_clip_model(const std::string& folder) {
  CLIPModel model(load_clip_model_config(folder + "/config.json"));
  const std::string weights = find_transformers_weights(folder);
  model->load(load_tensors(weights), weights);
  model->eval();
  return model;
}

}  // namespace nablagfn
