#pragma once
// What changed between a run's config.resolved.json and the configuration it is resumed with. A resumed
// run must be the experiment it started as: a difference in a key that changes the experiment is an Error
// unless asked for (train --allow-config-change).
#include <string>
#include <vector>

#include "config/config.h"

namespace nablagfn {

// "group.key" of the keys that may differ on resume: where the run is written, on which device, how often it
// evaluates and saves. A key that changes nothing the run computes is added here.
const std::vector<std::string>& keys_free_on_resume();

// "key: old -> new" for every key (outside keys_free_on_resume()) whose value differs, in declaration order.
std::vector<std::string> experiment_differences(Config& before, Config& after);

// Loads run_config_path (the run's config.resolved.json) and compares it with config: Error listing the
// differences unless allow_change, which logs them as a warning instead.
void check_resume_config(Config& config, const std::string& run_config_path, bool allow_change);

}  // namespace nablagfn
