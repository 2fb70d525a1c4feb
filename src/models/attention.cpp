// Attention, FeedForward, BasicTransformerBlock, Transformer2DModel: see attention.h for the diffusers
// references and the changes.
#include "models/attention.h"

#include <torch/torch.h>

#include <cmath>

#include "core/compat.h"
#include "core/error.h"
#include "kernels/fused_attention.h"
#include "kernels/fused_ops.h"

namespace nablagfn {

AttentionImpl::AttentionImpl(const AttentionOptions& o) : options_(o) {
  TORCH_CHECK(o.query_dim > 0 && o.heads > 0 && o.dim_head > 0, "Attention: bad sizes");
  const int64_t inner = o.heads * o.dim_head;
  const int64_t kv_dim = o.cross_attention_dim > 0 ? o.cross_attention_dim : o.query_dim;
  to_q = register_module("to_q", torch::nn::Linear(torch::nn::LinearOptions(o.query_dim, inner).bias(false)));
  to_k = register_module("to_k", torch::nn::Linear(torch::nn::LinearOptions(kv_dim, inner).bias(false)));
  to_v = register_module("to_v", torch::nn::Linear(torch::nn::LinearOptions(kv_dim, inner).bias(false)));
  out_linear_ = torch::nn::Linear(inner, o.query_dim);
  to_out = register_module("to_out", torch::nn::ModuleList(out_linear_));
}

torch::nn::Linear& AttentionImpl::projection(const std::string& target) {
  if (target == "to_q") return to_q;
  if (target == "to_k") return to_k;
  if (target == "to_v") return to_v;
  if (target == "to_out.0") return out_linear_;
  throw Error("unknown LoRA target module '" + target + "'", "LoRA targets are to_q, to_k, to_v and to_out.0");
}

void AttentionImpl::attach_lora(const std::string& target, LoRALinear lora) {
  projection(target);  // validates the name
  lora_.insert_or_assign(target, std::move(lora));
}

torch::Tensor AttentionImpl::project(const std::string& target, torch::nn::Linear& linear, const torch::Tensor& x) {
  // at::linear, not Linear::forward: libtorch's module adds the bias in a separate pass for 3-D inputs
  // (25 ms of a 91 ms SD step on an H200, bench/README.md).
  auto it = lora_.find(target);
  if (it != lora_.end()) return it->second->project(x, linear->weight, linear->bias);
  return at::linear(x, linear->weight, linear->bias);
}

torch::Tensor AttentionImpl::forward(const torch::Tensor& x, const torch::Tensor& context) {
  TORCH_CHECK(x.dim() == 3, "Attention: x must be [B, N, C], got ", x.sizes());
  const torch::Tensor& kv = context.defined() ? context : x;
  TORCH_CHECK(kv.dim() == 3 && kv.size(0) == x.size(0), "Attention: context must be [B, L, D], got ", kv.sizes());
  const int64_t B = x.size(0), N = x.size(1), L = kv.size(1), h = options_.heads, d = options_.dim_head;
  torch::Tensor q = project("to_q", to_q, x).view({B, N, h, d}).transpose(1, 2);   // [B, N, h·d] -> [B, h, N, d]
  torch::Tensor k = project("to_k", to_k, kv).view({B, L, h, d}).transpose(1, 2);  // [B, L, h·d] -> [B, h, L, d]
  torch::Tensor v = project("to_v", to_v, kv).view({B, L, h, d}).transpose(1, 2);  // [B, L, h·d] -> [B, h, L, d]
  const double scale = 1.0 / std::sqrt(static_cast<double>(d));
  torch::Tensor out;
  if (backend_ == AttentionBackend::Fused) {
    out = fused::attention(q, k, v, scale);  // [B, h, N, d]
  } else if (options_.upcast_attention && q.scalar_type() != torch::kFloat32 && q.scalar_type() != torch::kFloat64) {
    // upcast_attention raises half precision to fp32; float64 (gradchecks) is already wider.
    out = compat::attention_reference(q.to(torch::kFloat32), k.to(torch::kFloat32), v.to(torch::kFloat32), {}, scale)
              .to(q.scalar_type());  // [B, h, N, d]
  } else {
    out = compat::attention_reference(q, k, v, {}, scale);  // [B, h, N, d]
  }
  out = out.transpose(1, 2).reshape({B, N, h * d});  // [B, h, N, d] -> [B, N, h·d]
  return project("to_out.0", out_linear_, out);      // [B, N, C]
}

void set_attention_backend(torch::nn::Module& root, AttentionBackend backend) {
  for (const auto& m : root.modules(/*include_self=*/true)) {
    if (auto attn = std::dynamic_pointer_cast<AttentionImpl>(m)) attn->set_backend(backend);
  }
}

GEGLUImpl::GEGLUImpl(int64_t dim_in, int64_t dim_out) {
  proj = register_module("proj", torch::nn::Linear(dim_in, 2 * dim_out));
}

torch::Tensor GEGLUImpl::forward(const torch::Tensor& x) {
  // Two GEMMs on the halves of proj instead of one GEMM and a chunk: no strided copy of the halves.
  const int64_t d = proj->weight.size(0) / 2;
  torch::Tensor h = at::linear(x, proj->weight.narrow(0, 0, d), proj->bias.narrow(0, 0, d));     // [B, N, dim_out]
  torch::Tensor gate = at::linear(x, proj->weight.narrow(0, d, d), proj->bias.narrow(0, d, d));  // [B, N, dim_out]
  return h * torch::gelu(gate);  // exact (erf) GELU, as diffusers' GEGLU
}

FeedForwardImpl::FeedForwardImpl(int64_t dim) {
  geglu_ = GEGLU(dim, 4 * dim);
  linear_ = torch::nn::Linear(4 * dim, dim);
  net = register_module("net", torch::nn::ModuleList(geglu_, torch::nn::Identity(), linear_));
}

torch::Tensor FeedForwardImpl::forward(const torch::Tensor& x) {
  return at::linear(geglu_(x), linear_->weight, linear_->bias);  // [B, N, C] -> [B, N, 4C] -> [B, N, C]
}

torch::Tensor FeedForwardImpl::forward_fused(const torch::Tensor& x, torch::Tensor residual) {
  const torch::Tensor hg = at::linear(x, geglu_->proj->weight, geglu_->proj->bias);  // [B, N, C] -> [B, N, 2·4C]
  const torch::Tensor g = fused::geglu(hg);                                          // [B, N, 4C]
  // [B·N, C] += [B·N, 4C] x [4C, C]: cuBLAS reads the residual in its epilogue (beta = 1).
  residual.view({-1, residual.size(-1)}).addmm_(g.view({-1, g.size(-1)}), linear_->weight.t());
  return residual;
}

BasicTransformerBlockImpl::BasicTransformerBlockImpl(int64_t dim, int64_t heads, int64_t dim_head,
                                                     int64_t cross_attention_dim, bool upcast_attention) {
  auto layer_norm = [&] { return torch::nn::LayerNorm(torch::nn::LayerNormOptions({dim}).eps(1e-5)); };
  norm1 = register_module("norm1", layer_norm());
  attn1 = register_module("attn1", Attention(AttentionOptions{dim, 0, heads, dim_head, upcast_attention}));
  norm2 = register_module("norm2", layer_norm());
  attn2 = register_module("attn2",
                          Attention(AttentionOptions{dim, cross_attention_dim, heads, dim_head, upcast_attention}));
  norm3 = register_module("norm3", layer_norm());
  ff = register_module("ff", FeedForward(dim));
}

torch::Tensor BasicTransformerBlockImpl::forward(const torch::Tensor& x, const torch::Tensor& context) {
  torch::Tensor h = x + attn1(norm1(x));  // [B, N, C]
  h = h + attn2(norm2(h), context);       // [B, N, C]
  return h + ff(norm3(h));                // [B, N, C]
}

torch::Tensor BasicTransformerBlockImpl::forward_fused(const torch::Tensor& x, const torch::Tensor& context) {
  // (a + b + h_bias, n(a + b)), [B, N, C] each.
  auto norm = [](const torch::nn::LayerNorm& n, const torch::Tensor& a, const torch::Tensor& b,
                 const torch::Tensor& h_bias) {
    return fused::add_layer_norm(a, b, n->weight, n->bias, n->options.eps(), h_bias);
  };
  const torch::Tensor n1 = norm(norm1, x, {}, {}).second;
  const auto [h1, n2] = norm(norm2, x, attn1(n1), {});
  // h2 takes ff's output bias now; ff's last GEMM then accumulates into h2.
  const auto [h2, n3] = norm(norm3, h1, attn2(n2, context), ff->output_bias());
  return ff->forward_fused(n3, h2);  // [B, N, C]
}

Transformer2DModelImpl::Transformer2DModelImpl(const Transformer2DOptions& o) {
  const int64_t inner = o.heads * o.dim_head;
  norm = register_module("norm",
                         torch::nn::GroupNorm(torch::nn::GroupNormOptions(o.norm_num_groups, o.in_channels).eps(1e-6)));
  if (o.use_linear_projection) {
    proj_in_linear_ = register_module("proj_in", torch::nn::Linear(o.in_channels, inner));
  } else {
    proj_in_conv_ = register_module("proj_in", torch::nn::Conv2d(torch::nn::Conv2dOptions(o.in_channels, inner, 1)));
  }
  transformer_blocks = register_module("transformer_blocks", torch::nn::ModuleList());
  for (int64_t i = 0; i < o.num_layers; ++i) {
    blocks_.emplace_back(inner, o.heads, o.dim_head, o.cross_attention_dim, o.upcast_attention);
    transformer_blocks->push_back(blocks_.back());
  }
  if (o.use_linear_projection) {
    proj_out_linear_ = register_module("proj_out", torch::nn::Linear(inner, o.in_channels));
  } else {
    proj_out_conv_ = register_module("proj_out", torch::nn::Conv2d(torch::nn::Conv2dOptions(inner, o.in_channels, 1)));
  }
}

torch::Tensor Transformer2DModelImpl::forward(const torch::Tensor& x, const torch::Tensor& context) {
  TORCH_CHECK(x.dim() == 4, "Transformer2DModel: x must be [B, C, H, W], got ", x.sizes());
  if (fused::nhwc_path(x)) return forward_nhwc(x, context);
  const int64_t B = x.size(0), H = x.size(2), W = x.size(3);
  torch::Tensor h = norm(x);
  if (!proj_in_linear_.is_empty()) {
    h = proj_in_linear_(h.permute({0, 2, 3, 1}).reshape({B, H * W, x.size(1)}));  // [B, C, H, W] -> [B, H*W, inner]
  } else {
    h = proj_in_conv_(h);                                        // [B, C, H, W] -> [B, inner, H, W]
    h = h.permute({0, 2, 3, 1}).reshape({B, H * W, h.size(1)});  // [B, inner, H, W] -> [B, H*W, inner]
  }
  for (auto& block : blocks_) h = block(h, context);  // [B, H*W, inner]
  const int64_t inner = h.size(2);
  if (!proj_in_linear_.is_empty()) {
    h = proj_out_linear_(h);                                    // [B, H*W, inner] -> [B, H*W, C]
    h = h.reshape({B, H, W, h.size(2)}).permute({0, 3, 1, 2});  // [B, H*W, C] -> [B, C, H, W]
  } else {
    h = h.reshape({B, H, W, inner}).permute({0, 3, 1, 2});  // [B, H*W, inner] -> [B, inner, H, W]
    h = proj_out_conv_(h.contiguous());                     // [B, inner, H, W] -> [B, C, H, W]
  }
  return h + x;
}

torch::Tensor Transformer2DModelImpl::forward_nhwc(const torch::Tensor& x, const torch::Tensor& context) {
  const int64_t B = x.size(0), C = x.size(1), H = x.size(2), W = x.size(3);
  const torch::nn::GroupNormOptions& o = norm->options;
  torch::Tensor h = fused::group_norm(x, o.num_groups(), norm->weight, norm->bias, o.eps(), {}, /*silu=*/false);
  // In NHWC memory the tokens are already rows: the permute and reshape are views.
  h = h.permute({0, 2, 3, 1}).reshape({B, H * W, C});  // [B, C, H, W] -> [B, H*W, C]
  const bool linear = !proj_in_linear_.is_empty();
  const torch::Tensor& w_in = linear ? proj_in_linear_->weight : proj_in_conv_->weight;
  const torch::Tensor& b_in = linear ? proj_in_linear_->bias : proj_in_conv_->bias;
  h = at::linear(h, w_in.reshape({w_in.size(0), C}), b_in);  // [B, H*W, C] -> [B, H*W, inner]
  for (auto& block : blocks_) h = block->forward_fused(h, context);
  const torch::Tensor& w_out = linear ? proj_out_linear_->weight : proj_out_conv_->weight;
  const torch::Tensor& b_out = linear ? proj_out_linear_->bias : proj_out_conv_->bias;
  h = at::linear(h, w_out.reshape({C, h.size(2)}), b_out);  // [B, H*W, inner] -> [B, H*W, C]
  return h.view({B, H, W, C}).permute({0, 3, 1, 2}) + x;    // [B, H*W, C] -> [B, C, H, W] (NHWC memory)
}

}  // namespace nablagfn
