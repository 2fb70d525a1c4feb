// LoRA layouts and merging: see lora_export.h for the references.
#include "models/lora_export.h"

#include <ATen/ATen.h>

#include <nlohmann/json.hpp>
#include <sstream>

#include "core/error.h"
#include "io/atomic_file.h"
#include "io/fs_util.h"

namespace nablagfn {

const char* const kPeftConfigFile = "adapter_config.json";
const char* const kDiffusersMetadataKey = "lora_adapter_metadata";

namespace {
const char* const kA = ".lora_A.weight";
const char* const kB = ".lora_B.weight";

bool ends_with(const std::string& s, const std::string& suffix) {
  return s.size() >= suffix.size() && s.compare(s.size() - suffix.size(), suffix.size(), suffix) == 0;
}

// "<module>.lora_A.weight" -> {"<module>", true}; Error on any other name.
std::pair<std::string, bool> split_peft_name(const std::string& name) {
  for (const char* suffix : {kA, kB})
    if (ends_with(name, suffix))
      return {name.substr(0, name.size() - std::string(suffix).size()), suffix == std::string(kA)};
  throw Error("'" + name + "' is not a peft LoRA name", "expected <module>.lora_A.weight or <module>.lora_B.weight");
}
}  // namespace

std::string kohya_module_name(const std::string& module) {
  std::string out = "lora_unet_" + module;
  for (size_t i = 10; i < out.size(); ++i)
    if (out[i] == '.') out[i] = '_';
  return out;
}

std::string lora_file_name(LoRAFormat format) {
  switch (format) {
    case LoRAFormat::Peft: return "adapter_model.safetensors";
    case LoRAFormat::Diffusers: return "pytorch_lora_weights.safetensors";
    case LoRAFormat::Kohya: return "lora_kohya.safetensors";
  }
  throw Error("unknown LoRA format", "use diffusers, peft or kohya");
}

LoRAFormat parse_lora_format(const std::string& name) {
  if (name == "diffusers") return LoRAFormat::Diffusers;
  if (name == "peft") return LoRAFormat::Peft;
  if (name == "kohya") return LoRAFormat::Kohya;
  throw Error("unknown LoRA format '" + name + "'",
              "use diffusers (pytorch_lora_weights.safetensors), peft (adapter_model.safetensors) or kohya "
              "(A1111 / ComfyUI)");
}

NamedTensors lora_layout(const NamedTensors& peft, LoRAFormat format, double alpha) {
  NamedTensors out;
  for (const auto& [name, value] : peft) {
    const auto [module, is_a] = split_peft_name(name);
    at::Tensor t = value.detach().to(at::kCPU, at::kFloat).contiguous();
    if (format == LoRAFormat::Peft) {
      out.emplace_back(name, t);
    } else if (format == LoRAFormat::Diffusers) {
      out.emplace_back("unet." + module + (is_a ? ".lora.down.weight" : ".lora.up.weight"), t);
    } else {
      const std::string k = kohya_module_name(module);
      out.emplace_back(k + (is_a ? ".lora_down.weight" : ".lora_up.weight"), t);
      if (!is_a) out.emplace_back(k + ".alpha", at::scalar_tensor(alpha, at::kFloat));
    }
  }
  return out;
}

void write_lora(const std::string& dir, const NamedTensors& peft, const LoRAConfig& config, LoRAFormat format) {
  make_directories(dir);
  const NamedTensors tensors = lora_layout(peft, format, config.alpha);
  const std::string file = join_path(dir, lora_file_name(format));
  nlohmann::json lora_config = {{"r", config.rank},
                                {"lora_alpha", config.alpha},
                                {"target_modules", config.target_modules},
                                {"init_lora_weights", to_string(config.init)}};
  if (format == LoRAFormat::Peft) {
    save_safetensors(file, tensors, {{"format", "pt"}});
    nlohmann::json j = lora_config;
    j["peft_type"] = "LORA";
    j["lora_dropout"] = 0.0;
    j["bias"] = "none";
    write_file_atomic(join_path(dir, kPeftConfigFile), j.dump(2) + "\n");
  } else if (format == LoRAFormat::Diffusers) {
    nlohmann::json metadata;
    for (const auto& [key, value] : lora_config.items()) metadata["unet." + key] = value;
    save_safetensors(file, tensors, {{"format", "pt"}, {kDiffusersMetadataKey, metadata.dump(2)}});
  } else {
    std::ostringstream alpha;
    alpha << config.alpha;
    save_safetensors(file, tensors,
                     {{"format", "pt"},
                      {"ss_network_module", "networks.lora"},
                      {"ss_network_dim", std::to_string(config.rank)},
                      {"ss_network_alpha", alpha.str()}});
  }
}

TensorMap merge_lora(const TensorMap& unet_state, const TensorMap& peft, double scale) {
  TensorMap out = unet_state;
  for (const auto& [name, a] : peft) {
    const auto [module, is_a] = split_peft_name(name);
    if (!is_a) continue;
    auto b = peft.find(module + kB);
    auto w = out.find(module + ".weight");
    require(b != peft.end(), "LoRA module '" + module + "' has lora_A but no lora_B", "export a complete adapter");
    require(w != out.end(), "the UNet has no weight '" + module + ".weight' for the LoRA module '" + module + "'",
            "merge into the UNet the LoRA was trained on (model.path of the run)");
    const at::Tensor& W = w->second;  // [out, in]
    require(W.dim() == 2 && a.dim() == 2 && b->second.dim() == 2 && a.size(1) == W.size(1) &&
                b->second.size(0) == W.size(0) && b->second.size(1) == a.size(0),
            "LoRA module '" + module + "' does not fit the UNet weight of that name",
            "merge into the UNet the LoRA was trained on (model.path of the run)");
    at::Tensor delta = at::matmul(b->second.to(at::kFloat), a.to(at::kFloat)) * scale;  // [out, r] x [r, in]
    w->second = (W.to(at::kFloat) + delta).to(W.scalar_type());
  }
  return out;
}

}  // namespace nablagfn
