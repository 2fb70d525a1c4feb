#pragma once
// Training curves from a run's metrics.jsonl: plots/reward.png (reward_mean ± reward_std, and
// reward_eval when present), plots/loss.png (the loss terms, log scale) and one plot per other
// evaluation metric (tv_modes, diversity, ...), all against the epoch.
#include <string>

namespace nablagfn {

void plot_training_curves(const std::string& metrics_path, const std::string& plots_dir);

}  // namespace nablagfn
