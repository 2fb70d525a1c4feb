#pragma once
// The components a config names (model.kind, sample.scheduler, algorithm.name, reward.name) are looked up
// in their registries once, when the config is read, so a typo fails before anything is loaded. Torch-free
// header, for the CLI.
#include "config/config.h"

namespace nablagfn {

// Error naming the key and the registered names when a name is not registered. Every command runs it
// after validate().
void check_component_names(const Config& config);

}  // namespace nablagfn
