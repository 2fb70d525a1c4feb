#include "problems/component_names.h"

#include "algorithms/algorithm.h"
#include "core/error.h"
#include "core/strings.h"
#include "problems/factory.h"
#include "rewards/registry.h"
#include "schedulers/registry.h"

namespace nablagfn {

void check_component_names(const Config& config) {
  auto check = [](const std::string& key, const std::string& name, const std::vector<std::string>& names) {
    for (const auto& n : names)
      if (n == name) return;
    throw Error("config key '" + key + "' must be one of " + join(names, ", ") + ", got '" + name + "'",
                "see `nablagfn config --defaults` for what each means");
  };
  check("model.kind", config.model.kind, problem_registry().names());
  check("sample.scheduler", config.sample.scheduler, scheduler_registry().names());
  check("algorithm.name", config.algorithm.name, algorithm_registry().names());
  check("reward.name", config.reward.name, reward_registry().names());
}

}  // namespace nablagfn
