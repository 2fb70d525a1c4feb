#pragma once
// The CLIP image tower. Port of transformers `CLIPVisionEmbeddings`, `CLIPVisionTransformer` and
// `CLIPVisionModelWithProjection` (models/clip/modeling_clip.py, v4.4x / v5). What changed:
//  - no position-embedding interpolation: pixel_values must be image_size x image_size;
//  - the position_ids buffer is not a module buffer (positions are always 0..N), so a checkpoint's
//    `vision_model.embeddings.position_ids` is ignored when loading;
//  - one forward returns the last hidden state, the pooled output and (with projection) the image embeds.
// Sizes: B batch, C channels, S image size, P patch size, N = (S/P)^2 patches, D hidden size, E projection.
#include <cstdint>
#include <string>

#include <nlohmann/json_fwd.hpp>
#include <torch/nn/module.h>
#include <torch/nn/modules/conv.h>
#include <torch/nn/modules/embedding.h>
#include <torch/nn/modules/linear.h>
#include <torch/nn/modules/normalization.h>

#include "io/tensor_io.h"
#include "models/clip_encoder.h"

namespace nablagfn {

struct CLIPVisionConfig {
  CLIPEncoderConfig encoder;  // transformers' CLIPVisionConfig defaults: 768 / 3072 / 12 heads / 12 layers
  int64_t image_size = 224;
  int64_t patch_size = 32;
  int64_t num_channels = 3;
  int64_t projection_dim = 512;
};

// Parses a transformers CLIPVisionConfig object (missing fields take transformers' defaults, as
// from_pretrained does); Error naming the source on a field of the wrong type or an unknown hidden_act.
CLIPVisionConfig clip_vision_config_from_json(const nlohmann::json& j, const std::string& source);
// A config.json of model_type "clip_vision_model" (CLIPVisionModelWithProjection) or "clip" (a full CLIPModel:
// its vision_config with the top-level projection_dim).
CLIPVisionConfig load_clip_vision_config(const std::string& path);

struct CLIPVisionOutput {
  at::Tensor last_hidden_state;  // [B, 1 + N, D], encoder output (before post_layernorm)
  at::Tensor pooler_output;      // [B, D], post_layernorm of the class token
};

class CLIPVisionEmbeddingsImpl : public torch::nn::Module {
 public:
  explicit CLIPVisionEmbeddingsImpl(const CLIPVisionConfig& config);
  at::Tensor forward(const at::Tensor& pixel_values);  // [B, C, S, S] -> [B, 1 + N, D]

  at::Tensor class_embedding;  // [D]
  torch::nn::Conv2d patch_embedding{nullptr};
  torch::nn::Embedding position_embedding{nullptr};

 private:
  int64_t image_size_;
};
TORCH_MODULE(CLIPVisionEmbeddings);

class CLIPVisionTransformerImpl : public torch::nn::Module {
 public:
  explicit CLIPVisionTransformerImpl(const CLIPVisionConfig& config);
  // pixel_values [B, C, S, S] (normalised) -> hidden states, with a graph to the pixels if they require grad.
  CLIPVisionOutput forward(const at::Tensor& pixel_values);

  CLIPVisionEmbeddings embeddings{nullptr};
  torch::nn::LayerNorm pre_layrnorm{nullptr};  // sic: transformers' key name
  CLIPEncoder encoder{nullptr};
  torch::nn::LayerNorm post_layernorm{nullptr};
};
TORCH_MODULE(CLIPVisionTransformer);

struct CLIPVisionProjectionOutput {
  at::Tensor image_embeds;       // [B, E], visual_projection of the pooled output (not normalised)
  at::Tensor last_hidden_state;  // [B, 1 + N, D]
};

class CLIPVisionModelWithProjectionImpl : public torch::nn::Module {
 public:
  explicit CLIPVisionModelWithProjectionImpl(const CLIPVisionConfig& config);
  CLIPVisionProjectionOutput forward(const at::Tensor& pixel_values);  // [B, C, S, S]
  // Strict load from a CLIPVisionModelWithProjection state dict, or from a full CLIPModel one (its
  // text_model.*, text_projection.weight and logit_scale are then ignored: only the image tower is used).
  void load(const TensorMap& tensors, const std::string& source);

  const CLIPVisionConfig& config() const { return config_; }

  CLIPVisionTransformer vision_model{nullptr};
  torch::nn::Linear visual_projection{nullptr};

 private:
  CLIPVisionConfig config_;
};
TORCH_MODULE(CLIPVisionModelWithProjection);

// A transformers folder (config.json + model.safetensors) of a CLIPVisionModelWithProjection or a CLIPModel
// (e.g. openai/clip-vit-large-patch14), loaded in float32 on the CPU, eval mode.
CLIPVisionModelWithProjection load_clip_vision_model(const std::string& folder);

}  // namespace nablagfn
