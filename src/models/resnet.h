#pragma once
// Residual blocks and resamplers shared by the UNet and the VAE.
// Ports diffusers `ResnetBlock2D`, `Downsample2D`, `Upsample2D` (src/diffusers/models/resnet.py,
// downsampling.py, upsampling.py, v0.40).
// What changed:
//  - SiLU is the only activation and "default" the only time-embedding norm (every SD checkpoint);
//    the config parsers reject the others with a hint.
//  - no FIR / KDownsample variants, no up/down inside the resnet, no dropout (SD uses 0.0).
//  - the time embedding is optional (temb_channels = 0, the VAE); forward then takes an undefined temb.
//  - no-grad channels-last CUDA inputs take a fused path (kernels/fused_ops.h): the convolution biases and
//    the time shift are added inside the GroupNorm / residual kernels, SiLU inside the GroupNorm.
// Legend: B batch, C channels, H/W spatial size, E time-embedding width.
#include <torch/nn/module.h>
#include <torch/nn/modules/conv.h>
#include <torch/nn/modules/linear.h>
#include <torch/nn/modules/normalization.h>

namespace nablagfn {

struct ResnetBlock2DOptions {
  int64_t in_channels = 0;
  int64_t out_channels = 0;   // 0 = in_channels
  int64_t temb_channels = 0;  // 0 = no time embedding (no `time_emb_proj`)
  int64_t groups = 32;
  double eps = 1e-6;
  double output_scale_factor = 1.0;
};

class ResnetBlock2DImpl : public torch::nn::Module {
 public:
  explicit ResnetBlock2DImpl(const ResnetBlock2DOptions& options);
  // x [B, C_in, H, W], temb [B, E] or undefined (required iff temb_channels > 0) -> [B, C_out, H, W].
  torch::Tensor forward(const torch::Tensor& x, const torch::Tensor& temb = {});

  torch::nn::GroupNorm norm1{nullptr}, norm2{nullptr};
  torch::nn::Conv2d conv1{nullptr}, conv2{nullptr}, conv_shortcut{nullptr};
  torch::nn::Linear time_emb_proj{nullptr};

 private:
  // forward() on the fused kernels; same shapes and result up to rounding.
  torch::Tensor forward_nhwc(const torch::Tensor& x, const torch::Tensor& temb);

  double output_scale_factor_;
};
TORCH_MODULE(ResnetBlock2D);

// Stride-2 3x3 convolution named `conv`. padding 1 (UNet) or 0 with an asymmetric (0,1,0,1) pad
// first (the VAE encoder).
class Downsample2DImpl : public torch::nn::Module {
 public:
  Downsample2DImpl(int64_t channels, int64_t out_channels, int64_t padding);
  torch::Tensor forward(const torch::Tensor& x);  // [B, C, H, W] -> [B, C_out, ceil(H/2), ceil(W/2)]

  torch::nn::Conv2d conv{nullptr};

 private:
  int64_t padding_;
};
TORCH_MODULE(Downsample2D);

// Nearest-neighbour x2 upsampling (or to an explicit size) followed by a 3x3 convolution named `conv`.
class Upsample2DImpl : public torch::nn::Module {
 public:
  Upsample2DImpl(int64_t channels, int64_t out_channels);
  // x [B, C, H, W] -> [B, C_out, 2H, 2W], or [B, C_out, size[0], size[1]] when size is given.
  torch::Tensor forward(const torch::Tensor& x, c10::optional<std::vector<int64_t>> size = c10::nullopt);

  torch::nn::Conv2d conv{nullptr};
};
TORCH_MODULE(Upsample2D);

}  // namespace nablagfn
