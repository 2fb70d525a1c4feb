// UNet2DConditionModel, its config parser and loader: see unet2d_condition.h for the diffusers reference
// and the changes.
#include "models/unet2d_condition.h"

#include <torch/torch.h>

#include <algorithm>
#include <filesystem>
#include <functional>
#include <map>
#include <nlohmann/json.hpp>

#include "core/error.h"
#include "io/atomic_file.h"
#include "io/tensor_io.h"
#include "kernels/fused_ops.h"
#include "models/state_dict.h"

namespace nablagfn {

namespace unet_config_detail {

using nlohmann::json;

const char* const kScopeHint =
    "nablagfn implements the Stable Diffusion 1.x / 2.x UNet (cross-attention down/up blocks, SiLU, "
    "positional timesteps, no class or addition embeddings)";

// An int applies to every block; a list must have one entry per block.
std::vector<int64_t> per_block(const json& value, int64_t n_blocks, const std::string& key, const std::string& source) {
  if (value.is_number_integer()) return std::vector<int64_t>(n_blocks, value.get<int64_t>());
  if (value.is_array() && static_cast<int64_t>(value.size()) == n_blocks) {
    std::vector<int64_t> out;
    for (const auto& v : value) {
      if (!v.is_number_integer()) break;
      out.push_back(v.get<int64_t>());
    }
    if (static_cast<int64_t>(out.size()) == n_blocks) return out;
  }
  throw Error("'" + source + "': " + key + " = " + value.dump() + " is not an int or a list of " +
                  std::to_string(n_blocks) + " ints",
              "one value per entry of block_out_channels");
}

// Keys that SD configs carry but whose only supported value is the SD one, with that check.
const std::map<std::string, std::function<bool(const json&)>>& fixed_keys() {
  static const std::map<std::string, std::function<bool(const json&)>> fixed = [] {
    std::map<std::string, std::function<bool(const json&)>> m = {
        {"act_fn", [](const json& x) { return x == "silu" || x == "swish"; }},
        {"mid_block_type", [](const json& x) { return x == "UNetMidBlock2DCrossAttn"; }},
        {"time_embedding_type", [](const json& x) { return x == "positional"; }},
        {"resnet_time_scale_shift", [](const json& x) { return x == "default"; }},
        {"attention_type", [](const json& x) { return x == "default"; }},
        {"dropout", [](const json& x) { return x.is_number() && x.get<double>() == 0.0; }},
        {"dual_cross_attention", [](const json& x) { return x == false; }},
        {"resnet_skip_time_act", [](const json& x) { return x == false; }},
        {"class_embeddings_concat", [](const json& x) { return x == false; }},
        {"mid_block_only_cross_attention", [](const json& x) { return x.is_null() || x == false; }},
        {"only_cross_attention",
         [](const json& x) {
           if (x.is_boolean()) return x == false;
           if (!x.is_array()) return false;
           for (const auto& e : x) {
             if (e != false) return false;
           }
           return true;
         }},
        {"addition_embed_type_num_heads", [](const json&) { return true; }},  // unused without addition_embed_type
    };
    for (const char* key :
         {"addition_embed_type", "addition_time_embed_dim", "class_embed_type", "cross_attention_norm",
          "encoder_hid_dim", "encoder_hid_dim_type", "num_attention_heads", "num_class_embeds",
          "projection_class_embeddings_input_dim", "reverse_transformer_layers_per_block", "time_cond_proj_dim",
          "time_embedding_act_fn", "timestep_post_act"}) {
      m[key] = [](const json& x) { return x.is_null(); };
    }
    return m;
  }();
  return fixed;
}

}  // namespace unet_config_detail

void UNetConfig::validate(const std::string& source) const {
  const std::string where = "'" + source + "': ";
  const int64_t n = n_blocks();
  require(n >= 1, where + "block_out_channels is empty", "list one width per UNet level");
  auto check_len = [&](size_t size, const std::string& key) {
    require(static_cast<int64_t>(size) == n,
            where + key + " has " + std::to_string(size) + " entries, block_out_channels " + std::to_string(n),
            "give one entry per UNet level");
  };
  check_len(down_block_types.size(), "down_block_types");
  check_len(up_block_types.size(), "up_block_types");
  check_len(layers_per_block.size(), "layers_per_block");
  check_len(cross_attention_dim.size(), "cross_attention_dim");
  check_len(transformer_layers_per_block.size(), "transformer_layers_per_block");
  check_len(num_attention_heads.size(), "attention_head_dim");
  for (int64_t i = 0; i < n; ++i) {
    const std::string& d = down_block_types[i];
    const std::string& u = up_block_types[i];
    require(d == "CrossAttnDownBlock2D" || d == "DownBlock2D", where + "down block type '" + d + "' is not supported",
            unet_config_detail::kScopeHint);
    require(u == "CrossAttnUpBlock2D" || u == "UpBlock2D", where + "up block type '" + u + "' is not supported",
            unet_config_detail::kScopeHint);
    require(block_out_channels[i] > 0 && block_out_channels[i] % norm_num_groups == 0,
            where + "block_out_channels[" + std::to_string(i) + "] = " + std::to_string(block_out_channels[i]) +
                " is not a positive multiple of norm_num_groups " + std::to_string(norm_num_groups),
            "GroupNorm needs channels divisible by its group count");
    require(num_attention_heads[i] > 0 && block_out_channels[i] % num_attention_heads[i] == 0,
            where + "attention_head_dim[" + std::to_string(i) + "] = " + std::to_string(num_attention_heads[i]) +
                " heads do not divide " + std::to_string(block_out_channels[i]) + " channels",
            "attention_head_dim counts heads per block in diffusers' UNet2DConditionModel");
    require(layers_per_block[i] >= 1 && transformer_layers_per_block[i] >= 1 && cross_attention_dim[i] > 0,
            where + "layers_per_block, transformer_layers_per_block and cross_attention_dim must be positive",
            "check the config values of block " + std::to_string(i));
  }
  require(conv_in_kernel % 2 == 1 && conv_out_kernel % 2 == 1, where + "conv_in_kernel / conv_out_kernel must be odd",
          "SD uses 3");
}

UNetConfig parse_unet_config(const std::string& json_text, const std::string& source) {
  using unet_config_detail::json;
  json j;
  try {
    j = json::parse(json_text, nullptr, true, /*ignore_comments=*/true);
  } catch (const json::exception& e) {
    throw Error("cannot parse UNet config '" + source + "': " + e.what(), "config.json must be valid JSON");
  }
  require(j.is_object(), "UNet config '" + source + "' is not a JSON object", "expected diffusers' unet/config.json");
  if (j.contains("_class_name")) {
    require(j["_class_name"] == "UNet2DConditionModel",
            "'" + source + "' describes a " + j["_class_name"].dump() + ", not a UNet2DConditionModel",
            "point at the unet/ folder of a Stable Diffusion 1.x / 2.x model");
  }
  UNetConfig c;
  // Sizes first: per-block lists broadcast against block_out_channels.
  auto get = [&](const char* key, auto& field) {
    if (!j.contains(key)) return;
    try {
      j.at(key).get_to(field);
    } catch (const json::exception&) {
      throw Error("'" + source + "': " + key + " = " + j.at(key).dump() + " has the wrong type",
                  "see diffusers' UNet2DConditionModel for the expected type");
    }
  };
  get("block_out_channels", c.block_out_channels);
  const int64_t n = c.n_blocks();
  // diffusers' defaults for the per-block settings, broadcast to this number of blocks.
  c.layers_per_block.assign(n, 2);
  c.cross_attention_dim.assign(n, 1280);
  c.transformer_layers_per_block.assign(n, 1);
  c.num_attention_heads.assign(n, 8);
  const std::map<std::string, std::vector<int64_t>*> block_lists = {
      {"layers_per_block", &c.layers_per_block},
      {"cross_attention_dim", &c.cross_attention_dim},
      {"transformer_layers_per_block", &c.transformer_layers_per_block},
      {"attention_head_dim", &c.num_attention_heads}};
  for (const auto& [key, value] : j.items()) {
    if (key.empty() || key[0] == '_' || key == "block_out_channels") continue;
    auto list = block_lists.find(key);
    if (list != block_lists.end()) {
      *list->second = unet_config_detail::per_block(value, n, key, source);
    } else if (key == "in_channels") {
      get("in_channels", c.in_channels);
    } else if (key == "out_channels") {
      get("out_channels", c.out_channels);
    } else if (key == "center_input_sample") {
      get("center_input_sample", c.center_input_sample);
    } else if (key == "flip_sin_to_cos") {
      get("flip_sin_to_cos", c.flip_sin_to_cos);
    } else if (key == "freq_shift") {
      get("freq_shift", c.freq_shift);
    } else if (key == "down_block_types") {
      get("down_block_types", c.down_block_types);
    } else if (key == "up_block_types") {
      get("up_block_types", c.up_block_types);
    } else if (key == "downsample_padding") {
      get("downsample_padding", c.downsample_padding);
    } else if (key == "mid_block_scale_factor") {
      get("mid_block_scale_factor", c.mid_block_scale_factor);
    } else if (key == "norm_num_groups") {
      require(value.is_number_integer(), "'" + source + "': norm_num_groups = " + value.dump() + " is not supported",
              unet_config_detail::kScopeHint);
      get("norm_num_groups", c.norm_num_groups);
    } else if (key == "norm_eps") {
      get("norm_eps", c.norm_eps);
    } else if (key == "use_linear_projection") {
      get("use_linear_projection", c.use_linear_projection);
    } else if (key == "upcast_attention") {
      get("upcast_attention", c.upcast_attention);
    } else if (key == "resnet_out_scale_factor") {
      get("resnet_out_scale_factor", c.resnet_out_scale_factor);
    } else if (key == "time_embedding_dim") {
      if (!value.is_null()) get("time_embedding_dim", c.time_embedding_dim);
    } else if (key == "conv_in_kernel") {
      get("conv_in_kernel", c.conv_in_kernel);
    } else if (key == "conv_out_kernel") {
      get("conv_out_kernel", c.conv_out_kernel);
    } else if (key == "sample_size") {
      if (value.is_number_integer()) c.sample_size = value.get<int64_t>();
    } else if (unet_config_detail::fixed_keys().count(key)) {
      require(unet_config_detail::fixed_keys().at(key)(value),
              "'" + source + "': " + key + " = " + value.dump() + " is not supported", unet_config_detail::kScopeHint);
    } else {
      throw Error("'" + source + "': unknown UNet config key '" + key + "'",
                  std::string("a newer diffusers option? ") + unet_config_detail::kScopeHint);
    }
  }
  c.validate(source);
  return c;
}

UNetConfig load_unet_config(const std::string& path) {
  require(std::filesystem::exists(path), "UNet config '" + path + "' does not exist",
          "expected a diffusers model folder with unet/config.json");
  return parse_unet_config(read_file(path), path);
}

UNetBlockOptions unet_block_options(const UNetConfig& c, int64_t level) {
  UNetBlockOptions o;
  o.temb_channels = c.time_embedding_dim > 0 ? c.time_embedding_dim : 4 * c.block_out_channels[0];
  o.transformer_layers = c.transformer_layers_per_block[level];
  o.groups = c.norm_num_groups;
  o.eps = c.norm_eps;
  o.output_scale_factor = c.resnet_out_scale_factor;
  o.heads = c.num_attention_heads[level];
  o.cross_attention_dim = c.cross_attention_dim[level];
  o.use_linear_projection = c.use_linear_projection;
  o.upcast_attention = c.upcast_attention;
  return o;
}

std::shared_ptr<UNetDownBlockImpl> make_unet_down_block(const UNetConfig& c, int64_t i) {
  UNetBlockOptions o = unet_block_options(c, i);
  o.in_channels = c.block_out_channels[std::max<int64_t>(i - 1, 0)];
  o.out_channels = c.block_out_channels[i];
  o.num_layers = c.layers_per_block[i];
  o.add_resample = i < c.n_blocks() - 1;
  o.downsample_padding = c.downsample_padding;
  if (c.down_block_types[i] == "CrossAttnDownBlock2D") return CrossAttnDownBlock2D(o).ptr();
  return DownBlock2D(o).ptr();
}

UNet2DConditionModelImpl::UNet2DConditionModelImpl(const UNetConfig& config) : config_(config) {
  config_.validate("UNet2DConditionModel");
  const UNetConfig& c = config_;
  const int64_t n = c.n_blocks();
  const int64_t C0 = c.block_out_channels[0];
  const int64_t E = c.time_embedding_dim > 0 ? c.time_embedding_dim : 4 * C0;
  conv_in = register_module(
      "conv_in",
      torch::nn::Conv2d(
          torch::nn::Conv2dOptions(c.in_channels, C0, c.conv_in_kernel).padding((c.conv_in_kernel - 1) / 2)));
  time_proj = register_module("time_proj", Timesteps(C0, c.flip_sin_to_cos, c.freq_shift));
  time_embedding = register_module("time_embedding", TimestepEmbedding(C0, E));

  auto block_options = [&](int64_t i) { return unet_block_options(c, i); };

  down_blocks = register_module("down_blocks", torch::nn::ModuleList());
  for (int64_t i = 0; i < n; ++i) {
    down_.push_back(make_unet_down_block(c, i));
    down_blocks->push_back(down_.back());
  }

  UNetBlockOptions mid = block_options(n - 1);
  mid.in_channels = c.block_out_channels[n - 1];
  mid.output_scale_factor = c.mid_block_scale_factor;
  mid_block = register_module("mid_block", UNetMidBlock2DCrossAttn(mid));

  // The up path mirrors the down path: block i of it sits at level n − 1 − i.
  up_blocks = register_module("up_blocks", torch::nn::ModuleList());
  int64_t out_channels = c.block_out_channels[n - 1];
  for (int64_t i = 0; i < n; ++i) {
    const int64_t level = n - 1 - i;
    UNetBlockOptions o = block_options(level);
    o.prev_output_channels = out_channels;
    out_channels = c.block_out_channels[level];
    o.out_channels = out_channels;
    o.in_channels = c.block_out_channels[std::max<int64_t>(level - 1, 0)];
    o.num_layers = c.layers_per_block[level] + 1;
    o.add_resample = i < n - 1;
    std::shared_ptr<UNetUpBlockImpl> block;
    if (c.up_block_types[i] == "CrossAttnUpBlock2D") {
      block = CrossAttnUpBlock2D(o).ptr();
    } else {
      block = UpBlock2D(o).ptr();
    }
    up_.push_back(block);
    up_blocks->push_back(block);
  }

  conv_norm_out = register_module(
      "conv_norm_out", torch::nn::GroupNorm(torch::nn::GroupNormOptions(c.norm_num_groups, C0).eps(c.norm_eps)));
  conv_out = register_module(
      "conv_out",
      torch::nn::Conv2d(
          torch::nn::Conv2dOptions(C0, c.out_channels, c.conv_out_kernel).padding((c.conv_out_kernel - 1) / 2)));
}

torch::Tensor UNet2DConditionModelImpl::forward(const torch::Tensor& sample, const torch::Tensor& timestep,
                                                const torch::Tensor& encoder_hidden_states) {
  TORCH_CHECK(sample.dim() == 4 && sample.size(1) == config_.in_channels, "UNet2DConditionModel: sample must be [B, ",
              config_.in_channels, ", H, W], got ", sample.sizes());
  TORCH_CHECK(sample.scalar_type() == conv_in->weight.scalar_type(), "UNet2DConditionModel: sample dtype ",
              sample.scalar_type(), " differs from the model's ", conv_in->weight.scalar_type());
  const int64_t B = sample.size(0);
  TORCH_CHECK(timestep.dim() <= 1 && (timestep.numel() == 1 || timestep.numel() == B),
              "UNet2DConditionModel: timestep must be [B] or a scalar, got ", timestep.sizes());
  TORCH_CHECK(encoder_hidden_states.dim() == 3 && encoder_hidden_states.size(0) == B,
              "UNet2DConditionModel: encoder_hidden_states must be [B, L, D] with B = ", B, ", got ",
              encoder_hidden_states.sizes());

  // Sizes not divisible by 2^(number of upsamplers) need the skip's exact size at each upsampler.
  const int64_t up_factor = int64_t{1} << (config_.n_blocks() - 1);
  const bool forward_upsample_size = sample.size(2) % up_factor != 0 || sample.size(3) % up_factor != 0;

  torch::Tensor h = config_.center_input_sample ? 2.0 * sample - 1.0 : sample;
  torch::Tensor t = timestep.reshape({-1}).expand({B}).to(sample.device());   // [B]
  torch::Tensor emb = time_embedding(time_proj(t).to(sample.scalar_type()));  // [B] -> [B, C0] -> [B, E]

  // No-grad channels-last CUDA sampling runs every block on the fused kernels (kernels/fused_ops.h).
  const bool nhwc = fused::nhwc_path(sample);
  if (nhwc) {
    const int64_t pad = (config_.conv_in_kernel - 1) / 2;
    h = at::conv2d(h, conv_in->weight, {}, {1, 1}, {pad, pad});  // [B, in, H, W] -> [B, C0, H, W]
    h = fused::add_bias_residual(h, conv_in->bias, {}, {});
  } else {
    h = conv_in(h);  // [B, in, H, W] -> [B, C0, H, W]
  }
  std::vector<torch::Tensor> res_samples = {h};
  for (auto& block : down_) h = block->forward(h, emb, encoder_hidden_states, res_samples);  // -> [B, C_i, H_i, W_i]
  h = mid_block(h, emb, encoder_hidden_states);  // [B, C_last, H_min, W_min]
  for (size_t i = 0; i < up_.size(); ++i) {
    c10::optional<std::vector<int64_t>> upsample_size;
    const size_t n_skips = static_cast<size_t>(up_[i]->num_layers());
    if (i + 1 < up_.size() && forward_upsample_size) {
      const torch::Tensor& next_skip = res_samples[res_samples.size() - n_skips - 1];
      upsample_size = std::vector<int64_t>{next_skip.size(2), next_skip.size(3)};
    }
    h = up_[i]->forward(h, res_samples, emb, encoder_hidden_states, upsample_size);  // -> [B, C_i, H_{i-1}, W_{i-1}]
  }
  if (nhwc) {
    const torch::nn::GroupNormOptions& o = conv_norm_out->options;
    h = fused::group_norm(h, o.num_groups(), conv_norm_out->weight, conv_norm_out->bias, o.eps(), {}, /*silu=*/true);
    return conv_out(h);  // [B, C0, H, W] -> [B, out, H, W]
  }
  return conv_out(torch::silu(conv_norm_out(h)));  // [B, C0, H, W] -> [B, out, H, W]
}

std::string find_unet_weights(const std::string& unet_dir) {
  namespace fs = std::filesystem;
  for (const char* name : {"diffusion_pytorch_model.safetensors", "diffusion_pytorch_model.fp16.safetensors"}) {
    if (fs::exists(unet_dir + "/" + name)) return unet_dir + "/" + name;
  }
  for (const char* name : {"diffusion_pytorch_model.bin", "diffusion_pytorch_model.fp16.bin"}) {
    if (fs::exists(unet_dir + "/" + name)) {
      throw Error("'" + unet_dir + "/" + name + "' is a pickled PyTorch file; nablagfn reads only safetensors",
                  "convert it once in Python: safetensors.torch.save_file(torch.load(path), "
                  "'diffusion_pytorch_model.safetensors')");
    }
  }
  throw Error("no UNet weights in '" + unet_dir + "'",
              "expected diffusion_pytorch_model.safetensors (or its .fp16 variant) next to config.json");
}

UNet2DConditionModel load_unet(const std::string& folder, c10::ScalarType dtype, c10::Device device) {
  namespace fs = std::filesystem;
  const std::string unet_dir = fs::exists(folder + "/unet/config.json") ? folder + "/unet" : folder;
  UNet2DConditionModel unet(load_unet_config(unet_dir + "/config.json"));
  unet->to(device, dtype);
  const std::string weights = find_unet_weights(unet_dir);
  load_state_dict(*unet, load_safetensors(weights), weights);
  unet->eval();
  for (auto& p : unet->parameters()) p.set_requires_grad(false);
  return unet;
}

}  // namespace nablagfn
