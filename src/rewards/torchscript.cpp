// TorchScript plug-in reward; see torchscript.h for the contract and how to export a scorer.
#include "rewards/torchscript.h"

#include <torch/script.h>

#include "core/error.h"
#include "rewards/reward_checks.h"

namespace nablagfn {

namespace torchscript_detail {
constexpr const char* kSignatureHint =
    "export a module whose forward is (images: Tensor) -> Tensor or (images: Tensor, prompts: List[str]) -> Tensor "
    "returning [B] (see rewards/torchscript.h)";
}  // namespace torchscript_detail

TorchScriptReward::TorchScriptReward(torch::jit::Module module, const std::string& source)
    : module_(std::move(module)), source_(source) {
  using torchscript_detail::kSignatureHint;
  c10::optional<torch::jit::Method> forward = module_.find_method("forward");
  require(forward.has_value(), "TorchScript reward '" + source_ + "' has no forward method", kSignatureHint);
  const auto& args = forward->function().getSchema().arguments();  // self, images[, prompts]
  const bool tensor_first = args.size() >= 2 && args[1].type()->kind() == c10::TypeKind::TensorType;
  const bool prompts_second = args.size() == 3 && args[2].type()->kind() == c10::TypeKind::ListType &&
                              args[2].type()->containedType(0)->kind() == c10::TypeKind::StringType;
  require(tensor_first && (args.size() == 2 || prompts_second),
          "TorchScript reward '" + source_ + "': forward has the signature " + forward->function().getSchema().name() +
              "(" + std::to_string(args.size() - 1) + " arguments) that is neither (Tensor) nor (Tensor, List[str])",
          kSignatureHint);
  uses_prompt_ = args.size() == 3;
  module_.eval();
  for (at::Tensor p : module_.parameters()) p.set_requires_grad(false);
}

void TorchScriptReward::to(c10::Device device, at::ScalarType dtype) {
  module_.to(device, dtype);
  dtype_ = dtype;
}

at::Tensor TorchScriptReward::score(const at::Tensor& images, const std::vector<std::string>& prompts) {
  using torchscript_detail::kSignatureHint;
  check_reward_inputs(*this, images, prompts, dtype_);
  std::vector<c10::IValue> inputs{images};
  if (uses_prompt_) inputs.emplace_back(c10::List<std::string>(prompts));
  c10::IValue out = module_.forward(std::move(inputs));
  require(out.isTensor(), "TorchScript reward '" + source_ + "' returned a " + out.tagKind() + ", not a tensor",
          kSignatureHint);
  at::Tensor r = out.toTensor();
  require(r.dim() == 1 && r.size(0) == images.size(0),
          "TorchScript reward '" + source_ + "' returned shape " + c10::str(r.sizes()) + " for " +
              std::to_string(images.size(0)) + " images, not [B]",
          kSignatureHint);
  require(!images.requires_grad() || r.requires_grad(),
          "TorchScript reward '" + source_ + "' returned no gradient path to the images",
          "the exported forward must not use torch.no_grad() or .detach() on the way from images to the score");
  return r;
}

std::unique_ptr<TorchScriptReward> make_torchscript_reward(const RewardConfig& config, c10::Device device) {
  require(!config.path.empty(), "reward 'torchscript' needs reward.path", "the file written by torch.jit.save");
  torch::jit::Module module;
  try {
    module = torch::jit::load(config.path, device);
  } catch (const std::exception& e) {
    const auto* c10_error = dynamic_cast<const c10::Error*>(&e);
    const std::string msg = c10_error ? c10_error->what_without_backtrace() : e.what();
    throw Error("cannot load TorchScript reward '" + config.path + "': " + msg.substr(0, msg.find('\n')),
                "save the module with torch.jit.script(m).save(path) or torch.jit.trace(m, x).save(path)");
  }
  auto reward = std::make_unique<TorchScriptReward>(std::move(module), config.path);
  reward->to(device, at::kFloat);
  return reward;
}

}  // namespace nablagfn
