// The built-in rewards, by config name. Adding one: its file, plus one line here.
// ImageReward (BLIP-based, spec §5.3) is not built in: export it with TorchScript and use "torchscript"
// (the recipe is in rewards/torchscript.h).
#include "core/error.h"
#include "rewards/aesthetic.h"
#include "rewards/analytic.h"
#include "rewards/clip_score.h"
#include "rewards/contrast.h"
#include "rewards/hps.h"
#include "rewards/jpeg.h"
#include "rewards/registry.h"
#include "rewards/torchscript.h"

namespace nablagfn {

RewardRegistry& reward_registry() {
  static RewardRegistry registry = [] {
    RewardRegistry r("reward");
    r.add("linear", [](const RewardConfig& c, c10::Device) { return std::make_unique<LinearReward>(c.linear.coef); });
    r.add("quadratic", [](const RewardConfig& c, c10::Device) {
      require(c.quadratic.scale > 0, "reward.quadratic.scale must be > 0", "it is s in r(x) = -||x - c||^2 / s");
      return std::make_unique<QuadraticReward>(c.quadratic.center, c.quadratic.scale);
    });
    r.add("contrast", [](const RewardConfig&, c10::Device) { return std::make_unique<ContrastReward>(); });
    r.add("aesthetic", [](const RewardConfig& c, c10::Device d) { return make_aesthetic_reward(c, d); });
    // PickScore and CLIP score are one formula, exp(logit_scale)·cos, on different CLIPModel weights.
    for (const char* name : {"pickscore", "clip_score"})
      r.add(name, [name](const RewardConfig& c, c10::Device d) { return make_clip_score_reward(name, c, d); });
    r.add("hps", [](const RewardConfig& c, c10::Device d) { return make_hps_reward(c, d); });
    r.add("torchscript", [](const RewardConfig& c, c10::Device d) { return make_torchscript_reward(c, d); });
    // Without libjpeg the name stays known and explains what the build lacks (jpeg.h).
    r.add("jpeg_compressibility",
          [](const RewardConfig& c, c10::Device d) { return make_jpeg_compressibility_reward(c, d); });
    return r;
  }();
  return registry;
}

}  // namespace nablagfn
