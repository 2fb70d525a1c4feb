// UNet down / mid / up blocks: see unet_blocks.h for the diffusers references and the changes.
#include "models/unet_blocks.h"

#include <torch/torch.h>

#include "kernels/fused_ops.h"

namespace nablagfn {

namespace unet_blocks_detail {

ResnetBlock2D make_resnet(const UNetBlockOptions& o, int64_t in_channels, int64_t out_channels,
                          double output_scale_factor) {
  return ResnetBlock2D(
      ResnetBlock2DOptions{in_channels, out_channels, o.temb_channels, o.groups, o.eps, output_scale_factor});
}

Transformer2DModel make_transformer(const UNetBlockOptions& o, int64_t channels) {
  Transformer2DOptions t;
  t.in_channels = channels;
  t.heads = o.heads;
  t.dim_head = channels / o.heads;
  t.num_layers = o.transformer_layers;
  t.cross_attention_dim = o.cross_attention_dim;
  t.norm_num_groups = o.groups;
  t.use_linear_projection = o.use_linear_projection;
  t.upcast_attention = o.upcast_attention;
  return Transformer2DModel(t);
}

}  // namespace unet_blocks_detail

UNetDownBlockImpl::UNetDownBlockImpl(const UNetBlockOptions& o, bool cross_attention) {
  resnets = register_module("resnets", torch::nn::ModuleList());
  if (cross_attention) attentions = register_module("attentions", torch::nn::ModuleList());
  for (int64_t i = 0; i < o.num_layers; ++i) {
    resnets_.push_back(unet_blocks_detail::make_resnet(o, i == 0 ? o.in_channels : o.out_channels, o.out_channels,
                                                       o.output_scale_factor));
    resnets->push_back(resnets_.back());
    if (cross_attention) {
      attentions_.push_back(unet_blocks_detail::make_transformer(o, o.out_channels));
      attentions->push_back(attentions_.back());
    }
  }
  if (o.add_resample) {
    downsampler_ = Downsample2D(o.out_channels, o.out_channels, o.downsample_padding);
    downsamplers = register_module("downsamplers", torch::nn::ModuleList(downsampler_));
  }
}

torch::Tensor UNetDownBlockImpl::forward(torch::Tensor h, const torch::Tensor& temb, const torch::Tensor& context,
                                         std::vector<torch::Tensor>& res_samples) {
  for (size_t i = 0; i < resnets_.size(); ++i) {
    h = resnets_[i](h, temb);                                  // [B, C_in, H, W] -> [B, C_out, H, W]
    if (!attentions_.empty()) h = attentions_[i](h, context);  // [B, C_out, H, W]
    res_samples.push_back(h);
  }
  if (!downsampler_.is_empty()) {
    h = downsampler_(h);  // [B, C_out, H, W] -> [B, C_out, H/2, W/2]
    res_samples.push_back(h);
  }
  return h;
}

UNetMidBlock2DCrossAttnImpl::UNetMidBlock2DCrossAttnImpl(const UNetBlockOptions& o) {
  resnets = register_module("resnets", torch::nn::ModuleList());
  attentions = register_module("attentions", torch::nn::ModuleList());
  const int64_t C = o.in_channels;
  resnets_.push_back(unet_blocks_detail::make_resnet(o, C, C, o.output_scale_factor));
  resnets->push_back(resnets_.back());
  for (int64_t i = 0; i < o.num_layers; ++i) {
    attentions_.push_back(unet_blocks_detail::make_transformer(o, C));
    attentions->push_back(attentions_.back());
    resnets_.push_back(unet_blocks_detail::make_resnet(o, C, C, o.output_scale_factor));
    resnets->push_back(resnets_.back());
  }
}

torch::Tensor UNetMidBlock2DCrossAttnImpl::forward(const torch::Tensor& x, const torch::Tensor& temb,
                                                   const torch::Tensor& context) {
  torch::Tensor h = resnets_[0](x, temb);  // [B, C, H, W]
  for (size_t i = 0; i < attentions_.size(); ++i) {
    h = attentions_[i](h, context);
    h = resnets_[i + 1](h, temb);
  }
  return h;
}

UNetUpBlockImpl::UNetUpBlockImpl(const UNetBlockOptions& o, bool cross_attention) {
  resnets = register_module("resnets", torch::nn::ModuleList());
  if (cross_attention) attentions = register_module("attentions", torch::nn::ModuleList());
  for (int64_t i = 0; i < o.num_layers; ++i) {
    // The last layer's skip comes from the down block one level deeper (or the conv_in output).
    const int64_t skip_channels = i == o.num_layers - 1 ? o.in_channels : o.out_channels;
    const int64_t resnet_in = i == 0 ? o.prev_output_channels : o.out_channels;
    resnets_.push_back(
        unet_blocks_detail::make_resnet(o, resnet_in + skip_channels, o.out_channels, o.output_scale_factor));
    resnets->push_back(resnets_.back());
    if (cross_attention) {
      attentions_.push_back(unet_blocks_detail::make_transformer(o, o.out_channels));
      attentions->push_back(attentions_.back());
    }
  }
  if (o.add_resample) {
    upsampler_ = Upsample2D(o.out_channels, o.out_channels);
    upsamplers = register_module("upsamplers", torch::nn::ModuleList(upsampler_));
  }
}

torch::Tensor UNetUpBlockImpl::forward(torch::Tensor h, std::vector<torch::Tensor>& res_samples,
                                       const torch::Tensor& temb, const torch::Tensor& context,
                                       c10::optional<std::vector<int64_t>> upsample_size) {
  TORCH_CHECK(res_samples.size() >= resnets_.size(), "UNet up block: ", resnets_.size(), " skip connections needed, ",
              res_samples.size(), " left");
  const bool nhwc = fused::nhwc_path(h);
  for (size_t i = 0; i < resnets_.size(); ++i) {
    // [B, C, H, W] ++ [B, C_skip, H, W] -> [B, C + C_skip, H, W]
    h = nhwc ? fused::concat_channels(h, res_samples.back()) : torch::cat({h, res_samples.back()}, 1);
    res_samples.pop_back();
    h = resnets_[i](h, temb);                                  // [B, C + C_skip, H, W] -> [B, C_out, H, W]
    if (!attentions_.empty()) h = attentions_[i](h, context);  // [B, C_out, H, W]
  }
  if (!upsampler_.is_empty()) h = upsampler_(h, std::move(upsample_size));  // [B, C_out, H, W] -> [B, C_out, 2H, 2W]
  return h;
}

}  // namespace nablagfn
