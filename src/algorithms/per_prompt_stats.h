#pragma once
// Per-prompt reward normalisation of DDPO (spec §7.1): port of ddpo-pytorch
// `ddpo_pytorch/stat_tracking.py` (PerPromptStatTracker). Each prompt keeps its last buffer_size rewards;
// a reward's advantage is (r − mean)/(std + 1e-6) over its prompt's buffer once that holds min_count
// rewards, over the whole update() batch before. std is the population std (numpy's default).
// What changed: update() also remembers each prompt's (mean, std) so a micro-batch's advantages can be
// recomputed from its rows' prompts and rewards (advantage()); statistics accumulate in float64.
#include <deque>
#include <map>
#include <string>
#include <utility>
#include <vector>

namespace nablagfn {

class PerPromptStatTracker {
 public:
  struct Stats {
    double mean = 0.0;
    double std = 0.0;  // population std, without the 1e-6
    int count = 0;
  };

  PerPromptStatTracker(int buffer_size, int min_count);
  // Appends rewards[i] to prompts[i]'s buffer and returns the advantages (same order as the inputs).
  std::vector<double> update(const std::vector<std::string>& prompts, const std::vector<double>& rewards);
  // (reward − mean)/std with the normaliser the last update() used for prompt; Error if it had no such prompt.
  double advantage(const std::string& prompt, double reward) const;
  // Mean, std and count of every prompt's buffer (get_stats).
  std::map<std::string, Stats> stats() const;
  void clear();
  // Every prompt's buffer (oldest first), to checkpoint and restore a run's statistics.
  const std::map<std::string, std::deque<double>>& buffers() const { return buffers_; }
  void set_buffers(std::map<std::string, std::deque<double>> buffers) { buffers_ = std::move(buffers); }

 private:
  int buffer_size_;
  int min_count_;
  std::map<std::string, std::deque<double>> buffers_;
  std::map<std::string, std::pair<double, double>> last_normaliser_;  // prompt -> (mean, std + 1e-6)
};

}  // namespace nablagfn
