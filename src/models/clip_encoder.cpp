// CLIP encoder layers; see clip_encoder.h for the reference and what changed.
#include "models/clip_encoder.h"

#include <cmath>
#include <limits>

#include <ATen/autocast_mode.h>  // compat.h uses at::autocast without including it
#include <torch/torch.h>

#include "core/compat.h"
#include "core/error.h"

namespace nablagfn {

std::string to_string(CLIPActivation act) { return act == CLIPActivation::QuickGELU ? "quick_gelu" : "gelu"; }

CLIPActivation parse_clip_activation(const std::string& name) {
  if (name == "quick_gelu") return CLIPActivation::QuickGELU;
  if (name == "gelu") return CLIPActivation::GELU;
  throw Error("unsupported CLIP hidden_act '" + name + "'", "supported: quick_gelu, gelu");
}

at::Tensor clip_causal_mask(int64_t L, at::ScalarType dtype, at::Device device) {
  // The dtype's lowest finite value, as transformers' finfo.min: a fully masked row stays finite.
  double lowest = 0;
  AT_DISPATCH_FLOATING_TYPES_AND2(at::kHalf, at::kBFloat16, dtype, "clip_causal_mask", [&] {
    lowest = static_cast<double>(std::numeric_limits<scalar_t>::lowest());
  });
  at::Tensor mask = torch::full({L, L}, lowest, torch::TensorOptions().dtype(dtype).device(device));
  return torch::triu(mask, 1).view({1, 1, L, L});  // [L, L] -> [1, 1, L, L]
}

CLIPAttentionImpl::CLIPAttentionImpl(const CLIPEncoderConfig& config)
    : n_heads_(config.num_attention_heads), fused_(config.fused_attention) {
  const int64_t D = config.hidden_size;
  TORCH_CHECK(D % n_heads_ == 0, "CLIPAttention: hidden_size ", D, " not divisible by heads ", n_heads_);
  k_proj = register_module("k_proj", torch::nn::Linear(D, D));
  v_proj = register_module("v_proj", torch::nn::Linear(D, D));
  q_proj = register_module("q_proj", torch::nn::Linear(D, D));
  out_proj = register_module("out_proj", torch::nn::Linear(D, D));
}

at::Tensor CLIPAttentionImpl::forward(const at::Tensor& x, const at::Tensor& mask) {
  TORCH_CHECK(x.dim() == 3, "CLIPAttention: expected [B, L, D], got ", x.sizes());
  const int64_t B = x.size(0), L = x.size(1), D = x.size(2), Dh = D / n_heads_;
  auto heads = [&](const at::Tensor& t) {
    return t.view({B, L, n_heads_, Dh}).transpose(1, 2);  // [B, L, D] -> [B, H, L, Dh]
  };
  at::Tensor q = heads(q_proj(x)), k = heads(k_proj(x)), v = heads(v_proj(x));
  const double scale = 1.0 / std::sqrt(static_cast<double>(Dh));
  at::Tensor o = fused_ ? compat::attention_fused(q, k, v, mask, scale)
                        : compat::attention_reference(q, k, v, mask, scale);  // [B, H, L, Dh]
  o = o.transpose(1, 2).reshape({B, L, D});  // [B, H, L, Dh] -> [B, L, D]
  return out_proj(o);
}

CLIPMLPImpl::CLIPMLPImpl(const CLIPEncoderConfig& config) : act_(config.hidden_act) {
  fc1 = register_module("fc1", torch::nn::Linear(config.hidden_size, config.intermediate_size));
  fc2 = register_module("fc2", torch::nn::Linear(config.intermediate_size, config.hidden_size));
}

at::Tensor CLIPMLPImpl::forward(const at::Tensor& x) {
  at::Tensor h = fc1(x);  // [B, L, D] -> [B, L, F]
  // quick_gelu is OpenAI CLIP's x·σ(1.702x); gelu is the exact erf form.
  h = act_ == CLIPActivation::QuickGELU ? h * torch::sigmoid(1.702 * h) : torch::gelu(h);
  return fc2(h);  // [B, L, F] -> [B, L, D]
}

CLIPEncoderLayerImpl::CLIPEncoderLayerImpl(const CLIPEncoderConfig& config) {
  auto ln = torch::nn::LayerNormOptions({config.hidden_size}).eps(config.layer_norm_eps);
  self_attn = register_module("self_attn", CLIPAttention(config));
  layer_norm1 = register_module("layer_norm1", torch::nn::LayerNorm(ln));
  mlp = register_module("mlp", CLIPMLP(config));
  layer_norm2 = register_module("layer_norm2", torch::nn::LayerNorm(ln));
}

at::Tensor CLIPEncoderLayerImpl::forward(const at::Tensor& x, const at::Tensor& mask) {
  at::Tensor h = x + self_attn(layer_norm1(x), mask);  // [B, L, D]
  return h + mlp(layer_norm2(h));                      // [B, L, D]
}

CLIPEncoderImpl::CLIPEncoderImpl(const CLIPEncoderConfig& config) {
  layers = register_module("layers", torch::nn::ModuleList());
  for (int64_t i = 0; i < config.num_hidden_layers; ++i) layers->push_back(CLIPEncoderLayer(config));
}

at::Tensor CLIPEncoderImpl::forward(const at::Tensor& x, const at::Tensor& mask) {
  at::Tensor h = x;
  for (const auto& layer : *layers) h = layer->as<CLIPEncoderLayer>()->forward(h, mask);  // [B, L, D]
  return h;
}

std::vector<at::Tensor> CLIPEncoderImpl::forward_hidden_states(const at::Tensor& x, const at::Tensor& mask) {
  std::vector<at::Tensor> hidden{x};
  for (const auto& layer : *layers) hidden.push_back(layer->as<CLIPEncoderLayer>()->forward(hidden.back(), mask));
  return hidden;
}

}  // namespace nablagfn
