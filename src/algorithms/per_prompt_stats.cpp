#include "algorithms/per_prompt_stats.h"

#include <cmath>

#include "core/error.h"

namespace nablagfn {

namespace per_prompt_stats_detail {
// Mean and population std of values.
template <class Container>
std::pair<double, double> mean_std(const Container& values) {
  double sum = 0.0;
  for (double v : values) sum += v;
  const double mean = sum / static_cast<double>(values.size());
  double sq = 0.0;
  for (double v : values) sq += (v - mean) * (v - mean);
  return {mean, std::sqrt(sq / static_cast<double>(values.size()))};
}
}  // namespace per_prompt_stats_detail

PerPromptStatTracker::PerPromptStatTracker(int buffer_size, int min_count)
    : buffer_size_(buffer_size), min_count_(min_count) {
  require(buffer_size >= 1 && min_count >= 0 && min_count <= buffer_size,
          "DDPO per-prompt statistics need algorithm.ddpo.buffer_size >= 1 and 0 <= min_count <= buffer_size",
          "DDPO's aesthetic setting: buffer 32, min count 16");
}

std::vector<double> PerPromptStatTracker::update(const std::vector<std::string>& prompts,
                                                 const std::vector<double>& rewards) {
  require(prompts.size() == rewards.size() && !rewards.empty(),
          "per-prompt statistics need one prompt per reward (got " + std::to_string(prompts.size()) + " prompts, " +
              std::to_string(rewards.size()) + " rewards)",
          "pass the trajectories' prompts with their rewards");
  const auto batch = per_prompt_stats_detail::mean_std(rewards);
  // Group rows by prompt (np.unique order), extend each buffer, then normalise with the buffer or the batch.
  std::map<std::string, std::vector<size_t>> rows;
  for (size_t i = 0; i < prompts.size(); ++i) rows[prompts[i]].push_back(i);
  last_normaliser_.clear();
  std::vector<double> advantages(rewards.size());
  for (const auto& [prompt, idx] : rows) {
    std::deque<double>& buffer = buffers_[prompt];
    for (size_t i : idx) {
      buffer.push_back(rewards[i]);
      if (static_cast<int>(buffer.size()) > buffer_size_) buffer.pop_front();
    }
    const auto ms = static_cast<int>(buffer.size()) < min_count_ ? batch : per_prompt_stats_detail::mean_std(buffer);
    last_normaliser_[prompt] = {ms.first, ms.second + 1e-6};
    for (size_t i : idx) advantages[i] = (rewards[i] - ms.first) / (ms.second + 1e-6);
  }
  return advantages;
}

double PerPromptStatTracker::advantage(const std::string& prompt, double reward) const {
  auto it = last_normaliser_.find(prompt);
  require(it != last_normaliser_.end(), "no reward statistics for prompt '" + prompt + "' in this epoch",
          "advantages are only defined for the trajectories of the last update()");
  return (reward - it->second.first) / it->second.second;
}

std::map<std::string, PerPromptStatTracker::Stats> PerPromptStatTracker::stats() const {
  std::map<std::string, Stats> out;
  for (const auto& [prompt, buffer] : buffers_) {
    if (buffer.empty()) continue;
    const auto ms = per_prompt_stats_detail::mean_std(buffer);
    out[prompt] = Stats{ms.first, ms.second, static_cast<int>(buffer.size())};
  }
  return out;
}

void PerPromptStatTracker::clear() {
  buffers_.clear();
  last_normaliser_.clear();
}

}  // namespace nablagfn
