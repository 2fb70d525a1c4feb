#pragma once
// Embeddings of evaluation samples for the sample-set metrics (metrics/sample_metrics.h, issue 11): a
// problem's Problem::features maps decoded samples to feature vectors. The toy uses its 2-D points
// themselves (FlatFeatures); Stable Diffusion the image embedding of the reward's CLIP tower; the
// Fashion-MNIST default its classifier's penultimate features.
#include <string>

#include <ATen/core/Tensor.h>

namespace nablagfn {

class FeatureExtractor {
 public:
  virtual ~FeatureExtractor() = default;
  // What the features are, for logs and reports (e.g. "points", "clip image embedding").
  virtual std::string name() const = 0;
  // Decoded samples [N, ...] (images [N, C, H, W] in [0, 1], or toy states [N, D]) -> [N, F] float32 on the
  // CPU, no graph.
  virtual at::Tensor features(const at::Tensor& samples) = 0;
};

// The samples themselves, flattened: [N, ...] -> [N, prod(...)].
class FlatFeatures : public FeatureExtractor {
 public:
  std::string name() const override { return "points"; }
  at::Tensor features(const at::Tensor& samples) override;
};

}  // namespace nablagfn
