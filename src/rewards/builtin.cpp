// The built-in rewards, by config name. Adding one: its file, plus one line here.
#include "core/error.h"
#include "rewards/analytic.h"
#include "rewards/registry.h"

namespace nablagfn {

RewardRegistry& reward_registry() {
  static RewardRegistry registry = [] {
    RewardRegistry r("reward");
    r.add("linear", [](const RewardConfig& c, c10::Device) { return std::make_unique<LinearReward>(c.linear_coef); });
    r.add("quadratic", [](const RewardConfig& c, c10::Device) {
      require(c.quadratic_scale > 0, "reward.quadratic_scale must be > 0", "it is s in r(x) = -||x - c||^2 / s");
      return std::make_unique<QuadraticReward>(c.quadratic_center, c.quadratic_scale);
    });
    return r;
  }();
  return registry;
}

}  // namespace nablagfn
