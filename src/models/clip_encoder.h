#pragma once
// The transformer encoder shared by the CLIP text and vision towers: pre-norm self-attention + MLP layers.
// Port of transformers `CLIPAttention`, `CLIPMLP`, `CLIPEncoderLayer`, `CLIPEncoder`
// (models/clip/modeling_clip.py, v4.4x / v5). What changed:
//  - the attention mask is one additive tensor (causal and/or padding already combined by the caller);
//  - no dropout (0 in every released CLIP), no attention-weight outputs;
//  - the fused-attention path (compat::attention_fused) is a config switch, the written-out one the reference.
// Sizes: B batch, L sequence length, D hidden size, H heads, Dh = D / H head size, F MLP width.
#include <cstdint>
#include <string>
#include <vector>

#include <torch/nn/module.h>
#include <torch/nn/modules/container/modulelist.h>
#include <torch/nn/modules/linear.h>
#include <torch/nn/modules/normalization.h>

namespace nablagfn {

enum class CLIPActivation { QuickGELU, GELU };
std::string to_string(CLIPActivation act);
// "quick_gelu" or "gelu" (transformers' hidden_act strings); nablagfn::Error otherwise.
CLIPActivation parse_clip_activation(const std::string& name);

// The encoder part of a transformers CLIPTextConfig / CLIPVisionConfig.
struct CLIPEncoderConfig {
  int64_t hidden_size = 768;
  int64_t intermediate_size = 3072;
  int64_t num_attention_heads = 12;
  int64_t num_hidden_layers = 12;
  double layer_norm_eps = 1e-5;
  CLIPActivation hidden_act = CLIPActivation::QuickGELU;
  // Use scaled_dot_product_attention where libtorch has it (not a checkpoint field).
  bool fused_attention = false;
};

// Additive causal mask [1, 1, L, L]: 0 on and below the diagonal, the dtype's lowest value above.
at::Tensor clip_causal_mask(int64_t L, at::ScalarType dtype, at::Device device);

class CLIPAttentionImpl : public torch::nn::Module {
 public:
  explicit CLIPAttentionImpl(const CLIPEncoderConfig& config);
  // x [B, L, D], mask additive, broadcastable to [B, H, L, L], or undefined -> [B, L, D].
  at::Tensor forward(const at::Tensor& x, const at::Tensor& mask);

  torch::nn::Linear k_proj{nullptr}, v_proj{nullptr}, q_proj{nullptr}, out_proj{nullptr};

 private:
  int64_t n_heads_;
  bool fused_;
};
TORCH_MODULE(CLIPAttention);

class CLIPMLPImpl : public torch::nn::Module {
 public:
  explicit CLIPMLPImpl(const CLIPEncoderConfig& config);
  at::Tensor forward(const at::Tensor& x);  // [B, L, D] -> [B, L, D]

  torch::nn::Linear fc1{nullptr}, fc2{nullptr};

 private:
  CLIPActivation act_;
};
TORCH_MODULE(CLIPMLP);

class CLIPEncoderLayerImpl : public torch::nn::Module {
 public:
  explicit CLIPEncoderLayerImpl(const CLIPEncoderConfig& config);
  // x [B, L, D] -> [B, L, D]; x + attn(ln1(x)), then + mlp(ln2(.)).
  at::Tensor forward(const at::Tensor& x, const at::Tensor& mask);

  CLIPAttention self_attn{nullptr};
  torch::nn::LayerNorm layer_norm1{nullptr};
  CLIPMLP mlp{nullptr};
  torch::nn::LayerNorm layer_norm2{nullptr};
};
TORCH_MODULE(CLIPEncoderLayer);

class CLIPEncoderImpl : public torch::nn::Module {
 public:
  explicit CLIPEncoderImpl(const CLIPEncoderConfig& config);
  // x [B, L, D] -> output of the last layer [B, L, D].
  at::Tensor forward(const at::Tensor& x, const at::Tensor& mask);
  // transformers' hidden_states: [input, after layer 1, ..., after layer N] (N + 1 tensors [B, L, D]);
  // hidden_states[-2] is the penultimate one SD-2 / HPSv2 use.
  std::vector<at::Tensor> forward_hidden_states(const at::Tensor& x, const at::Tensor& mask);

  torch::nn::ModuleList layers{nullptr};
};
TORCH_MODULE(CLIPEncoder);

}  // namespace nablagfn
