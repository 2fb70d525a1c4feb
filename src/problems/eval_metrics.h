#pragma once
// What every evaluator adds to its rows (issue 11): diversity and prior_fid of the fixed evaluation samples
// (metrics/sample_metrics.h) on Problem::features, against the pretrained model's samples from the same
// seeds. The reference is drawn once, with the adapter off, on the first evaluation and kept in memory
// (for the run of `train`, or for all checkpoints of a run in `eval`).
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include <ATen/core/Tensor.h>

#include "algorithms/problem.h"

namespace nablagfn {

// Sample i of an evaluation set of n belongs to prompt i mod n_prompts (the evaluators cycle the prompts).
std::vector<int64_t> cycled_prompt_index(int64_t n, int64_t n_prompts);

class PriorReference {
 public:
  // diversity and prior_fid of the features [n, F] of the current samples; draw_reference(Adapter::Off)
  // must return the features [n, F] of the same seeds drawn from the pretrained model, and is called only
  // while no reference is kept. Empty (with one log line) when the problem has no features or no prompt
  // has 2 samples.
  std::map<std::string, double> compare(const Problem& problem, const at::Tensor& features,
                                        const std::vector<int64_t>& prompt_index,
                                        const std::function<at::Tensor(Adapter)>& draw_reference);

 private:
  at::Tensor reference_;  // [n, F]
  bool told_ = false;
};

// The image embedding of reward as features (the CLIP tower of aesthetic, pickscore / clip_score, hps),
// sharing the reward's weights; null when the reward has none.
std::shared_ptr<FeatureExtractor> reward_embedding_features(const std::shared_ptr<Reward>& reward);

// problem.features applied to decoded samples [b, ...] -> [b, F] float32 on the CPU; undefined when the
// problem has none.
at::Tensor features_of(const Problem& problem, const at::Tensor& decoded);

}  // namespace nablagfn
