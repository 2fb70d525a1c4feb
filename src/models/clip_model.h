#pragma once
// The two-tower CLIP (text + image, projections, logit scale): the PickScore / CLIP-score model, and the
// module open_clip checkpoints (HPSv2) are mapped onto. Port of transformers `CLIPModel`
// (models/clip/modeling_clip.py, v4.4x / v5): `get_text_features`, `get_image_features`, `logit_scale`.
// What changed: no contrastive-loss forward; the towers are the shared CLIPTextTransformer /
// CLIPVisionTransformer modules; the position_ids buffers of older checkpoints are ignored when loading.
// Sizes: B batch, L tokens, S image size, E projection width.
#include <cstdint>
#include <string>

#include <nlohmann/json_fwd.hpp>
#include <torch/nn/module.h>
#include <torch/nn/modules/linear.h>

#include "io/tensor_io.h"
#include "models/clip_text.h"
#include "models/clip_vision.h"

namespace nablagfn {

struct CLIPModelConfig {
  CLIPTextConfig text;
  CLIPVisionConfig vision;  // vision.projection_dim is set to projection_dim
  int64_t projection_dim = 512;
};

// A transformers config.json of model_type "clip" (text_config, vision_config, projection_dim).
CLIPModelConfig clip_model_config_from_json(const nlohmann::json& j, const std::string& source);
CLIPModelConfig load_clip_model_config(const std::string& path);

class CLIPModelImpl : public torch::nn::Module {
 public:
  explicit CLIPModelImpl(const CLIPModelConfig& config);
  // input_ids [B, L] int64 -> [B, E]: text_projection of the pooled (end-of-text) token. Not normalised.
  at::Tensor get_text_features(const at::Tensor& input_ids);
  // pixel_values [B, 3, S, S] (normalised) -> [B, E]: visual_projection of the pooled class token. Not normalised.
  at::Tensor get_image_features(const at::Tensor& pixel_values);
  // Strict load of a transformers CLIPModel state dict.
  void load(const TensorMap& tensors, const std::string& source);

  const CLIPModelConfig& config() const { return config_; }

  CLIPTextTransformer text_model{nullptr};
  CLIPVisionTransformer vision_model{nullptr};
  torch::nn::Linear visual_projection{nullptr}, text_projection{nullptr};
  at::Tensor logit_scale;  // [], log of the similarity temperature's inverse

 private:
  CLIPModelConfig config_;
};
TORCH_MODULE(CLIPModel);

// A transformers CLIPModel folder (config.json + model.safetensors or pytorch_model.bin), float32, CPU, eval.
CLIPModel load_clip_model(const std::string& folder);

}  // namespace nablagfn
