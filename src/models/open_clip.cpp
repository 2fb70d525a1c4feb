// open_clip -> transformers CLIP mapping; see open_clip.h for the reference and the key map.
#include "models/open_clip.h"

#include <cmath>
#include <utility>
#include <vector>

#include <nlohmann/json.hpp>
#include <torch/torch.h>

#include "core/error.h"
#include "io/atomic_file.h"
#include "io/json_fields.h"
#include "io/pth.h"
#include "models/state_dict.h"

namespace nablagfn {

// The hint of a wrong or missing config field.
const char* const kOpenCLIPHint = "compare with open_clip's model_configs/ViT-H-14.json";

namespace open_clip_detail {

// Options that change the network away from plain CLIP: present and set (not null / false / 0 / "") -> Error,
// unless the value is the one this port implements.
void reject_options(const nlohmann::json& j, const std::string& tower, const std::string& source,
                    const std::vector<std::pair<const char*, nlohmann::json>>& options) {
  for (const auto& [key, supported] : options) {
    if (!j.contains(key)) continue;
    const nlohmann::json& v = j.at(key);
    const bool unset = v.is_null() || v == false || v == 0 || v == "";
    require(unset || v == supported,
            "'" + source + "': open_clip " + tower + " option " + key + "=" + v.dump() + " is not supported",
            "only plain ViT CLIP models (like ViT-H-14) can be read");
  }
}

// "resblocks.N." suffix in open_clip names -> transformers CLIPEncoderLayer names.
std::string block_suffix(const std::string& rest) {
  static const std::vector<std::pair<std::string, std::string>> renames = {
      {"ln_1.", "layer_norm1."}, {"ln_2.", "layer_norm2."}, {"mlp.c_fc.", "mlp.fc1."},
      {"mlp.c_proj.", "mlp.fc2."}, {"attn.out_proj.", "self_attn.out_proj."}};
  for (const auto& [from, to] : renames)
    if (rest.rfind(from, 0) == 0) return to + rest.substr(from.size());
  return rest;
}

// Adds one open_clip tensor under its transformers name(s) to out.
void map_key(const std::string& key, const at::Tensor& value, TensorMap& out) {
  static const std::vector<std::pair<std::string, std::string>> prefixes = {
      {"visual.transformer.resblocks.", "vision_model.encoder.layers."},
      {"transformer.resblocks.", "text_model.encoder.layers."}};
  for (const auto& [from, to] : prefixes) {
    if (key.rfind(from, 0) != 0) continue;
    const std::string rest = key.substr(from.size());              // "N.attn.in_proj_weight"
    const std::string layer = rest.substr(0, rest.find('.') + 1);  // "N."
    const std::string part = rest.substr(layer.size());            // "attn.in_proj_weight"
    if (part == "attn.in_proj_weight" || part == "attn.in_proj_bias") {
      TORCH_CHECK(value.size(0) % 3 == 0, key, ": first dimension ", value.size(0), " is not 3 x width");
      std::vector<at::Tensor> qkv = value.chunk(3, 0);  // [3D, ...] -> 3 x [D, ...], q, k, v order
      const std::string what = part == "attn.in_proj_weight" ? "weight" : "bias";
      out[to + layer + "self_attn.q_proj." + what] = qkv[0].contiguous();
      out[to + layer + "self_attn.k_proj." + what] = qkv[1].contiguous();
      out[to + layer + "self_attn.v_proj." + what] = qkv[2].contiguous();
    } else {
      out[to + layer + block_suffix(part)] = value;
    }
    return;
  }
  static const std::vector<std::pair<std::string, std::string>> direct = {
      {"visual.class_embedding", "vision_model.embeddings.class_embedding"},
      {"visual.conv1.weight", "vision_model.embeddings.patch_embedding.weight"},
      {"visual.positional_embedding", "vision_model.embeddings.position_embedding.weight"},
      {"visual.ln_pre.weight", "vision_model.pre_layrnorm.weight"},
      {"visual.ln_pre.bias", "vision_model.pre_layrnorm.bias"},
      {"visual.ln_post.weight", "vision_model.post_layernorm.weight"},
      {"visual.ln_post.bias", "vision_model.post_layernorm.bias"},
      {"token_embedding.weight", "text_model.embeddings.token_embedding.weight"},
      {"positional_embedding", "text_model.embeddings.position_embedding.weight"},
      {"ln_final.weight", "text_model.final_layer_norm.weight"},
      {"ln_final.bias", "text_model.final_layer_norm.bias"},
      {"logit_scale", "logit_scale"}};
  for (const auto& [from, to] : direct)
    if (key == from) {
      out[to] = value;
      return;
    }
  // open_clip multiplies x @ proj ([D, E]); nn.Linear stores [E, D].
  if ((key == "visual.proj" || key == "text_projection") && value.dim() == 2) {
    out[key == "visual.proj" ? "visual_projection.weight" : "text_projection.weight"] = value.t().contiguous();
    return;
  }
  out[key] = value;  // unknown: left for the strict loader to report
}

}  // namespace open_clip_detail

OpenCLIPConfig open_clip_vit_h_14() {
  OpenCLIPConfig c;
  c.embed_dim = 1024;
  c.vision = {224, 32, 1280, 80, 4.0, 14};
  c.text = {77, 49408, 1024, 16, 24, 4.0};
  return c;
}

OpenCLIPConfig open_clip_config_from_json(const nlohmann::json& j, const std::string& source) {
  require(j.is_object() && j.contains("vision_cfg") && j.contains("text_cfg"),
          "'" + source + "' is not an open_clip model config (no vision_cfg / text_cfg)",
          "expected open_clip's model config JSON, e.g. model_configs/ViT-H-14.json");
  const nlohmann::json& v = j.at("vision_cfg");
  const nlohmann::json& t = j.at("text_cfg");
  open_clip_detail::reject_options(v, "vision_cfg", source,
                                   {{"ls_init_value", nullptr}, {"attentional_pool", false},
                                    {"timm_model_name", nullptr}, {"global_average_pool", false},
                                    {"no_ln_pre", false}, {"input_patchnorm", false}, {"pool_type", "tok"},
                                    {"act_kwargs", nullptr}, {"norm_kwargs", nullptr}});
  open_clip_detail::reject_options(t, "text_cfg", source,
                                   {{"ls_init_value", nullptr}, {"hf_model_name", nullptr},
                                    {"embed_cls", false}, {"pool_type", "argmax"}, {"proj_bias", false},
                                    {"no_causal_mask", false}, {"pad_id", 0}, {"act_kwargs", nullptr},
                                    {"norm_kwargs", nullptr}, {"proj_type", "linear"}});
  require(v.contains("layers") && v.at("layers").is_number_integer(),
          "'" + source + "': vision_cfg.layers is not an integer (a ResNet image tower?)",
          "only ViT image towers are supported");
  require(!v.contains("image_size") || v.at("image_size").is_number_integer(),
          "'" + source + "': vision_cfg.image_size must be one integer (square images)", "check the config");
  require(!v.contains("patch_size") || v.at("patch_size").is_number_integer(),
          "'" + source + "': vision_cfg.patch_size must be one integer (square patches)", "check the config");
  OpenCLIPConfig c;
  c.embed_dim = json_field_or<int64_t>(j, "embed_dim", c.embed_dim, source, kOpenCLIPHint);
  c.quick_gelu = json_field_or<bool>(j, "quick_gelu", c.quick_gelu, source, kOpenCLIPHint);
  c.vision.image_size = json_field_or<int64_t>(v, "image_size", c.vision.image_size, source, kOpenCLIPHint);
  c.vision.layers = json_field_or<int64_t>(v, "layers", c.vision.layers, source, kOpenCLIPHint);
  c.vision.width = json_field_or<int64_t>(v, "width", c.vision.width, source, kOpenCLIPHint);
  c.vision.head_width = json_field_or<int64_t>(v, "head_width", c.vision.head_width, source, kOpenCLIPHint);
  c.vision.mlp_ratio = json_field_or<double>(v, "mlp_ratio", c.vision.mlp_ratio, source, kOpenCLIPHint);
  c.vision.patch_size = json_field_or<int64_t>(v, "patch_size", c.vision.patch_size, source, kOpenCLIPHint);
  c.text.context_length = json_field_or<int64_t>(t, "context_length", c.text.context_length, source, kOpenCLIPHint);
  c.text.vocab_size = json_field_or<int64_t>(t, "vocab_size", c.text.vocab_size, source, kOpenCLIPHint);
  c.text.width = json_field_or<int64_t>(t, "width", c.text.width, source, kOpenCLIPHint);
  c.text.heads = json_field_or<int64_t>(t, "heads", c.text.heads, source, kOpenCLIPHint);
  c.text.layers = json_field_or<int64_t>(t, "layers", c.text.layers, source, kOpenCLIPHint);
  c.text.mlp_ratio = json_field_or<double>(t, "mlp_ratio", c.text.mlp_ratio, source, kOpenCLIPHint);
  require(c.vision.head_width > 0 && c.vision.width % c.vision.head_width == 0,
          "'" + source + "': vision width is not a multiple of head_width", "check vision_cfg");
  require(c.vision.patch_size > 0 && c.vision.image_size % c.vision.patch_size == 0,
          "'" + source + "': image_size is not a multiple of patch_size", "check vision_cfg");
  return c;
}

OpenCLIPConfig load_open_clip_config(const std::string& path) {
  nlohmann::json j = nlohmann::json::parse(read_file(path), nullptr, /*allow_exceptions=*/false);
  require(!j.is_discarded(), "'" + path + "' is not valid JSON", "expected an open_clip model config JSON");
  return open_clip_config_from_json(j, path);
}

CLIPModelConfig to_clip_model_config(const OpenCLIPConfig& config) {
  const CLIPActivation act = config.quick_gelu ? CLIPActivation::QuickGELU : CLIPActivation::GELU;
  CLIPModelConfig c;
  c.projection_dim = config.embed_dim;
  c.text.vocab_size = config.text.vocab_size;
  c.text.max_position_embeddings = config.text.context_length;
  c.text.encoder.hidden_size = config.text.width;
  c.text.encoder.intermediate_size = static_cast<int64_t>(std::llround(config.text.width * config.text.mlp_ratio));
  c.text.encoder.num_attention_heads = config.text.heads;
  c.text.encoder.num_hidden_layers = config.text.layers;
  c.text.encoder.layer_norm_eps = 1e-5;
  c.text.encoder.hidden_act = act;
  c.text.bos_token_id = 49406;
  c.text.eos_token_id = 49407;
  c.text.pad_token_id = 0;
  c.vision.encoder.hidden_size = config.vision.width;
  c.vision.encoder.intermediate_size =
      static_cast<int64_t>(std::llround(config.vision.width * config.vision.mlp_ratio));
  c.vision.encoder.num_attention_heads = config.vision.width / config.vision.head_width;
  c.vision.encoder.num_hidden_layers = config.vision.layers;
  c.vision.encoder.layer_norm_eps = 1e-5;
  c.vision.encoder.hidden_act = act;
  c.vision.image_size = config.vision.image_size;
  c.vision.patch_size = config.vision.patch_size;
  c.vision.num_channels = 3;
  c.vision.projection_dim = config.embed_dim;
  return c;
}

TensorMap open_clip_to_transformers(const TensorMap& tensors) {
  TensorMap out;
  for (const auto& [key, value] : tensors) {
    if (key == "attn_mask") continue;  // the causal mask, rebuilt by the text tower
    open_clip_detail::map_key(key, value, out);
  }
  return out;
}

CLIPModel load_open_clip_model(const std::string& weights, const OpenCLIPConfig& config) {
  CLIPModel model(to_clip_model_config(config));
  TensorMap tensors = open_clip_to_transformers(load_tensors(weights));
  LoadOptions options;
  options.hint = "expected an open_clip CLIP state dict (e.g. HPS_v2.1_compressed.pt: ViT-H-14) matching the open_clip "
                 "config (open_clip_config.json next to the weights, else ViT-H-14)";
  load_state_dict(*model, tensors, weights, options);
  model->eval();
  return model;
}

}  // namespace nablagfn
