// Diversity and prior drift of evaluation samples against the pretrained reference; see eval_metrics.h.
#include "problems/eval_metrics.h"

#include <ATen/ATen.h>
#include <ATen/core/grad_mode.h>

#include <algorithm>

#include "core/log.h"
#include "metrics/sample_metrics.h"

namespace nablagfn {

std::vector<int64_t> cycled_prompt_index(int64_t n, int64_t n_prompts) {
  std::vector<int64_t> index(n);
  for (int64_t i = 0; i < n; ++i) index[i] = i % n_prompts;
  return index;
}

namespace {
class RewardEmbeddingFeatures : public FeatureExtractor {
 public:
  RewardEmbeddingFeatures(std::shared_ptr<ImageEmbedding> embedding, std::string reward)
      : embedding_(std::move(embedding)), reward_(std::move(reward)) {}
  std::string name() const override { return "image embedding of reward " + reward_; }
  at::Tensor features(const at::Tensor& images) override {
    at::NoGradGuard no_grad;
    return embedding_->image_embedding(images).to(at::kFloat).cpu();  // [B, E]
  }

 private:
  std::shared_ptr<ImageEmbedding> embedding_;
  std::string reward_;
};
}  // namespace

std::shared_ptr<FeatureExtractor> reward_embedding_features(const std::shared_ptr<Reward>& reward) {
  auto embedding = std::dynamic_pointer_cast<ImageEmbedding>(reward);
  if (!embedding) return nullptr;
  return std::make_shared<RewardEmbeddingFeatures>(std::move(embedding), reward->name());
}

at::Tensor features_of(const Problem& problem, const at::Tensor& decoded) {
  if (!problem.features) return {};
  at::NoGradGuard no_grad;
  return problem.features->features(decoded.to(problem.device));  // a cached sample set may be kept on the CPU
}

std::map<std::string, double> PriorReference::compare(const Problem& problem, const at::Tensor& features,
                                                      const std::vector<int64_t>& prompt_index,
                                                      const std::function<at::Tensor(Adapter)>& draw_reference) {
  if (!problem.features || !features.defined()) {
    if (!told_)
      NABLAGFN_INFO("no diversity / prior_fid: reward '%s' has no image embedding to measure them with",
                    problem.reward ? problem.reward->name().c_str() : "none");
    told_ = true;
    return {};
  }
  std::map<int64_t, int> per_prompt;
  int most = 0;
  for (int64_t p : prompt_index) most = std::max(most, ++per_prompt[p]);
  if (most < 2) {
    if (!told_)
      NABLAGFN_INFO("no diversity / prior_fid: %zu evaluation samples give no prompt 2 samples; set "
                    "eval.n_samples to at least twice the number of prompts", prompt_index.size());
    told_ = true;
    return {};
  }
  if (!reference_.defined()) reference_ = draw_reference(Adapter::Off);
  return diversity_and_prior_drift(features, reference_, prompt_index);
}

}  // namespace nablagfn
