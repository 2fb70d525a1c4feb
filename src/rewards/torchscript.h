#pragma once
// TorchScript plug-in reward: any scorer exported from Python with torch.jit.script or torch.jit.trace whose
// forward takes (images) or (images, prompts: List[str]) and returns [B]. The module does its own
// preprocessing; it receives images [B, 3, H, W] in [0, 1] on the reward's device and must keep the autograd
// graph to them (no torch.no_grad, no .detach()) so the reward stays differentiable.
//
// ImageReward (BLIP + BERT, spec §5.3) comes in this way: in Python, wrap `ImageReward.score_gard` with
// the spec's preprocessing (Resize(224, bicubic) + CenterCrop(224) + CLIP mean/std) in an nn.Module whose
// forward takes (images, prompts). BERT's tokenizer cannot be scripted, so tokenize the training prompts
// once in Python, store the ids and attention masks in the module (a Dict[str, Tensor] from prompt to ids),
// look them up in forward, then torch.jit.script the wrapper and save it; set reward.name = "torchscript"
// and reward.path to the file.
#include <memory>
#include <string>

#include <c10/core/Device.h>
#include <torch/csrc/jit/api/module.h>

#include "config/config.h"
#include "rewards/reward.h"

namespace nablagfn {

class TorchScriptReward : public Reward {
 public:
  // Error unless forward takes (Tensor) or (Tensor, List[str]).
  TorchScriptReward(torch::jit::Module module, const std::string& source);
  std::string name() const override { return "torchscript"; }
  bool differentiable() const override { return true; }
  bool uses_prompt() const override { return uses_prompt_; }
  // images [B, 3, H, W] of dtype() -> [B] of dtype(); Error when the module returns something else, or
  // returns no graph to images that require grad.
  at::Tensor score(const at::Tensor& images, const std::vector<std::string>& prompts) override;
  // Moves the module; float32 is the contract of Reward, float64 exists for gradient checks.
  void to(c10::Device device, at::ScalarType dtype);
  at::ScalarType dtype() const { return dtype_; }

 private:
  torch::jit::Module module_;
  std::string source_;
  bool uses_prompt_ = false;
  at::ScalarType dtype_ = at::kFloat;
};

// reward.path: the TorchScript file (torch.jit.save / ScriptModule.save).
std::unique_ptr<TorchScriptReward> make_torchscript_reward(const RewardConfig& config, c10::Device device);

}  // namespace nablagfn
