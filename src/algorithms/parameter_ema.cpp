#include "algorithms/parameter_ema.h"

#include <ATen/ATen.h>
#include <ATen/core/grad_mode.h>

namespace nablagfn {

namespace {
std::vector<at::Tensor> clones(const std::vector<at::Tensor>& params) {
  std::vector<at::Tensor> out;
  for (const auto& p : params) out.push_back(p.detach().clone());
  return out;
}
}  // namespace

ParameterEMA::ParameterEMA(std::vector<at::Tensor> params, std::vector<at::Tensor> shadow, double decay)
    : params_(std::move(params)), shadow_(std::move(shadow)), decay_(decay) {
  TORCH_CHECK(decay_ >= 0 && decay_ < 1, "ParameterEMA: decay must be in [0, 1), got ", decay_);
  TORCH_CHECK(params_.size() == shadow_.size(), "ParameterEMA: ", params_.size(), " parameters but ", shadow_.size(),
              " shadow tensors");
  for (size_t i = 0; i < params_.size(); ++i)
    TORCH_CHECK(params_[i].sizes() == shadow_[i].sizes() && params_[i].scalar_type() == shadow_[i].scalar_type(),
                "ParameterEMA: shadow tensor ", i, " is ", shadow_[i].sizes(), " ", shadow_[i].scalar_type(),
                ", its parameter ", params_[i].sizes(), " ", params_[i].scalar_type());
  reset();
}

ParameterEMA::ParameterEMA(std::vector<at::Tensor> params, double decay)
    : ParameterEMA(params, clones(params), decay) {}

void ParameterEMA::update() {
  at::NoGradGuard no_grad;
  for (size_t i = 0; i < params_.size(); ++i) shadow_[i].mul_(decay_).add_(params_[i].detach(), 1.0 - decay_);
}

void ParameterEMA::reset() {
  at::NoGradGuard no_grad;
  for (size_t i = 0; i < params_.size(); ++i) shadow_[i].copy_(params_[i].detach());
}

void ParameterEMA::copy_to_params() {
  at::NoGradGuard no_grad;
  for (size_t i = 0; i < params_.size(); ++i) params_[i].copy_(shadow_[i]);
}

}  // namespace nablagfn
