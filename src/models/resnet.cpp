// ResnetBlock2D, Downsample2D, Upsample2D: see resnet.h for the diffusers references and the changes.
#include "models/resnet.h"

#include <torch/torch.h>

#include "kernels/fused_ops.h"

namespace nablagfn {

namespace F = torch::nn::functional;

namespace resnet_detail {

// act(norm(x + shift)) through the fused GroupNorm.
torch::Tensor group_norm(const torch::Tensor& x, const torch::nn::GroupNorm& norm, const torch::Tensor& shift,
                         bool silu) {
  return fused::group_norm(x, norm->options.num_groups(), norm->weight, norm->bias, norm->options.eps(), shift, silu);
}

// conv(x) without its bias, which the caller adds in a fused kernel; stride and padding as conv was built.
torch::Tensor conv_without_bias(const torch::nn::Conv2d& conv, const torch::Tensor& x, int64_t stride,
                                int64_t padding) {
  return at::conv2d(x, conv->weight, {}, {stride, stride}, {padding, padding});
}

}  // namespace resnet_detail

ResnetBlock2DImpl::ResnetBlock2DImpl(const ResnetBlock2DOptions& o) : output_scale_factor_(o.output_scale_factor) {
  const int64_t out = o.out_channels > 0 ? o.out_channels : o.in_channels;
  TORCH_CHECK(o.in_channels > 0 && o.in_channels % o.groups == 0 && out % o.groups == 0, "ResnetBlock2D: channels ",
              o.in_channels, "/", out, " must be positive multiples of groups ", o.groups);
  norm1 =
      register_module("norm1", torch::nn::GroupNorm(torch::nn::GroupNormOptions(o.groups, o.in_channels).eps(o.eps)));
  conv1 = register_module("conv1", torch::nn::Conv2d(torch::nn::Conv2dOptions(o.in_channels, out, 3).padding(1)));
  if (o.temb_channels > 0) time_emb_proj = register_module("time_emb_proj", torch::nn::Linear(o.temb_channels, out));
  norm2 = register_module("norm2", torch::nn::GroupNorm(torch::nn::GroupNormOptions(o.groups, out).eps(o.eps)));
  conv2 = register_module("conv2", torch::nn::Conv2d(torch::nn::Conv2dOptions(out, out, 3).padding(1)));
  if (o.in_channels != out) {
    conv_shortcut =
        register_module("conv_shortcut", torch::nn::Conv2d(torch::nn::Conv2dOptions(o.in_channels, out, 1)));
  }
}

torch::Tensor ResnetBlock2DImpl::forward(const torch::Tensor& x, const torch::Tensor& temb) {
  TORCH_CHECK(temb.defined() == !time_emb_proj.is_empty(), "ResnetBlock2D: temb must be given iff temb_channels > 0");
  if (fused::nhwc_path(x)) return forward_nhwc(x, temb);
  torch::Tensor h = F::silu(norm1(x));
  if (temb.defined()) {
    // conv1's bias folded into the time projection: one broadcast add instead of two.
    torch::Tensor shift = at::addmm(conv1->bias + time_emb_proj->bias, F::silu(temb), time_emb_proj->weight.t());
    h = at::conv2d(h, conv1->weight, {}, /*stride=*/{1, 1}, /*padding=*/{1, 1}) +
        shift.unsqueeze(-1).unsqueeze(-1);  // [B, C_in, H, W] -> [B, C_out, H, W] + [B, C_out, 1, 1]
  } else {
    h = conv1(h);  // [B, C_in, H, W] -> [B, C_out, H, W]
  }
  h = conv2(F::silu(norm2(h)));
  torch::Tensor shortcut = conv_shortcut.is_empty() ? x : conv_shortcut(x);
  torch::Tensor out = shortcut + h;
  return output_scale_factor_ == 1.0 ? out : out / output_scale_factor_;
}

torch::Tensor ResnetBlock2DImpl::forward_nhwc(const torch::Tensor& x, const torch::Tensor& temb) {
  using resnet_detail::conv_without_bias;
  torch::Tensor h = resnet_detail::group_norm(x, norm1, {}, /*silu=*/true);
  h = conv_without_bias(conv1, h, 1, 1);  // [B, C_in, H, W] -> [B, C_out, H, W]
  // conv1's bias (and the time projection) enter as the shift before norm2: [B, C_out] or [1, C_out].
  const torch::Tensor shift =
      temb.defined() ? at::addmm(conv1->bias + time_emb_proj->bias, F::silu(temb), time_emb_proj->weight.t())
                     : conv1->bias.unsqueeze(0);
  h = conv_without_bias(conv2, resnet_detail::group_norm(h, norm2, shift, /*silu=*/true), 1, 1);  // [B, C_out, H, W]
  if (conv_shortcut.is_empty()) return fused::add_bias_residual(h, conv2->bias, x, {}, output_scale_factor_);
  return fused::add_bias_residual(h, conv2->bias, conv_without_bias(conv_shortcut, x, 1, 0), conv_shortcut->bias,
                                  output_scale_factor_);
}

Downsample2DImpl::Downsample2DImpl(int64_t channels, int64_t out_channels, int64_t padding) : padding_(padding) {
  TORCH_CHECK(padding == 0 || padding == 1, "Downsample2D: padding must be 0 or 1, got ", padding);
  conv = register_module(
      "conv", torch::nn::Conv2d(torch::nn::Conv2dOptions(channels, out_channels, 3).stride(2).padding(padding)));
}

torch::Tensor Downsample2DImpl::forward(const torch::Tensor& x) {
  if (padding_ == 1 && fused::nhwc_path(x)) {
    // [B, C, H, W] -> [B, C_out, ceil(H/2), ceil(W/2)], the bias added by the fused kernel.
    return fused::add_bias_residual(resnet_detail::conv_without_bias(conv, x, 2, 1), conv->bias, {}, {});
  }
  if (padding_ == 0) {
    // The VAE encoder pads right and bottom only, so odd and even sizes both halve by ceil.
    return conv(F::pad(x, F::PadFuncOptions({0, 1, 0, 1})));  // [B, C, H, W] -> [B, C_out, H/2, W/2]
  }
  return conv(x);  // [B, C, H, W] -> [B, C_out, ceil(H/2), ceil(W/2)]
}

Upsample2DImpl::Upsample2DImpl(int64_t channels, int64_t out_channels) {
  conv = register_module("conv", torch::nn::Conv2d(torch::nn::Conv2dOptions(channels, out_channels, 3).padding(1)));
}

torch::Tensor Upsample2DImpl::forward(const torch::Tensor& x, c10::optional<std::vector<int64_t>> size) {
  auto opts = F::InterpolateFuncOptions().mode(torch::kNearest);
  if (size) {
    opts = opts.size(*size);
  } else {
    opts = opts.scale_factor(std::vector<double>{2.0, 2.0});
  }
  if (fused::nhwc_path(x)) {
    const torch::Tensor up = size ? F::interpolate(x, opts) : fused::upsample_nearest2x(x);  // [B, C, 2H, 2W]
    // The convolution's bias added by the fused kernel: [B, C, 2H, 2W] -> [B, C_out, 2H, 2W].
    return fused::add_bias_residual(resnet_detail::conv_without_bias(conv, up, 1, 1), conv->bias, {}, {});
  }
  // Large batches hit a non-contiguous-input bug in upsample_nearest2d (diffusers does the same).
  torch::Tensor in = x.size(0) >= 64 ? x.contiguous() : x;
  return conv(F::interpolate(in, opts));  // [B, C, H, W] -> [B, C_out, 2H, 2W]
}

}  // namespace nablagfn
