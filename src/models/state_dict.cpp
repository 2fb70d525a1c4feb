#include "models/state_dict.h"

#include <torch/torch.h>

#include <algorithm>
#include <set>
#include <sstream>

#include "core/error.h"

namespace nablagfn {

TensorMap state_dict(const torch::nn::Module& module) {
  TensorMap out;
  for (const auto& p : module.named_parameters(true)) out[p.key()] = p.value();
  for (const auto& b : module.named_buffers(true)) out[b.key()] = b.value();
  return out;
}

std::string describe_misfit(const std::string& key, const at::Tensor& file, const at::Tensor& target,
                            const std::string& target_name) {
  if (file.sizes() == target.sizes() && file.is_floating_point() == target.is_floating_point()) return "";
  std::ostringstream os;
  os << key << " (file " << file.scalar_type() << file.sizes() << ", " << target_name << " " << target.scalar_type()
     << target.sizes() << ")";
  return os.str();
}

void throw_if_keys_mismatch(const std::string& what, const std::vector<std::string>& missing,
                            const std::vector<std::string>& unexpected, const std::vector<std::string>& mismatched,
                            const std::string& hint) {
  if (missing.empty() && mismatched.empty() && unexpected.empty()) return;
  auto list = [](const std::vector<std::string>& v) {
    std::string s;
    for (size_t i = 0; i < v.size() && i < 8; ++i) s += (i ? ", " : "") + v[i];
    if (v.size() > 8) s += ", ... (" + std::to_string(v.size()) + " in all)";
    return s;
  };
  std::string msg = what + ":";
  if (!missing.empty()) msg += " missing [" + list(missing) + "];";
  if (!unexpected.empty()) msg += " unexpected [" + list(unexpected) + "];";
  if (!mismatched.empty()) msg += " mismatched [" + list(mismatched) + "];";
  msg.pop_back();
  throw Error(msg, hint);
}

void load_state_dict(torch::nn::Module& module, const TensorMap& tensors, const std::string& source,
                     const LoadOptions& options) {
  TensorMap expected = state_dict(module);
  std::vector<std::string> missing, mismatched, unexpected;
  std::set<std::string> used;
  for (const auto& [key, target] : expected) {
    auto it = tensors.find(options.prefix + key);
    if (it == tensors.end()) {
      missing.push_back(key);
      continue;
    }
    used.insert(it->first);
    const std::string misfit = describe_misfit(key, it->second, target);
    if (!misfit.empty()) mismatched.push_back(misfit);
  }
  std::set<std::string> ignored(options.ignore_keys.begin(), options.ignore_keys.end());
  for (const auto& [key, value] : tensors) {
    if (key.rfind(options.prefix, 0) != 0) continue;
    if (!used.count(key) && !ignored.count(key.substr(options.prefix.size()))) unexpected.push_back(key);
  }
  throw_if_keys_mismatch("weights in '" + source + "' do not fit the model", missing, unexpected, mismatched,
                         options.hint.empty() ? "check that config.json and the weights belong to the same model"
                                              : options.hint);
  torch::NoGradGuard no_grad;
  for (auto& [key, target] : expected) target.copy_(tensors.at(options.prefix + key));
}

}  // namespace nablagfn
