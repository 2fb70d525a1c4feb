#include "models/toy_models.h"

#include "models/state_dict.h"

namespace nablagfn {

namespace {
std::vector<std::pair<std::string, at::Tensor>> named_parameters_of(const torch::nn::Module& m) {
  std::vector<std::pair<std::string, at::Tensor>> out;
  for (const auto& p : m.named_parameters(true)) out.emplace_back(p.key(), p.value());
  return out;
}
}  // namespace

ToyDenoiser::ToyDenoiser(GaussianMixture prior, const NoiseSchedule& schedule, const TimeMLPOptions& residual,
                         at::ScalarType dtype)
    : prior_(std::move(prior)),
      alphas_cumprod_(at::tensor(schedule.alphas_cumprod(), at::kDouble)),
      residual_(residual) {
  residual_->to(dtype);
}

at::Tensor ToyDenoiser::eps(const at::Tensor& x, const at::Tensor& t, const at::Tensor&, Adapter adapter) {
  at::Tensor ab = alphas_cumprod_.index_select(0, t.to(at::kCPU).to(at::kLong)).to(x.device());  // [B]
  at::Tensor e = prior_.eps(x, ab);                                                                // [B, D]
  if (adapter == Adapter::On) e = e + residual_->forward(x, t);
  return e;
}

std::vector<at::Tensor> ToyDenoiser::trainable_parameters() { return residual_->parameters(); }

std::vector<std::pair<std::string, at::Tensor>> ToyDenoiser::trainable_state() {
  auto named = named_parameters_of(*residual_);
  for (auto& kv : named) kv.first = "residual." + kv.first;
  return named;
}

void ToyDenoiser::load_trainable_state(const TensorMap& state) {
  load_state_dict(*residual_, state, "toy policy checkpoint", LoadOptions{"residual.", {}, ""});
}

MLPFlowNet::MLPFlowNet(const TimeMLPOptions& options, at::ScalarType dtype) : net_(options) { net_->to(dtype); }

at::Tensor MLPFlowNet::forward(const at::Tensor& x, const at::Tensor& t, const at::Tensor&) {
  return net_->forward(x, t);
}

std::vector<at::Tensor> MLPFlowNet::parameters() { return net_->parameters(); }

std::vector<std::pair<std::string, at::Tensor>> MLPFlowNet::named_state() { return named_parameters_of(*net_); }

void MLPFlowNet::load_state(const TensorMap& state) { load_state_dict(*net_, state, "flow network checkpoint"); }

}  // namespace nablagfn
