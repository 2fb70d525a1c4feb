#pragma once
// LAION aesthetic predictor v2 as a differentiable reward (spec §5.1): CLIP image tower + visual projection,
// L2-normalised embedding, linear MLP head. Port of the ∇-GFlowNet `AestheticScorerDiff`
// (lib/reward_func/aesthetic_scorer.py) and LAION's `MLP` (improved-aesthetic-predictor, simple_inference.py).
// What changed: the tower and head sizes come from the files (any CLIP tower with a head that fits it), the
// head reads .pth or .safetensors, and the reward weights are frozen (no graph to them).
// Sizes: B batch, E embedding (projection) width.
#include <memory>
#include <string>
#include <vector>

#include <c10/core/Device.h>
#include <torch/nn/module.h>
#include <torch/nn/modules/container/sequential.h>

#include "config/config.h"
#include "io/tensor_io.h"
#include "models/clip_vision.h"
#include "rewards/reward.h"

namespace nablagfn {

// LAION's head: layers.0/2/4/6/7 are Linear, layers.1/3/5 Dropout (inactive in eval mode), no activations.
class AestheticHeadImpl : public torch::nn::Module {
 public:
  // widths: E, then the output width of each of the 5 linears (the public head: 768, 1024, 128, 64, 16, 1).
  explicit AestheticHeadImpl(const std::vector<int64_t>& widths);
  at::Tensor forward(const at::Tensor& embeds);  // [B, E] -> [B, 1]

  torch::nn::Sequential layers{nullptr};
};
TORCH_MODULE(AestheticHead);

// A head from a .pth (torch.save state dict) or .safetensors file, eval mode; Error when the keys or
// shapes are not those of LAION's MLP.
AestheticHead load_aesthetic_head(const std::string& path);

class AestheticReward : public Reward, public ImageEmbedding {
 public:
  // Error (with a hint) when the head's input width differs from the tower's projection width.
  AestheticReward(CLIPVisionModelWithProjection vision, AestheticHead head, const std::string& source);
  std::string name() const override { return "aesthetic"; }
  bool differentiable() const override { return true; }
  bool uses_prompt() const override { return false; }
  // images [B, 3, H, W] in [0, 1] of dtype() -> [B] of dtype(), with a graph to the images.
  at::Tensor score(const at::Tensor& images, const std::vector<std::string>& prompts) override;
  bool capturable() const override { return true; }
  // images -> [B, E] unit-length tower embedding (the head's input), graph to the images.
  at::Tensor image_embedding(const at::Tensor& images) override;
  // Moves the weights; float32 is the contract of Reward, float64 exists for gradient checks.
  void to(c10::Device device, at::ScalarType dtype);
  at::ScalarType dtype() const { return dtype_; }

 private:
  CLIPVisionModelWithProjection vision_;
  AestheticHead head_;
  at::ScalarType dtype_ = at::kFloat;
};

// reward.path: a transformers CLIP folder (e.g. openai/clip-vit-large-patch14); reward.head_path: the head.
std::unique_ptr<AestheticReward> make_aesthetic_reward(const RewardConfig& config, c10::Device device);

}  // namespace nablagfn
