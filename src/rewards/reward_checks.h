#pragma once
// Checks shared by the rewards and by the algorithms that use them.
#include <string>

#include <ATen/core/Tensor.h>

#include "rewards/reward.h"

namespace nablagfn {

// Gradient-based algorithms (nabla_db, refl, draft, ...) call this once at setup: a reward without an image
// gradient (jpeg_compressibility) throws a one-line Error naming both and pointing at DDPO.
void require_differentiable(const Reward& reward, const std::string& algorithm);

// The image contract of Reward::score for a reward computing in `dtype` (float32, or float64 after to(kDouble)
// for gradient checks): images [B, 3, H, W] of that dtype and prompts of size B when the reward reads them.
void check_reward_inputs(const Reward& reward, const at::Tensor& images, const std::vector<std::string>& prompts,
                         at::ScalarType dtype);

}  // namespace nablagfn
