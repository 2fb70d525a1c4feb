#include "models/time_mlp.h"

#include <cmath>

namespace nablagfn {

TimeMLPImpl::TimeMLPImpl(const TimeMLPOptions& options) : options_(options) {
  TORCH_CHECK(options.time_dim % 2 == 0 && options.n_layers >= 1, "TimeMLP: even time_dim and >= 1 layer");
  layers_ = register_module("layers", torch::nn::ModuleList());
  int width = options.in_dim + options.time_dim;
  for (int i = 0; i < options.n_layers; ++i) {
    layers_->push_back(torch::nn::Linear(width, options.hidden));
    width = options.hidden;
  }
  torch::nn::Linear out(width, options.out_dim);
  if (options.zero_output) {
    torch::NoGradGuard no_grad;
    out->weight.zero_();
    out->bias.zero_();
  }
  layers_->push_back(out);
}

torch::Tensor TimeMLPImpl::forward(const torch::Tensor& x, const torch::Tensor& t) {
  const int half = options_.time_dim / 2;
  auto opts = x.options();
  torch::Tensor freqs = torch::exp(torch::arange(half, opts) * (-std::log(10000.0) / half));  // [half]
  torch::Tensor angle = t.to(opts).view({-1, 1}) * freqs.view({1, -1});                       // [B, half]
  torch::Tensor h = torch::cat({x, torch::sin(angle), torch::cos(angle)}, 1);                // [B, in + time_dim]
  const size_t n = layers_->size();
  for (size_t i = 0; i < n; ++i) {
    h = layers_[i]->as<torch::nn::Linear>()->forward(h);
    if (i + 1 < n) h = torch::silu(h);
  }
  return h;  // [B, out_dim]
}

}  // namespace nablagfn
