#include "rewards/reward_checks.h"

#include <ATen/ATen.h>

#include "core/error.h"

namespace nablagfn {

void require_differentiable(const Reward& reward, const std::string& algorithm) {
  require(reward.differentiable(),
          "algorithm '" + algorithm + "' needs the gradient of the reward, but reward '" + reward.name() +
              "' is not differentiable",
          "use it with the gradient-free algorithm ddpo, or choose a differentiable reward");
}

void check_reward_inputs(const Reward& reward, const at::Tensor& images, const std::vector<std::string>& prompts,
                         at::ScalarType dtype) {
  TORCH_CHECK(images.dim() == 4 && images.size(1) == 3, "reward '", reward.name(),
              "': expected images [B, 3, H, W], got ", images.sizes());
  TORCH_CHECK(images.scalar_type() == dtype, "reward '", reward.name(), "': expected ", dtype, " images, got ",
              images.scalar_type());
  if (reward.uses_prompt())
    TORCH_CHECK(static_cast<int64_t>(prompts.size()) == images.size(0), "reward '", reward.name(), "': ",
                prompts.size(), " prompts for ", images.size(0), " images");
}

}  // namespace nablagfn
