#pragma once
// Rewards by config name (reward.name). The built-ins are listed in rewards/builtin.cpp.
#include <memory>

#include <c10/core/Device.h>

#include "config/config.h"
#include "core/registry.h"
#include "rewards/reward.h"

namespace nablagfn {

using RewardRegistry = Registry<Reward, const RewardConfig&, c10::Device>;
RewardRegistry& reward_registry();

}  // namespace nablagfn
