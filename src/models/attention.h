#pragma once
// The transformer parts of the diffusion UNet: multi-head Attention, the GEGLU FeedForward,
// BasicTransformerBlock and Transformer2DModel (continuous input).
// Ports diffusers `Attention` + `AttnProcessor` / `AttnProcessor2_0` (models/attention_processor.py),
// `FeedForward`, `GEGLU`, `BasicTransformerBlock` (models/attention.py, activations.py) and
// `Transformer2DModel` (models/transformers/transformer_2d.py), v0.40.
// What changed:
//  - only what SD-1.x / SD-2.x use: layer_norm blocks, GEGLU, no attention bias, no masks, no dropout
//    (p = 0 in SD), no ada-norm, no patched / vectorised inputs, no only_cross_attention.
//  - the attention kernel is chosen per module: the written-out reference (compat::attention_reference)
//    or the fused one (fused::attention: sdpa on libtorch >= 2.0, the reference on 1.13; fp32 heads of
//    width 8 / 16 / 32 on CUDA, the flow networks', on the kernels of kernels/fused_attention.h).
//  - to_q / to_k / to_v / to_out.0 accept an attached LoRA branch (models/lora.h); it is not a submodule,
//    so the module's state dict stays exactly the diffusers one.
//  - no-grad channels-last CUDA inputs of Transformer2DModel take a fused path (kernels/fused_ops.h): NHWC
//    GroupNorm, proj_in / proj_out as GEMMs on the NHWC memory (no token permutes), residual + LayerNorm
//    and GEGLU as single kernels.
// Legend: B batch, N query tokens (H*W), L context tokens, C channels, D context width, h heads, d head width.
#include <torch/nn/module.h>
#include <torch/nn/modules/container/modulelist.h>
#include <torch/nn/modules/conv.h>
#include <torch/nn/modules/linear.h>
#include <torch/nn/modules/normalization.h>

#include <map>
#include <memory>
#include <string>
#include <vector>

#include "models/attention_backend.h"
#include "models/lora.h"

namespace nablagfn {

struct AttentionOptions {
  int64_t query_dim = 0;
  int64_t cross_attention_dim = 0;  // 0 = self-attention (keys and values from the query input)
  int64_t heads = 8;
  int64_t dim_head = 64;
  // Scores in fp32 for low-precision models (SD-2.1's upcast_attention); the fused path ignores it,
  // as diffusers' AttnProcessor2_0 does.
  bool upcast_attention = false;
};

class AttentionImpl : public torch::nn::Module {
 public:
  explicit AttentionImpl(const AttentionOptions& options);
  // x [B, N, C], context [B, L, D] or undefined (self-attention) -> [B, N, C].
  torch::Tensor forward(const torch::Tensor& x, const torch::Tensor& context = {});

  AttentionBackend backend() const { return backend_; }
  void set_backend(AttentionBackend backend) { backend_ = backend; }
  // The projection a LoRA target names: "to_q", "to_k", "to_v" or "to_out.0" (Error otherwise).
  torch::nn::Linear& projection(const std::string& target);
  // Routes the target projection's output through lora (replacing an earlier one).
  void attach_lora(const std::string& target, LoRALinear lora);

  torch::nn::Linear to_q{nullptr}, to_k{nullptr}, to_v{nullptr};
  torch::nn::ModuleList to_out{nullptr};  // [0] the output Linear (diffusers' [1] is a p = 0 Dropout)

 private:
  torch::Tensor project(const std::string& target, torch::nn::Linear& linear, const torch::Tensor& x);

  AttentionOptions options_;
  AttentionBackend backend_ = AttentionBackend::Fused;
  torch::nn::Linear out_linear_{nullptr};
  std::map<std::string, LoRALinear> lora_;
};
TORCH_MODULE(Attention);

// Sets the kernel of every Attention inside root.
void set_attention_backend(torch::nn::Module& root, AttentionBackend backend);

// hidden · GELU(gate), both halves of one projection `proj` of width 2·dim_out.
class GEGLUImpl : public torch::nn::Module {
 public:
  GEGLUImpl(int64_t dim_in, int64_t dim_out);
  torch::Tensor forward(const torch::Tensor& x);  // [B, N, dim_in] -> [B, N, dim_out]

  torch::nn::Linear proj{nullptr};
};
TORCH_MODULE(GEGLU);

// net.0 = GEGLU(dim, 4·dim), net.1 = Dropout (p = 0, no parameters), net.2 = Linear(4·dim, dim).
class FeedForwardImpl : public torch::nn::Module {
 public:
  explicit FeedForwardImpl(int64_t dim);
  torch::Tensor forward(const torch::Tensor& x);  // [B, N, C] -> [B, N, C]
  // residual += forward(x) − net.2.bias, in place, and returns residual: GEGLU as one GEMM of width 2·4C
  // and the fused h · GELU(gate) kernel, the last GEMM accumulating into residual (a fresh [B, N, C]
  // tensor that already holds the output bias: fused::add_layer_norm's h_bias).
  torch::Tensor forward_fused(const torch::Tensor& x, torch::Tensor residual);
  const torch::Tensor& output_bias() const { return linear_->bias; }

  torch::nn::ModuleList net{nullptr};

 private:
  GEGLU geglu_{nullptr};
  torch::nn::Linear linear_{nullptr};
};
TORCH_MODULE(FeedForward);

// x + attn1(norm1(x)); x + attn2(norm2(x), context); x + ff(norm3(x)).
class BasicTransformerBlockImpl : public torch::nn::Module {
 public:
  BasicTransformerBlockImpl(int64_t dim, int64_t heads, int64_t dim_head, int64_t cross_attention_dim,
                            bool upcast_attention);
  torch::Tensor forward(const torch::Tensor& x, const torch::Tensor& context);  // [B, N, C], [B, L, D] -> [B, N, C]
  // forward() with each residual add fused into the next LayerNorm and FeedForward::forward_fused.
  torch::Tensor forward_fused(const torch::Tensor& x, const torch::Tensor& context);

  torch::nn::LayerNorm norm1{nullptr}, norm2{nullptr}, norm3{nullptr};
  Attention attn1{nullptr}, attn2{nullptr};
  FeedForward ff{nullptr};
};
TORCH_MODULE(BasicTransformerBlock);

struct Transformer2DOptions {
  int64_t in_channels = 0;
  int64_t heads = 8;
  int64_t dim_head = 64;  // inner width = heads · dim_head
  int64_t num_layers = 1;
  int64_t cross_attention_dim = 768;
  int64_t norm_num_groups = 32;
  bool use_linear_projection = false;  // proj_in / proj_out Linear (SD-2) instead of 1x1 Conv2d (SD-1)
  bool upcast_attention = false;
};

// GroupNorm -> proj_in -> tokens -> transformer_blocks -> proj_out -> + x.
class Transformer2DModelImpl : public torch::nn::Module {
 public:
  explicit Transformer2DModelImpl(const Transformer2DOptions& options);
  torch::Tensor forward(const torch::Tensor& x, const torch::Tensor& context);  // [B, C, H, W] -> [B, C, H, W]

  torch::nn::GroupNorm norm{nullptr};
  torch::nn::ModuleList transformer_blocks{nullptr};

 private:
  // forward() on the fused kernels; same shapes and result up to rounding.
  torch::Tensor forward_nhwc(const torch::Tensor& x, const torch::Tensor& context);

  // Registered as `proj_in` / `proj_out`: 1x1 convolutions (SD-1) or linear layers (SD-2).
  torch::nn::Conv2d proj_in_conv_{nullptr}, proj_out_conv_{nullptr};
  torch::nn::Linear proj_in_linear_{nullptr}, proj_out_linear_{nullptr};
  std::vector<BasicTransformerBlock> blocks_;
};
TORCH_MODULE(Transformer2DModel);

}  // namespace nablagfn
