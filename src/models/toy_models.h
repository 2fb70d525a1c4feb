#pragma once
// The toy problem's networks (issue 2, "a 2-D problem whose answer is known"):
//  - ToyDenoiser: the exact ε of the prior mixture (the "pretrained" model, no training needed) plus a
//    trainable TimeMLP residual whose output starts at zero; Adapter::Off drops the residual.
//  - MLPFlowNet: the flow network g_φ as a TimeMLP (no conditioning).
#include <memory>

#include "models/denoiser.h"
#include "models/flow_net.h"
#include "models/gaussian_mixture.h"
#include "models/time_mlp.h"
#include "schedulers/noise_schedule.h"

namespace nablagfn {

class ToyDenoiser : public Denoiser {
 public:
  ToyDenoiser(GaussianMixture prior, const NoiseSchedule& schedule, const TimeMLPOptions& residual,
              at::ScalarType dtype);
  at::Tensor eps(const at::Tensor& x, const at::Tensor& t, const at::Tensor& context, Adapter adapter) override;
  std::vector<at::Tensor> trainable_parameters() override;
  std::vector<std::pair<std::string, at::Tensor>> trainable_state() override;
  void load_trainable_state(const TensorMap& state) override;
  const GaussianMixture& prior() const { return prior_; }

 private:
  GaussianMixture prior_;
  at::Tensor alphas_cumprod_;  // [N] float64
  TimeMLP residual_;
};

class MLPFlowNet : public FlowNet {
 public:
  MLPFlowNet(const TimeMLPOptions& options, at::ScalarType dtype);
  at::Tensor forward(const at::Tensor& x, const at::Tensor& t, const at::Tensor& context) override;
  std::vector<at::Tensor> parameters() override;
  std::vector<std::pair<std::string, at::Tensor>> named_state() override;
  void load_state(const TensorMap& state) override;

 private:
  TimeMLP net_;
};

}  // namespace nablagfn
