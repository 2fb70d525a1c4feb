// AutoencoderKL; see vae.h for the diffusers references and what changed.
#include "models/vae.h"

#include <cmath>
#include <filesystem>

#include <ATen/autocast_mode.h>  // compat.h uses at::autocast without including it
#include <nlohmann/json.hpp>
#include <torch/torch.h>

#include "core/compat.h"
#include "core/error.h"
#include "io/atomic_file.h"
#include "io/json_fields.h"
#include "kernels/fused_ops.h"
#include "models/state_dict.h"

namespace nablagfn {

namespace vae_detail {

// The epsilon of every GroupNorm in diffusers' VAE (resnets, mid attention, conv_norm_out).
constexpr double kNormEps = 1e-6;

const char* const kConfigHint = "compare with a diffusers AutoencoderKL vae/config.json (SD-1.x / SD-2.x layout)";

// Every block type must be `expected` (the only layout SD's VAEs use).
void require_block_types(const nlohmann::json& j, const char* key, const char* expected, size_t n,
                         const std::string& source) {
  const auto types = json_field<std::vector<std::string>>(j, key, source, vae_detail::kConfigHint);
  require(types.size() == n, "'" + source + "': " + key + " has " + std::to_string(types.size()) +
                                 " entries for " + std::to_string(n) + " block_out_channels", kConfigHint);
  for (const auto& t : types)
    require(t == expected, "'" + source + "': " + key + " entry '" + t + "' is not supported",
            std::string("only ") + expected + " (the Stable Diffusion VAE) is implemented");
}

ResnetBlock2D make_resnet(int64_t in_channels, int64_t out_channels, int64_t groups) {
  ResnetBlock2DOptions o;
  o.in_channels = in_channels;
  o.out_channels = out_channels;
  o.groups = groups;
  o.eps = kNormEps;
  return ResnetBlock2D(o);
}

torch::nn::GroupNorm make_group_norm(int64_t groups, int64_t channels) {
  return torch::nn::GroupNorm(torch::nn::GroupNormOptions(groups, channels).eps(kNormEps));
}

torch::nn::Conv2d make_conv(int64_t in_channels, int64_t out_channels, int64_t kernel) {
  return torch::nn::Conv2d(torch::nn::Conv2dOptions(in_channels, out_channels, kernel).padding(kernel / 2));
}

at::Tensor run_resnets(const torch::nn::ModuleList& resnets, at::Tensor h) {
  for (const auto& r : *resnets) h = r->as<ResnetBlock2D>()->forward(h);  // [B, C, H, W]
  return h;
}

}  // namespace vae_detail

VAEConfig vae_config_from_json(const nlohmann::json& j, const std::string& source) {
  VAEConfig c;
  c.in_channels = json_field_or<int64_t>(j, "in_channels", 3, source, vae_detail::kConfigHint);
  c.out_channels = json_field_or<int64_t>(j, "out_channels", 3, source, vae_detail::kConfigHint);
  c.latent_channels = json_field_or<int64_t>(j, "latent_channels", 4, source, vae_detail::kConfigHint);
  c.block_out_channels = json_field<std::vector<int64_t>>(j, "block_out_channels", source, vae_detail::kConfigHint);
  c.layers_per_block = json_field_or<int64_t>(j, "layers_per_block", 1, source, vae_detail::kConfigHint);
  c.norm_num_groups = json_field_or<int64_t>(j, "norm_num_groups", 32, source, vae_detail::kConfigHint);
  c.sample_size = json_field_or<int64_t>(j, "sample_size", 32, source, vae_detail::kConfigHint);
  c.scaling_factor = json_field_or<double>(j, "scaling_factor", 0.18215, source, vae_detail::kConfigHint);
  c.shift_factor = json_field_or<double>(j, "shift_factor", 0.0, source, vae_detail::kConfigHint);
  c.use_quant_conv = json_field_or<bool>(j, "use_quant_conv", true, source, vae_detail::kConfigHint);
  c.use_post_quant_conv = json_field_or<bool>(j, "use_post_quant_conv", true, source, vae_detail::kConfigHint);
  c.mid_block_add_attention = json_field_or<bool>(j, "mid_block_add_attention", true, source, vae_detail::kConfigHint);
  require(!c.block_out_channels.empty(), "'" + source + "': block_out_channels is empty", vae_detail::kConfigHint);
  for (int64_t ch : c.block_out_channels)
    require(ch > 0 && ch % c.norm_num_groups == 0,
            "'" + source + "': block_out_channels must be positive multiples of norm_num_groups",
            vae_detail::kConfigHint);
  const size_t n = c.block_out_channels.size();
  vae_detail::require_block_types(j, "down_block_types", "DownEncoderBlock2D", n, source);
  vae_detail::require_block_types(j, "up_block_types", "UpDecoderBlock2D", n, source);
  const std::string act = json_field_or<std::string>(j, "act_fn", "silu", source, vae_detail::kConfigHint);
  require(act == "silu" || act == "swish", "'" + source + "': act_fn '" + act + "' is not supported",
          "only silu (every Stable Diffusion VAE) is implemented");
  for (const char* key : {"latents_mean", "latents_std"})
    require(!j.contains(key) || j.at(key).is_null(), "'" + source + "': " + key + " is not supported",
            "per-channel latent statistics belong to other model families (SDXL-style VAEs are not supported)");
  return c;
}

VAEConfig load_vae_config(const std::string& path) {
  nlohmann::json j;
  try {
    j = nlohmann::json::parse(read_file(path));
  } catch (const nlohmann::json::exception& e) {
    throw Error("'" + path + "' is not valid JSON: " + e.what(), "a diffusers vae/config.json is expected");
  }
  return vae_config_from_json(j, path);
}

VAEAttentionImpl::VAEAttentionImpl(int64_t channels, int64_t groups, bool fused) : fused_(fused) {
  group_norm = register_module("group_norm", vae_detail::make_group_norm(groups, channels));
  to_q = register_module("to_q", torch::nn::Linear(channels, channels));
  to_k = register_module("to_k", torch::nn::Linear(channels, channels));
  to_v = register_module("to_v", torch::nn::Linear(channels, channels));
  to_out = register_module("to_out", torch::nn::ModuleList(torch::nn::Linear(channels, channels)));
}

at::Tensor VAEAttentionImpl::forward(const at::Tensor& x) {
  TORCH_CHECK(x.dim() == 4, "VAEAttention: expected [B, C, H, W], got ", x.sizes());
  const int64_t B = x.size(0), C = x.size(1), H = x.size(2), W = x.size(3);
  at::Tensor h = group_norm(x).view({B, C, H * W}).transpose(1, 2);  // [B, C, H, W] -> [B, H*W, C]
  at::Tensor q = to_q(h).unsqueeze(1), k = to_k(h).unsqueeze(1), v = to_v(h).unsqueeze(1);  // [B, 1, H*W, C]
  // One head of width C, scale C^-1/2; the reference path takes the softmax in fp32 (upcast_softmax).
  const double scale = 1.0 / std::sqrt(static_cast<double>(C));
  at::Tensor o = fused_ ? compat::attention_fused(q, k, v, {}, scale)
                        : compat::attention_reference(q, k, v, {}, scale);  // [B, 1, H*W, C]
  o = to_out[0]->as<torch::nn::Linear>()->forward(o.squeeze(1));  // [B, 1, H*W, C] -> [B, H*W, C]
  return o.transpose(1, 2).reshape({B, C, H, W}) + x;             // [B, H*W, C] -> [B, C, H, W]
}

void set_vae_attention_fused(torch::nn::Module& root, bool fused) {
  for (const auto& m : root.modules(/*include_self=*/true)) {
    if (auto attn = std::dynamic_pointer_cast<VAEAttentionImpl>(m)) attn->set_fused(fused);
  }
}

VAEMidBlock2DImpl::VAEMidBlock2DImpl(int64_t channels, int64_t groups, bool add_attention, bool fused_attention) {
  attentions = register_module("attentions", torch::nn::ModuleList());
  resnets = register_module("resnets", torch::nn::ModuleList());
  resnets->push_back(vae_detail::make_resnet(channels, channels, groups));
  if (add_attention) attentions->push_back(VAEAttention(channels, groups, fused_attention));
  resnets->push_back(vae_detail::make_resnet(channels, channels, groups));
}

at::Tensor VAEMidBlock2DImpl::forward(const at::Tensor& x) {
  at::Tensor h = resnets[0]->as<ResnetBlock2D>()->forward(x);                    // [B, C, H, W]
  if (!attentions->is_empty()) h = attentions[0]->as<VAEAttention>()->forward(h);  // [B, C, H, W]
  return resnets[1]->as<ResnetBlock2D>()->forward(h);                            // [B, C, H, W]
}

DownEncoderBlock2DImpl::DownEncoderBlock2DImpl(int64_t in_channels, int64_t out_channels, int64_t n_layers,
                                               int64_t groups, bool add_downsample) {
  resnets = register_module("resnets", torch::nn::ModuleList());
  for (int64_t i = 0; i < n_layers; ++i)
    resnets->push_back(vae_detail::make_resnet(i == 0 ? in_channels : out_channels, out_channels, groups));
  downsamplers = register_module("downsamplers", torch::nn::ModuleList());
  if (add_downsample) downsamplers->push_back(Downsample2D(out_channels, out_channels, /*padding=*/0));
}

at::Tensor DownEncoderBlock2DImpl::forward(const at::Tensor& x) {
  at::Tensor h = vae_detail::run_resnets(resnets, x);                            // [B, C_out, H, W]
  for (const auto& d : *downsamplers) h = d->as<Downsample2D>()->forward(h);  // -> [B, C_out, H/2, W/2]
  return h;
}

UpDecoderBlock2DImpl::UpDecoderBlock2DImpl(int64_t in_channels, int64_t out_channels, int64_t n_layers,
                                           int64_t groups, bool add_upsample) {
  resnets = register_module("resnets", torch::nn::ModuleList());
  for (int64_t i = 0; i < n_layers; ++i)
    resnets->push_back(vae_detail::make_resnet(i == 0 ? in_channels : out_channels, out_channels, groups));
  upsamplers = register_module("upsamplers", torch::nn::ModuleList());
  if (add_upsample) upsamplers->push_back(Upsample2D(out_channels, out_channels));
}

at::Tensor UpDecoderBlock2DImpl::forward(const at::Tensor& x) {
  at::Tensor h = vae_detail::run_resnets(resnets, x);                        // [B, C_out, H, W]
  for (const auto& u : *upsamplers) h = u->as<Upsample2D>()->forward(h);  // -> [B, C_out, 2H, 2W]
  return h;
}

AutoencoderKLEncoderImpl::AutoencoderKLEncoderImpl(const VAEConfig& c) {
  const auto& ch = c.block_out_channels;
  const int64_t n = static_cast<int64_t>(ch.size()), groups = c.norm_num_groups;
  conv_in = register_module("conv_in", vae_detail::make_conv(c.in_channels, ch[0], 3));
  down_blocks = register_module("down_blocks", torch::nn::ModuleList());
  for (int64_t i = 0; i < n; ++i)
    down_blocks->push_back(
        DownEncoderBlock2D(i == 0 ? ch[0] : ch[i - 1], ch[i], c.layers_per_block, groups, i + 1 < n));
  mid_block = register_module("mid_block", VAEMidBlock2D(ch.back(), groups, c.mid_block_add_attention,
                                                         c.fused_attention));
  conv_norm_out = register_module("conv_norm_out", vae_detail::make_group_norm(groups, ch.back()));
  // double_z: the mean and the log-variance of every latent channel.
  conv_out = register_module("conv_out", vae_detail::make_conv(ch.back(), 2 * c.latent_channels, 3));
}

at::Tensor AutoencoderKLEncoderImpl::forward(const at::Tensor& x) {
  at::Tensor h = conv_in(x);                                                     // [B, C, H, W] -> [B, C0, H, W]
  for (const auto& b : *down_blocks) h = b->as<DownEncoderBlock2D>()->forward(h);  // -> [B, C_last, h, w]
  h = mid_block(h);                                                              // [B, C_last, h, w]
  return conv_out(torch::silu(conv_norm_out(h)));                                // -> [B, 2Z, h, w]
}

AutoencoderKLDecoderImpl::AutoencoderKLDecoderImpl(const VAEConfig& c) {
  const auto& ch = c.block_out_channels;
  const int64_t n = static_cast<int64_t>(ch.size()), groups = c.norm_num_groups;
  conv_in = register_module("conv_in", vae_detail::make_conv(c.latent_channels, ch.back(), 3));
  mid_block = register_module("mid_block", VAEMidBlock2D(ch.back(), groups, c.mid_block_add_attention,
                                                         c.fused_attention));
  // Up blocks walk the channel list backwards, each one resnet deeper than the encoder's.
  up_blocks = register_module("up_blocks", torch::nn::ModuleList());
  for (int64_t i = 0; i < n; ++i) {
    const int64_t in = ch[n - 1 - (i == 0 ? 0 : i - 1)], out = ch[n - 1 - i];
    up_blocks->push_back(UpDecoderBlock2D(in, out, c.layers_per_block + 1, groups, i + 1 < n));
  }
  conv_norm_out = register_module("conv_norm_out", vae_detail::make_group_norm(groups, ch[0]));
  conv_out = register_module("conv_out", vae_detail::make_conv(ch[0], c.out_channels, 3));
}

at::Tensor AutoencoderKLDecoderImpl::forward(const at::Tensor& z) {
  at::Tensor h = mid_block(conv_in(z));                                        // [B, Z, h, w] -> [B, C_last, h, w]
  for (const auto& b : *up_blocks) h = b->as<UpDecoderBlock2D>()->forward(h);  // -> [B, C0, H, W]
  const torch::nn::GroupNormOptions& o = conv_norm_out->options;
  return conv_out(fused::group_norm(h, o.num_groups(), conv_norm_out->weight, conv_norm_out->bias, o.eps(), {},
                                    /*silu=*/true));  // -> [B, C, H, W]
}

AutoencoderKLImpl::AutoencoderKLImpl(const VAEConfig& config) : config_(config) {
  encoder = register_module("encoder", AutoencoderKLEncoder(config));
  decoder = register_module("decoder", AutoencoderKLDecoder(config));
  const int64_t Z = config.latent_channels;
  if (config.use_quant_conv) quant_conv = register_module("quant_conv", vae_detail::make_conv(2 * Z, 2 * Z, 1));
  if (config.use_post_quant_conv)
    post_quant_conv = register_module("post_quant_conv", vae_detail::make_conv(Z, Z, 1));
}

VAEEncoding AutoencoderKLImpl::encode(const at::Tensor& images) {
  TORCH_CHECK(images.dim() == 4 && images.size(1) == config_.in_channels, "AutoencoderKL.encode: expected [B, ",
              config_.in_channels, ", H, W], got ", images.sizes());
  at::Tensor moments = encoder(images);                            // [B, C, H, W] -> [B, 2Z, h, w]
  if (!quant_conv.is_empty()) moments = quant_conv(moments);       // [B, 2Z, h, w]
  std::vector<at::Tensor> parts = moments.chunk(2, /*dim=*/1);     // 2 x [B, Z, h, w]
  return {parts[0], parts[1].clamp(-30.0, 20.0)};
}

at::Tensor AutoencoderKLImpl::decode(const at::Tensor& z) {
  TORCH_CHECK(z.dim() == 4 && z.size(1) == config_.latent_channels, "AutoencoderKL.decode: expected [B, ",
              config_.latent_channels, ", h, w], got ", z.sizes());
  at::Tensor h = post_quant_conv.is_empty() ? z : post_quant_conv(z);  // [B, Z, h, w]
  return decoder(h);                                                   // -> [B, C, H, W]
}

void AutoencoderKLImpl::load(const TensorMap& tensors, const std::string& source) {
  LoadOptions options;
  options.hint = "expected a diffusers AutoencoderKL state dict matching vae/config.json "
                 "(an original-LDM checkpoint with first_stage_model.* keys needs converting)";
  load_state_dict(*this, tensors, source, options);
}

AutoencoderKL load_autoencoder_kl(const std::string& folder) {
  namespace fs = std::filesystem;
  const std::string config_path = (fs::path(folder) / "config.json").string();
  const std::string weights_path = (fs::path(folder) / "diffusion_pytorch_model.safetensors").string();
  require(fs::exists(config_path) && fs::exists(weights_path),
          "VAE folder '" + folder + "' lacks config.json or diffusion_pytorch_model.safetensors",
          "point at a diffusers model's vae/ folder (safetensors weights; .bin is not read)");
  AutoencoderKL vae(load_vae_config(config_path));
  vae->load(load_safetensors(weights_path), weights_path);
  return vae;
}

}  // namespace nablagfn
