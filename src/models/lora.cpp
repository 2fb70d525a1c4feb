// LoRA branches, adapter attachment and its checkpoint formats: see lora.h for the references.
#include "models/lora.h"

#include <torch/torch.h>

#include <cmath>
#include <filesystem>
#include <nlohmann/json.hpp>
#include <set>
#include <sstream>

#include "core/error.h"
#include "io/atomic_file.h"
#include "io/safetensors.h"
#include "models/attention.h"
#include "models/lora_export.h"
#include "models/lora_merged_linear.h"
#include "models/state_dict.h"

namespace nablagfn {

namespace lora_detail {

// Replaces the first occurrence of from (which must exist) by to.
std::string replace_once(std::string s, const std::string& from, const std::string& to) {
  return s.replace(s.find(from), from.size(), to);
}

// One file's tensors renamed to peft names, plus the rank / alpha it records (0 when unrecorded).
struct LoadedLoRA {
  TensorMap state;
  int64_t rank = 0;
  double alpha = 0.0;
};

// peft names pass through (a "base_model.model." or "unet." prefix is dropped); diffusers names
// "unet.<module>.lora.down.weight" / ".lora.up.weight" become "<module>.lora_A.weight" / ".lora_B.weight";
// kohya names "lora_unet_<module with _>.lora_down.weight" / ".lora_up.weight" are matched against
// modules (the adapter's module paths) and their ".alpha" entries go to *alpha.
TensorMap to_peft_names(const TensorMap& file, const std::string& source, const std::vector<std::string>& modules,
                        double* alpha) {
  bool diffusers = false, peft = false, kohya = false;
  for (const auto& kv : file) {
    diffusers |= kv.first.find(".lora.down.") != std::string::npos || kv.first.find(".lora.up.") != std::string::npos;
    peft |= kv.first.find(".lora_A.") != std::string::npos || kv.first.find(".lora_B.") != std::string::npos;
    kohya |= kv.first.find(".lora_down.") != std::string::npos || kv.first.find(".lora_up.") != std::string::npos;
  }
  if (diffusers + peft + kohya != 1) {
    throw Error("'" + source + "' is not a LoRA file in peft, diffusers or kohya key names",
                "expected keys like <module>.lora_A.weight (peft), unet.<module>.lora.down.weight (diffusers) or "
                "lora_unet_<module>.lora_down.weight (kohya)");
  }
  std::map<std::string, std::string> kohya_modules;  // kohya name -> module path
  for (const auto& m : modules) kohya_modules[kohya_module_name(m)] = m;
  TensorMap out;
  for (const auto& [key, value] : file) {
    std::string k = key;
    if (kohya) {
      const size_t dot = k.find('.');
      auto it = kohya_modules.find(k.substr(0, dot));
      if (it != kohya_modules.end() && dot != std::string::npos) {
        const std::string rest = k.substr(dot);
        if (rest == ".alpha") {
          *alpha = value.item<double>();
          continue;
        }
        if (rest == ".lora_down.weight") k = it->second + ".lora_A.weight";
        if (rest == ".lora_up.weight") k = it->second + ".lora_B.weight";
      }
      out[k] = value;
      continue;
    }
    for (const std::string prefix : {"base_model.model.", "unet."}) {
      if (k.rfind(prefix, 0) == 0) k = k.substr(prefix.size());
    }
    if (diffusers) {
      if (k.find(".lora.down.") != std::string::npos) k = replace_once(k, ".lora.down.", ".lora_A.");
      if (k.find(".lora.up.") != std::string::npos) k = replace_once(k, ".lora.up.", ".lora_B.");
    }
    out[k] = value;
  }
  return out;
}

void read_peft_config(const std::string& path, LoadedLoRA& loaded) {
  nlohmann::json j;
  try {
    j = nlohmann::json::parse(read_file(path));
  } catch (const nlohmann::json::exception& e) {
    throw Error("cannot parse '" + path + "': " + e.what(), "adapter_config.json must be peft's JSON");
  }
  if (j.contains("r")) loaded.rank = j.at("r").get<int64_t>();
  if (j.contains("lora_alpha")) loaded.alpha = j.at("lora_alpha").get<double>();
}

LoadedLoRA read_lora_file(const std::string& path, const std::vector<std::string>& modules) {
  SafeTensors file(path);
  LoadedLoRA loaded;
  loaded.state = to_peft_names(load_safetensors(path), path, modules, &loaded.alpha);
  auto it = file.metadata().find(kDiffusersMetadataKey);
  if (it != file.metadata().end()) {
    nlohmann::json j = nlohmann::json::parse(it->second, nullptr, /*allow_exceptions=*/false);
    if (j.is_object()) {
      if (j.contains("unet.r")) loaded.rank = j.at("unet.r").get<int64_t>();
      if (j.contains("unet.lora_alpha")) loaded.alpha = j.at("unet.lora_alpha").get<double>();
    }
  }
  return loaded;
}

}  // namespace lora_detail

LoRALinearImpl::LoRALinearImpl(int64_t in_features, int64_t out_features, const LoRAConfig& config,
                               std::shared_ptr<const LoRAGate> gate)
    : scale_(config.alpha / static_cast<double>(config.rank)), gate_(std::move(gate)) {
  lora_A = register_module("lora_A", torch::nn::Linear(torch::nn::LinearOptions(in_features, config.rank).bias(false)));
  lora_B =
      register_module("lora_B", torch::nn::Linear(torch::nn::LinearOptions(config.rank, out_features).bias(false)));
  torch::NoGradGuard no_grad;
  if (config.init == LoRAInit::Gaussian) {
    lora_A->weight.normal_(0.0, 1.0 / static_cast<double>(config.rank));
  } else {
    torch::nn::init::kaiming_uniform_(lora_A->weight, std::sqrt(5.0));
  }
  lora_B->weight.zero_();
}

torch::Tensor LoRALinearImpl::project(const torch::Tensor& x, const torch::Tensor& weight, const torch::Tensor& bias) {
  if (gate_->enabled && gate_->merged_backward && !gate_->sample_mask.defined() && at::GradMode::is_enabled()) {
    return lora_merged_linear(x, weight, bias, lora_A->weight, lora_B->weight, scale_);  // [B, ..., out]
  }
  // at::linear, not Linear::forward: see AttentionImpl::project.
  return apply(x, at::linear(x, weight, bias));  // [B, ..., in] -> [B, ..., out]
}

torch::Tensor LoRALinearImpl::apply(const torch::Tensor& x, const torch::Tensor& y) {
  if (!gate_->enabled) return y;
  const auto dtype = lora_A->weight.scalar_type();
  torch::Tensor delta = lora_B(lora_A(x.to(dtype))) * scale_;  // [B, ..., in] -> [B, ..., r] -> [B, ..., out]
  if (gate_->sample_mask.defined()) {
    const torch::Tensor& mask = gate_->sample_mask;
    TORCH_CHECK(mask.dim() == 1 && mask.size(0) == x.size(0), "LoRA: sample_mask must be [B] with B = ", x.size(0),
                ", got ", mask.sizes());
    std::vector<int64_t> shape(delta.dim(), 1);
    shape[0] = delta.size(0);
    delta = delta * mask.to(delta.device(), dtype).view(shape);  // [B] -> [B, 1, ..., 1]
  }
  return y.scalar_type() == dtype ? y + delta : (y.to(dtype) + delta).to(y.scalar_type());
}

LoRAAdapter::LoRAAdapter(torch::nn::Module& model, const LoRAConfig& config)
    : config_(config), gate_(std::make_shared<LoRAGate>()) {
  require(config.rank > 0, "LoRA rank must be positive, got " + std::to_string(config.rank), "set model.lora_rank");
  for (const auto& item : model.named_modules()) {
    auto attn = std::dynamic_pointer_cast<AttentionImpl>(item.value());
    if (!attn) continue;
    for (const auto& target : config.target_modules) {
      const torch::Tensor& w = attn->projection(target)->weight;  // [out, in]
      LoRALinear branch(w.size(1), w.size(0), config, gate_);
      branch->to(w.device(), torch::kFloat32);
      attn->attach_lora(target, branch);
      branches_.emplace_back(item.key() + "." + target, branch);
    }
  }
  require(!branches_.empty(), "the model has no Attention module to put LoRA on",
          "LoRA attaches to the attention projections of a UNet2DConditionModel");
}

std::vector<at::Tensor> LoRAAdapter::parameters() const {
  std::vector<at::Tensor> out;
  for (const auto& kv : named_parameters()) out.push_back(kv.second);
  return out;
}

std::vector<std::pair<std::string, at::Tensor>> LoRAAdapter::named_parameters() const {
  std::vector<std::pair<std::string, at::Tensor>> out;
  for (const auto& [path, branch] : branches_) {
    out.emplace_back(path + ".lora_A.weight", branch->lora_A->weight);
    out.emplace_back(path + ".lora_B.weight", branch->lora_B->weight);
  }
  return out;
}

void LoRAAdapter::load_state(const TensorMap& state, const std::string& source) {
  std::vector<std::string> missing, mismatched;
  std::set<std::string> used;
  for (const auto& [name, param] : named_parameters()) {
    auto it = state.find(name);
    if (it == state.end()) {
      missing.push_back(name);
    } else if (const std::string misfit = describe_misfit(name, it->second, param, "adapter"); !misfit.empty()) {
      mismatched.push_back(misfit);
    }
    used.insert(name);
  }
  std::vector<std::string> unexpected;
  for (const auto& kv : state) {
    if (!used.count(kv.first)) unexpected.push_back(kv.first);
  }
  throw_if_keys_mismatch("LoRA weights in '" + source + "' do not fit the adapter", missing, unexpected, mismatched,
                         "check model.lora_rank and that the adapter was trained on this UNet architecture");
  torch::NoGradGuard no_grad;
  for (auto& [name, param] : named_parameters()) param.copy_(state.at(name));
}

void LoRAAdapter::save(const std::string& dir, LoRAFormat format) const {
  write_lora(dir, named_parameters(), config_, format);
}

void LoRAAdapter::load(const std::string& path) {
  namespace fs = std::filesystem;
  std::vector<std::string> modules;
  for (const auto& kv : branches_) modules.push_back(kv.first);
  lora_detail::LoadedLoRA loaded;
  std::string source = path;
  if (fs::is_directory(path)) {
    const std::string peft = path + "/" + lora_file_name(LoRAFormat::Peft);
    const std::string diffusers = path + "/" + lora_file_name(LoRAFormat::Diffusers);
    if (fs::exists(peft)) {
      source = peft;
      loaded = lora_detail::read_lora_file(peft, modules);
      if (fs::exists(path + "/" + kPeftConfigFile)) {
        lora_detail::read_peft_config(path + "/" + kPeftConfigFile, loaded);
      }
    } else if (fs::exists(diffusers)) {
      source = diffusers;
      loaded = lora_detail::read_lora_file(diffusers, modules);
    } else if (fs::exists(path + "/" + lora_file_name(LoRAFormat::Kohya))) {
      source = path + "/" + lora_file_name(LoRAFormat::Kohya);
      loaded = lora_detail::read_lora_file(source, modules);
    } else {
      throw Error("no LoRA weights in '" + path + "'", "expected " + lora_file_name(LoRAFormat::Peft) + ", " +
                                                           lora_file_name(LoRAFormat::Diffusers) + " or " +
                                                           lora_file_name(LoRAFormat::Kohya));
    }
  } else {
    require(fs::exists(path), "LoRA file '" + path + "' does not exist", "pass a LoRA directory or .safetensors file");
    loaded = lora_detail::read_lora_file(path, modules);
  }
  if (loaded.rank > 0 && loaded.rank != config_.rank) {
    throw Error("'" + source + "' holds a rank-" + std::to_string(loaded.rank) + " LoRA, the adapter has rank " +
                    std::to_string(config_.rank),
                "set model.lora_rank=" + std::to_string(loaded.rank));
  }
  if (loaded.alpha > 0 && loaded.alpha != config_.alpha) {
    std::ostringstream os;
    os << "'" << source << "' was trained with lora_alpha " << loaded.alpha << ", the adapter has " << config_.alpha;
    throw Error(os.str(), "set model.lora_alpha to the file's value");
  }
  load_state(loaded.state, source);
}

LoRAGateGuard::LoRAGateGuard(LoRAGate& gate, bool enabled, const at::Tensor& sample_mask) : gate_(gate), saved_(gate) {
  gate_.enabled = enabled;
  gate_.sample_mask = sample_mask;
}

LoRAGateGuard::~LoRAGateGuard() { gate_ = saved_; }

}  // namespace nablagfn
