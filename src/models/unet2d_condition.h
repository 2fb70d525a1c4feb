#pragma once
// The text-conditioned diffusion UNet of Stable Diffusion 1.x / 2.x, its config and its loader.
// Ports diffusers `UNet2DConditionModel` (src/diffusers/models/unets/unet_2d_condition.py, v0.40).
// What changed:
//  - only the configuration space SD-1.x / SD-2.x and the tiny test models use: CrossAttnDownBlock2D /
//    DownBlock2D, UNetMidBlock2DCrossAttn, UpBlock2D / CrossAttnUpBlock2D, SiLU, positional timesteps.
//    Class / addition embeddings, time conditioning projections, other block types and activations are
//    rejected by the config parser with a hint rather than half-supported.
//  - forward takes no attention masks, cross_attention_kwargs or ControlNet residuals and returns the
//    tensor itself.
//  - a no-grad channels-last CUDA sample runs every block on the fused kernels (kernels/fused_ops.h);
//    models/conv_layout.h's set_conv_layout (or SDDenoiser::set_channels_last) prepares the weights for it.
// Legend: B batch, C channels, H/W latent size, L/D context tokens / width, E time-embedding width.
#include <c10/core/Device.h>
#include <c10/core/ScalarType.h>
#include <torch/nn/module.h>
#include <torch/nn/modules/container/modulelist.h>
#include <torch/nn/modules/conv.h>
#include <torch/nn/modules/normalization.h>

#include <string>
#include <vector>

#include "models/embeddings.h"
#include "models/unet_blocks.h"

namespace nablagfn {

// Hyperparameters from a diffusers unet/config.json. Defaults are diffusers' own, except
// cross_attention_dim (diffusers: 1280), set to SD-1.5's 768. Per-block lists have one entry per down
// block; an int in config.json applies to every block.
struct UNetConfig {
  int64_t in_channels = 4;
  int64_t out_channels = 4;
  bool center_input_sample = false;  // sample -> 2·sample − 1 first
  bool flip_sin_to_cos = true;
  double freq_shift = 0.0;
  std::vector<std::string> down_block_types = {"CrossAttnDownBlock2D", "CrossAttnDownBlock2D", "CrossAttnDownBlock2D",
                                               "DownBlock2D"};
  std::vector<std::string> up_block_types = {"UpBlock2D", "CrossAttnUpBlock2D", "CrossAttnUpBlock2D",
                                             "CrossAttnUpBlock2D"};
  std::vector<int64_t> block_out_channels = {320, 640, 1280, 1280};
  std::vector<int64_t> layers_per_block = {2, 2, 2, 2};
  int64_t downsample_padding = 1;
  double mid_block_scale_factor = 1.0;
  int64_t norm_num_groups = 32;
  double norm_eps = 1e-5;
  std::vector<int64_t> cross_attention_dim = {768, 768, 768, 768};
  std::vector<int64_t> transformer_layers_per_block = {1, 1, 1, 1};
  // Heads per block. diffusers' config calls this `attention_head_dim` (a historical misnomer it keeps
  // for SD checkpoints: SD-1.5's 8 means 8 heads of width C/8); `num_attention_heads` must stay null.
  std::vector<int64_t> num_attention_heads = {8, 8, 8, 8};
  bool use_linear_projection = false;
  bool upcast_attention = false;
  double resnet_out_scale_factor = 1.0;
  int64_t time_embedding_dim = 0;  // 0 = 4 · block_out_channels[0]
  int64_t conv_in_kernel = 3;
  int64_t conv_out_kernel = 3;
  int64_t sample_size = 64;  // latent size the model was trained at (informational)

  int64_t n_blocks() const { return static_cast<int64_t>(block_out_channels.size()); }
  // Error (with a hint) when lists disagree in length or a value is out of range.
  void validate(const std::string& source) const;
};

// Parses config.json text; every key SD-1.x / SD-2.x configs hold is understood, keys starting with
// "_" are ignored, anything else (unknown keys, unsupported values) is an Error naming the key.
UNetConfig parse_unet_config(const std::string& json_text, const std::string& source);
UNetConfig load_unet_config(const std::string& path);

// The options of the blocks at level (0 = the widest) of a UNet of config c, before the per-block widths.
UNetBlockOptions unet_block_options(const UNetConfig& c, int64_t level);
// Down block i of a UNet of config c (its input is level i − 1's width, level 0's for i = 0).
std::shared_ptr<UNetDownBlockImpl> make_unet_down_block(const UNetConfig& c, int64_t i);

class UNet2DConditionModelImpl : public torch::nn::Module {
 public:
  explicit UNet2DConditionModelImpl(const UNetConfig& config);

  // sample [B, in_channels, H, W], timestep [B] or [] (integer or float DDPM timesteps),
  // encoder_hidden_states [B, L, cross_attention_dim] -> ε [B, out_channels, H, W] in sample's dtype
  // (which must be the parameters' dtype). Carries a graph when its inputs or parameters require grad.
  torch::Tensor forward(const torch::Tensor& sample, const torch::Tensor& timestep,
                        const torch::Tensor& encoder_hidden_states);

  const UNetConfig& config() const { return config_; }

  torch::nn::Conv2d conv_in{nullptr}, conv_out{nullptr};
  Timesteps time_proj{nullptr};
  TimestepEmbedding time_embedding{nullptr};
  torch::nn::ModuleList down_blocks{nullptr}, up_blocks{nullptr};
  UNetMidBlock2DCrossAttn mid_block{nullptr};
  torch::nn::GroupNorm conv_norm_out{nullptr};

 private:
  UNetConfig config_;
  std::vector<std::shared_ptr<UNetDownBlockImpl>> down_;
  std::vector<std::shared_ptr<UNetUpBlockImpl>> up_;
};
TORCH_MODULE(UNet2DConditionModel);

// The weights file of a diffusers UNet folder: diffusion_pytorch_model.safetensors, else the
// .fp16.safetensors variant. A .bin-only folder is an Error with a conversion hint.
std::string find_unet_weights(const std::string& unet_dir);

// Builds a UNet from <folder>/unet/config.json (or <folder>/config.json when folder is the unet folder
// itself) and loads its weights strictly (every key present, none left over, shapes equal), in dtype
// on device, in eval mode with requires_grad off.
UNet2DConditionModel load_unet(const std::string& folder, c10::ScalarType dtype = c10::kFloat,
                               c10::Device device = c10::kCPU);

}  // namespace nablagfn
