#pragma once
// The CLIP text tower Stable Diffusion conditions on. Port of transformers `CLIPTextModel` /
// `CLIPTextTransformer` / `CLIPTextEmbeddings` (models/clip/modeling_clip.py, v4.4x / v5). What changed:
//  - no padding attention mask (SD never passes one): the causal mask only;
//  - one forward returns the last hidden state, the pooled output and the penultimate hidden state;
//  - the position_ids buffer is not a module buffer (positions are always 0..L-1), so a checkpoint's
//    `text_model.embeddings.position_ids` is ignored when loading.
// Sizes: B batch, L sequence length (<= max_position_embeddings), D hidden size, V vocabulary size.
#include <cstdint>
#include <string>

#include <nlohmann/json_fwd.hpp>
#include <torch/nn/module.h>
#include <torch/nn/modules/embedding.h>
#include <torch/nn/modules/normalization.h>

#include "io/tensor_io.h"
#include "models/clip_encoder.h"

namespace nablagfn {

struct CLIPTextConfig {
  int64_t vocab_size = 49408;
  int64_t max_position_embeddings = 77;
  CLIPEncoderConfig encoder;
  int64_t bos_token_id = 49406;
  // eos_token_id == 2 marks configs written before transformers stored the real id (SD-1.5's): the
  // pooled token is then the argmax of the ids (the eos has the largest id), else the first eos.
  int64_t eos_token_id = 49407;
  int64_t pad_token_id = 49407;
};

// Parses a transformers CLIPTextConfig (config.json); Error naming the file on a missing/invalid field.
CLIPTextConfig clip_text_config_from_json(const nlohmann::json& j, const std::string& source);
CLIPTextConfig load_clip_text_config(const std::string& path);

struct CLIPTextOutput {
  at::Tensor last_hidden_state;         // [B, L, D], after final_layer_norm
  at::Tensor pooler_output;             // [B, D], last_hidden_state at the eos token
  at::Tensor penultimate_hidden_state;  // [B, L, D], hidden_states[-2] (output of layer N-1, no final norm)
};

class CLIPTextEmbeddingsImpl : public torch::nn::Module {
 public:
  explicit CLIPTextEmbeddingsImpl(const CLIPTextConfig& config);
  at::Tensor forward(const at::Tensor& input_ids);  // [B, L] int64 -> [B, L, D]

  torch::nn::Embedding token_embedding{nullptr}, position_embedding{nullptr};
};
TORCH_MODULE(CLIPTextEmbeddings);

class CLIPTextTransformerImpl : public torch::nn::Module {
 public:
  explicit CLIPTextTransformerImpl(const CLIPTextConfig& config);
  // input_ids [B, L] int64 -> hidden states in the module's dtype, with a graph to the weights if enabled.
  CLIPTextOutput forward(const at::Tensor& input_ids);

  CLIPTextEmbeddings embeddings{nullptr};
  CLIPEncoder encoder{nullptr};
  torch::nn::LayerNorm final_layer_norm{nullptr};

 private:
  CLIPTextConfig config_;
};
TORCH_MODULE(CLIPTextTransformer);

class CLIPTextModelImpl : public torch::nn::Module {
 public:
  explicit CLIPTextModelImpl(const CLIPTextConfig& config);
  CLIPTextOutput forward(const at::Tensor& input_ids) { return text_model->forward(input_ids); }
  // Strict load of a transformers CLIPTextModel state dict. Keys may carry the `text_model.` prefix
  // (diffusers' text_encoder/model.safetensors) or not (files saved from the inner transformer).
  void load(const TensorMap& tensors, const std::string& source);

  const CLIPTextConfig& config() const { return config_; }

  CLIPTextTransformer text_model{nullptr};

 private:
  CLIPTextConfig config_;
};
TORCH_MODULE(CLIPTextModel);

// A diffusers text_encoder/ folder (config.json + model.safetensors), loaded in float32 on the CPU.
CLIPTextModel load_clip_text_model(const std::string& folder);

}  // namespace nablagfn
