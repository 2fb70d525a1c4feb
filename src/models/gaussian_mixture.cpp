#include "models/gaussian_mixture.h"

#include <ATen/ATen.h>

#include <cmath>

namespace nablagfn {

GaussianMixture::GaussianMixture(const at::Tensor& means, const at::Tensor& stds, const at::Tensor& weights)
    : means_(means.to(at::kDouble).cpu()), stds_(stds.to(at::kDouble).cpu()), weights_(weights.to(at::kDouble).cpu()) {
  TORCH_CHECK(means_.dim() == 2 && stds_.dim() == 1 && weights_.dim() == 1 && stds_.size(0) == means_.size(0) &&
                  weights_.size(0) == means_.size(0),
              "GaussianMixture: means [M, D], stds [M], weights [M]");
  weights_ = weights_ / weights_.sum();
}

GaussianMixture GaussianMixture::ring(int n_modes, double radius, double std) {
  at::Tensor angle = at::arange(n_modes, at::kDouble) * (2 * M_PI / n_modes);  // [M]
  at::Tensor means = at::stack({radius * at::cos(angle), radius * at::sin(angle)}, 1);  // [M, 2]
  return GaussianMixture(means, at::full({n_modes}, std, at::kDouble), at::ones({n_modes}, at::kDouble));
}

at::Tensor GaussianMixture::eps(const at::Tensor& x, const at::Tensor& alpha_bar) const {
  const auto opts = x.options();
  at::Tensor mu = means_.to(opts);                                   // [M, D]
  at::Tensor var0 = stds_.to(opts).pow(2);                           // [M]
  at::Tensor ab = alpha_bar.to(opts).view({-1, 1});                  // [B, 1]
  at::Tensor v = ab * var0.view({1, -1}) + (1 - ab);                 // [B, M]
  at::Tensor centre = at::sqrt(ab).unsqueeze(2) * mu.unsqueeze(0);   // [B, M, D]
  at::Tensor diff = x.unsqueeze(1) - centre;                         // [B, M, D]
  const double D = static_cast<double>(dim());
  // log π_i + log N(x; √ᾱ μ_i, v_i I)
  at::Tensor logits = at::log(weights_.to(opts)).view({1, -1}) - 0.5 * diff.pow(2).sum(2) / v - 0.5 * D * at::log(v);
  at::Tensor w = at::softmax(logits, 1);                              // [B, M]
  at::Tensor score = -(w.unsqueeze(2) * diff / v.unsqueeze(2)).sum(1);  // [B, M, D] -> [B, D]
  return -at::sqrt(1 - ab) * score;
}

at::Tensor GaussianMixture::log_density(const at::Tensor& x) const {
  at::Tensor xd = x.to(at::kDouble).cpu();
  at::Tensor var = stds_.pow(2);                                     // [M]
  at::Tensor diff = xd.unsqueeze(1) - means_.unsqueeze(0);           // [B, M, D]
  const double D = static_cast<double>(dim());
  at::Tensor logits = at::log(weights_).view({1, -1}) - 0.5 * diff.pow(2).sum(2) / var.view({1, -1}) -
                      0.5 * D * at::log(2 * M_PI * var).view({1, -1});
  return at::logsumexp(logits, 1);  // [B]
}

at::Tensor GaussianMixture::sample(int64_t n, at::Generator gen) const {
  at::Tensor idx = at::multinomial(weights_, n, /*replacement=*/true, gen);          // [n]
  at::Tensor z = at::randn({n, dim()}, gen, at::TensorOptions().dtype(at::kDouble));  // [n, D]
  return means_.index_select(0, idx) + stds_.index_select(0, idx).unsqueeze(1) * z;
}

at::Tensor GaussianMixture::nearest_component(const at::Tensor& x) const {
  at::Tensor d = (x.to(at::kDouble).cpu().unsqueeze(1) - means_.unsqueeze(0)).pow(2).sum(2);  // [B, M]
  return d.argmin(1);
}

GaussianMixture GaussianMixture::tilt_linear(const std::vector<double>& a, double beta) const {
  TORCH_CHECK(static_cast<int>(a.size()) == dim(), "tilt_linear: coefficient has ", a.size(), " entries, mixture is ",
              dim(), "-D");
  at::Tensor av = at::tensor(a, at::kDouble).view({1, -1});  // [1, D]
  at::Tensor var = stds_.pow(2);                             // [M]
  at::Tensor means = means_ + beta * var.view({-1, 1}) * av;
  at::Tensor logw = at::log(weights_) + beta * (means_ * av).sum(1) + 0.5 * beta * beta * var * av.pow(2).sum();
  return GaussianMixture(means, stds_, at::softmax(logw, 0));
}

GaussianMixture GaussianMixture::tilt_quadratic(const std::vector<double>& c, double s, double beta) const {
  TORCH_CHECK(static_cast<int>(c.size()) == dim(), "tilt_quadratic: centre has ", c.size(), " entries, mixture is ",
              dim(), "-D");
  at::Tensor cv = at::tensor(c, at::kDouble).view({1, -1});  // [1, D]
  at::Tensor var = stds_.pow(2);                             // [M]
  if (beta == 0.0) return *this;
  // exp(−β‖x−c‖²/s) is an unnormalised Gaussian in x with variance s/(2β).
  const double var_r = s / (2 * beta);
  at::Tensor var_new = 1.0 / (1.0 / var + 1.0 / var_r);                        // [M]
  at::Tensor means = var_new.view({-1, 1}) * (means_ / var.view({-1, 1}) + cv / var_r);
  const double D = static_cast<double>(dim());
  at::Tensor v_sum = var + var_r;                                              // [M]
  at::Tensor logw = at::log(weights_) - 0.5 * (means_ - cv).pow(2).sum(1) / v_sum - 0.5 * D * at::log(v_sum);
  return GaussianMixture(means, at::sqrt(var_new), at::softmax(logw, 0));
}

}  // namespace nablagfn
