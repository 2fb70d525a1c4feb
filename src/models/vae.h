#pragma once
// Stable Diffusion's VAE. Port of diffusers `AutoencoderKL` (models/autoencoders/autoencoder_kl.py),
// `Encoder` / `Decoder` / `DiagonalGaussianDistribution` (models/autoencoders/vae.py),
// `DownEncoderBlock2D`, `UpDecoderBlock2D`, `UNetMidBlock2D` (models/unets/unet_2d_blocks.py) and the
// mid-block `Attention` with `AttnProcessor` (models/attention_processor.py), v0.3x-0.40. What changed:
//  - only the SD layout: DownEncoderBlock2D / UpDecoderBlock2D, SiLU, no temb, one-head mid attention;
//    config.json values outside it are an Error with a hint instead of a different network;
//  - encode returns the Gaussian's mean and clamped log-variance, not a distribution object;
//  - no tiling / slicing, no upcast of the decoder's up blocks (the caller picks one dtype).
// Sizes: B batch, C channels, H/W image size, h/w latent size (H / 2^(levels-1)), Z latent channels.
#include <cstdint>
#include <string>
#include <vector>

#include <nlohmann/json_fwd.hpp>
#include <torch/nn/module.h>
#include <torch/nn/modules/container/modulelist.h>
#include <torch/nn/modules/conv.h>
#include <torch/nn/modules/linear.h>
#include <torch/nn/modules/normalization.h>

#include "io/tensor_io.h"
#include "models/resnet.h"

namespace nablagfn {

// diffusers AutoencoderKL config.json.
struct VAEConfig {
  int64_t in_channels = 3;
  int64_t out_channels = 3;
  int64_t latent_channels = 4;
  std::vector<int64_t> block_out_channels{128, 256, 512, 512};
  int64_t layers_per_block = 2;
  int64_t norm_num_groups = 32;
  int64_t sample_size = 512;
  // Latents the UNet sees are scaling_factor · (z − shift_factor); decode undoes it (VAEDecoder).
  double scaling_factor = 0.18215;
  double shift_factor = 0.0;
  bool use_quant_conv = true;
  bool use_post_quant_conv = true;
  bool mid_block_add_attention = true;
  // Use scaled_dot_product_attention in the mid blocks where libtorch has it (not a checkpoint field).
  bool fused_attention = false;
};

// Parses and validates a diffusers AutoencoderKL config; Error naming the file and field otherwise.
VAEConfig vae_config_from_json(const nlohmann::json& j, const std::string& source);
VAEConfig load_vae_config(const std::string& path);

// The mid-block self-attention over the H·W positions, one head of width C, with a residual.
class VAEAttentionImpl : public torch::nn::Module {
 public:
  VAEAttentionImpl(int64_t channels, int64_t groups, bool fused);
  at::Tensor forward(const at::Tensor& x);  // [B, C, H, W] -> [B, C, H, W]

  torch::nn::GroupNorm group_norm{nullptr};
  torch::nn::Linear to_q{nullptr}, to_k{nullptr}, to_v{nullptr};
  torch::nn::ModuleList to_out{nullptr};  // [0]: Linear(C, C) (diffusers' [1] is a parameter-free Dropout)

  // fused: sdpa where libtorch has it; otherwise the written-out reference (fp32 softmax). For SD's one
  // head of width 512 sdpa has no flash kernel on CUDA and takes the memory-efficient one, slower than the
  // written-out path there: the Stable Diffusion problem turns fused off on CUDA (problems/stable_diffusion.cpp).
  void set_fused(bool fused) { fused_ = fused; }
  bool fused() const { return fused_; }

 private:
  bool fused_;
};
TORCH_MODULE(VAEAttention);

// Sets the kernel of every VAEAttention inside root (VAEAttentionImpl::set_fused).
void set_vae_attention_fused(torch::nn::Module& root, bool fused);

// UNetMidBlock2D without time embedding: resnets[0], then (attentions[0], resnets[1]).
class VAEMidBlock2DImpl : public torch::nn::Module {
 public:
  VAEMidBlock2DImpl(int64_t channels, int64_t groups, bool add_attention, bool fused_attention);
  at::Tensor forward(const at::Tensor& x);  // [B, C, H, W] -> [B, C, H, W]

  torch::nn::ModuleList attentions{nullptr}, resnets{nullptr};
};
TORCH_MODULE(VAEMidBlock2D);

// Resnets, then an optional stride-2 downsampler (VAE padding: right/bottom).
class DownEncoderBlock2DImpl : public torch::nn::Module {
 public:
  DownEncoderBlock2DImpl(int64_t in_channels, int64_t out_channels, int64_t n_layers, int64_t groups,
                         bool add_downsample);
  at::Tensor forward(const at::Tensor& x);  // [B, C_in, H, W] -> [B, C_out, H/2, W/2] (or H, W)

  torch::nn::ModuleList resnets{nullptr}, downsamplers{nullptr};
};
TORCH_MODULE(DownEncoderBlock2D);

// Resnets, then an optional nearest x2 upsampler with a 3x3 convolution.
class UpDecoderBlock2DImpl : public torch::nn::Module {
 public:
  UpDecoderBlock2DImpl(int64_t in_channels, int64_t out_channels, int64_t n_layers, int64_t groups,
                       bool add_upsample);
  at::Tensor forward(const at::Tensor& x);  // [B, C_in, H, W] -> [B, C_out, 2H, 2W] (or H, W)

  torch::nn::ModuleList resnets{nullptr}, upsamplers{nullptr};
};
TORCH_MODULE(UpDecoderBlock2D);

class AutoencoderKLEncoderImpl : public torch::nn::Module {
 public:
  explicit AutoencoderKLEncoderImpl(const VAEConfig& config);
  at::Tensor forward(const at::Tensor& x);  // [B, C, H, W] -> moments [B, 2Z, h, w]

  torch::nn::Conv2d conv_in{nullptr};
  torch::nn::ModuleList down_blocks{nullptr};
  VAEMidBlock2D mid_block{nullptr};
  torch::nn::GroupNorm conv_norm_out{nullptr};
  torch::nn::Conv2d conv_out{nullptr};
};
TORCH_MODULE(AutoencoderKLEncoder);

class AutoencoderKLDecoderImpl : public torch::nn::Module {
 public:
  explicit AutoencoderKLDecoderImpl(const VAEConfig& config);
  at::Tensor forward(const at::Tensor& z);  // [B, Z, h, w] -> [B, C, H, W]

  torch::nn::Conv2d conv_in{nullptr};
  VAEMidBlock2D mid_block{nullptr};
  torch::nn::ModuleList up_blocks{nullptr};
  torch::nn::GroupNorm conv_norm_out{nullptr};
  torch::nn::Conv2d conv_out{nullptr};
};
TORCH_MODULE(AutoencoderKLDecoder);

struct VAEEncoding {
  at::Tensor mean;    // [B, Z, h, w], the latent (unscaled) the Gaussian is centred on
  at::Tensor logvar;  // [B, Z, h, w], clamped to [-30, 20] as diffusers does
};

class AutoencoderKLImpl : public torch::nn::Module {
 public:
  explicit AutoencoderKLImpl(const VAEConfig& config);
  // images [B, C, H, W] in [-1, 1] -> the posterior's mean and log-variance (unscaled latents).
  VAEEncoding encode(const at::Tensor& images);
  // unscaled latents [B, Z, h, w] -> images [B, C, H, W], nominally in [-1, 1]; differentiable.
  at::Tensor decode(const at::Tensor& z);
  // Strict load of a diffusers AutoencoderKL state dict; Error listing every mismatch.
  void load(const TensorMap& tensors, const std::string& source);

  const VAEConfig& config() const { return config_; }

  AutoencoderKLEncoder encoder{nullptr};
  AutoencoderKLDecoder decoder{nullptr};
  torch::nn::Conv2d quant_conv{nullptr}, post_quant_conv{nullptr};

 private:
  VAEConfig config_;
};
TORCH_MODULE(AutoencoderKL);

// A diffusers vae/ folder (config.json + diffusion_pytorch_model.safetensors), float32 on the CPU.
AutoencoderKL load_autoencoder_kl(const std::string& folder);

}  // namespace nablagfn
