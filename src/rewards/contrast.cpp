#include "rewards/contrast.h"

#include <ATen/ATen.h>

namespace nablagfn {

at::Tensor ContrastReward::score(const at::Tensor& images, const std::vector<std::string>& prompts) {
  TORCH_CHECK(images.dim() == 4, "contrast reward: images must be [B, C, H, W], got ", images.sizes());
  // float32 for float32 / half inputs; float64 stays float64 (the gradient check).
  const at::ScalarType dtype = at::promote_types(images.scalar_type(), at::kFloat);
  return (images.to(dtype) * 2.0 - 1.0).square().flatten(1).mean(1);  // [B, C·H·W] -> [B]
}

}  // namespace nablagfn
