#pragma once
// The down, mid and up blocks of UNet2DConditionModel.
// Ports diffusers `CrossAttnDownBlock2D`, `DownBlock2D`, `UNetMidBlock2DCrossAttn`, `UpBlock2D`,
// `CrossAttnUpBlock2D` (src/diffusers/models/unets/unet_2d_blocks.py, v0.40).
// What changed:
//  - a down (up) block with and without cross-attention share one implementation (`UNetDownBlockImpl`,
//    `UNetUpBlockImpl`); the named classes only choose whether `attentions` exists.
//  - no FreeU, no gradient checkpointing, no dual cross-attention, no additional residuals (ControlNet).
//  - on the fused channels-last path (kernels/fused_ops.h) the up blocks concatenate with the NHWC kernel.
// Legend: B batch, C channels, H/W spatial size, E time-embedding width, L/D context tokens / width.
#include <torch/nn/module.h>
#include <torch/nn/modules/container/modulelist.h>

#include <vector>

#include "models/attention.h"
#include "models/resnet.h"

namespace nablagfn {

struct UNetBlockOptions {
  int64_t in_channels = 0;
  int64_t out_channels = 0;
  int64_t prev_output_channels = 0;  // up blocks: width of the block below (input of the first resnet)
  int64_t temb_channels = 0;
  int64_t num_layers = 1;          // resnets (and transformers) in the block
  int64_t transformer_layers = 1;  // BasicTransformerBlocks per Transformer2DModel
  bool add_resample = true;        // a Downsample2D / Upsample2D at the end
  int64_t downsample_padding = 1;
  int64_t groups = 32;
  double eps = 1e-5;
  double output_scale_factor = 1.0;
  int64_t heads = 8;  // per Transformer2DModel; head width = out_channels / heads
  int64_t cross_attention_dim = 768;
  bool use_linear_projection = false;
  bool upcast_attention = false;
};

// resnet (-> transformer) per layer, then an optional stride-2 downsampler.
class UNetDownBlockImpl : public torch::nn::Module {
 public:
  // h [B, C_in, H, W], temb [B, E], context [B, L, D] -> [B, C_out, H', W']; appends every layer's
  // output and the downsampled output to res_samples (the skip connections of the up path).
  torch::Tensor forward(torch::Tensor h, const torch::Tensor& temb, const torch::Tensor& context,
                        std::vector<torch::Tensor>& res_samples);
  bool has_cross_attention() const { return !attentions_.empty(); }

  torch::nn::ModuleList resnets{nullptr}, attentions{nullptr}, downsamplers{nullptr};

 protected:
  UNetDownBlockImpl(const UNetBlockOptions& options, bool cross_attention);

 private:
  std::vector<ResnetBlock2D> resnets_;
  std::vector<Transformer2DModel> attentions_;
  Downsample2D downsampler_{nullptr};
};

class CrossAttnDownBlock2DImpl : public UNetDownBlockImpl {
 public:
  explicit CrossAttnDownBlock2DImpl(const UNetBlockOptions& options) : UNetDownBlockImpl(options, true) {}
};
TORCH_MODULE(CrossAttnDownBlock2D);

class DownBlock2DImpl : public UNetDownBlockImpl {
 public:
  explicit DownBlock2DImpl(const UNetBlockOptions& options) : UNetDownBlockImpl(options, false) {}
};
TORCH_MODULE(DownBlock2D);

// resnets[0], then (transformer, resnet) num_layers times. Uses in_channels, num_layers (default 1),
// transformer_layers, groups, eps, output_scale_factor, heads, cross_attention_dim, the projection
// and upcast flags.
class UNetMidBlock2DCrossAttnImpl : public torch::nn::Module {
 public:
  explicit UNetMidBlock2DCrossAttnImpl(const UNetBlockOptions& options);
  torch::Tensor forward(const torch::Tensor& h, const torch::Tensor& temb,
                        const torch::Tensor& context);  // [B, C, H, W]

  torch::nn::ModuleList resnets{nullptr}, attentions{nullptr};

 private:
  std::vector<ResnetBlock2D> resnets_;
  std::vector<Transformer2DModel> attentions_;
};
TORCH_MODULE(UNetMidBlock2DCrossAttn);

// Per layer: concat the last skip connection, resnet (-> transformer); then an optional x2 upsampler.
class UNetUpBlockImpl : public torch::nn::Module {
 public:
  // h [B, C_prev, H, W] -> [B, C_out, H', W']; consumes num_layers tensors from the back of
  // res_samples. upsample_size: explicit output size of the upsampler (odd latent sizes), else x2.
  torch::Tensor forward(torch::Tensor h, std::vector<torch::Tensor>& res_samples, const torch::Tensor& temb,
                        const torch::Tensor& context, c10::optional<std::vector<int64_t>> upsample_size);
  int64_t num_layers() const { return static_cast<int64_t>(resnets_.size()); }

  torch::nn::ModuleList resnets{nullptr}, attentions{nullptr}, upsamplers{nullptr};

 protected:
  UNetUpBlockImpl(const UNetBlockOptions& options, bool cross_attention);

 private:
  std::vector<ResnetBlock2D> resnets_;
  std::vector<Transformer2DModel> attentions_;
  Upsample2D upsampler_{nullptr};
};

class CrossAttnUpBlock2DImpl : public UNetUpBlockImpl {
 public:
  explicit CrossAttnUpBlock2DImpl(const UNetBlockOptions& options) : UNetUpBlockImpl(options, true) {}
};
TORCH_MODULE(CrossAttnUpBlock2D);

class UpBlock2DImpl : public UNetUpBlockImpl {
 public:
  explicit UpBlock2DImpl(const UNetBlockOptions& options) : UNetUpBlockImpl(options, false) {}
};
TORCH_MODULE(UpBlock2D);

}  // namespace nablagfn
