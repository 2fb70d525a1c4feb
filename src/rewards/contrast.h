#pragma once
// The default model's reward: contrast, r(x) = mean over pixels of (2x − 1)², for images x in [0, 1]
// (0 for a uniform mid-grey image, 1 when every pixel is black or white). Prompt-independent and
// differentiable (∂r/∂x = 4(2x − 1) / #pixels), so every algorithm can use it. It asks for a clear
// picture, ink on paper without grey haze, which the prior's articles of clothing can give without
// changing class: the classifier still recognises a sharpened silhouette, so a good finetuning raises
// the reward while keeping class agreement and diversity. A symmetry reward would fight the side-view
// shoe classes; a stroke-mass reward would turn every class into a filled blob.
#include "rewards/reward.h"

namespace nablagfn {

class ContrastReward : public Reward {
 public:
  std::string name() const override { return "contrast"; }
  bool differentiable() const override { return true; }
  bool uses_prompt() const override { return false; }
  // images [B, C, H, W] in [0, 1] -> [B] float32 (float64 for float64 images), with a graph to images.
  at::Tensor score(const at::Tensor& images, const std::vector<std::string>& prompts) override;
};

}  // namespace nablagfn
