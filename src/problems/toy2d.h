#pragma once
// The 2-D problem whose answer is known (issue 2): prior = a ring of equal Gaussians whose exact noised ε
// is the pretrained denoiser; policy = that ε + a zero-initialised MLP residual; reward linear or
// quadratic; the tilted target p·exp(βr) is again a Gaussian mixture with closed-form weights. The MDP
// is SD's: SD-1.5 schedule, K-step DDIM-η, leading spacing.
#include <memory>

#include "algorithms/problem.h"
#include "algorithms/trainer.h"
#include "config/config.h"
#include "models/gaussian_mixture.h"
#include "problems/eval_metrics.h"

namespace nablagfn {

struct Toy2D {
  Problem problem;
  GaussianMixture prior;
  GaussianMixture target;  // p·exp(β r), exact
};

// Builds the problem from config (model.toy_*, sample.*, reward.name linear | quadratic, algorithm.beta).
// dtype overrides model.dtype (tests use float64).
Toy2D make_toy2d(const Config& config, at::ScalarType dtype);
at::ScalarType toy_dtype(const Config& config);

// Evaluation: draws eval.n_samples from the policy in chunks of sample.batch_size with fixed seeds
// (problems/eval_shards.h: shared among the processes of a data-parallel run), reports tv_modes (total variation
// of per-mode masses to the exact target's), reward_eval, mass_i, diversity and prior_fid of the points
// (problems/eval_metrics.h); for the pretrained model (epoch -1) plots/samples_pretrained.png and
// plots/mode_masses_pretrained.png; at the end final_samples.safetensors and plots (samples over the
// target density, masses beside the exact ones).
class Toy2DEvaluator : public Evaluator {
 public:
  Toy2DEvaluator(const Toy2D& toy, const Config& config) : toy_(toy), config_(config) {}
  std::map<std::string, double> evaluate(Problem& problem, const RunDir& run, int epoch, bool final) override;
  std::vector<std::pair<std::string, std::string>> images() const override { return images_; }
  bool share_with(Collectives* comm) override {
    comm_ = comm;
    return true;
  }

 private:
  at::Tensor draw(Problem& problem, Adapter adapter) const;  // the fixed evaluation samples [n, 2] on the CPU
  const Toy2D& toy_;
  const Config& config_;
  Collectives* comm_ = nullptr;
  PriorReference reference_;
  std::vector<std::pair<std::string, std::string>> images_;
};

}  // namespace nablagfn
