#pragma once
// An isotropic Gaussian mixture in D dimensions with everything the toy problem needs in closed form:
// the exact noise prediction of its DDPM-noised marginals (the "pretrained" denoiser), samples, the
// density, and its exact tilt by exp(β·r) for linear and quadratic rewards, which is again a mixture.
//
// Notation: component i has weight π_i, mean μ_i [D], std s_i. Noising x_τ = √ᾱ·x_0 + √(1−ᾱ)·n gives the
// marginal Σ_i π_i N(√ᾱ·μ_i, v_i I) with v_i = ᾱ·s_i² + 1 − ᾱ, whose score is
// ∇ log p_τ(x) = Σ_i w_i(x)·(√ᾱ·μ_i − x)/v_i (w = posterior responsibilities), and ε = −√(1−ᾱ)·∇ log p_τ.
#include <vector>

#include <ATen/core/Tensor.h>

namespace nablagfn {

class GaussianMixture {
 public:
  // means [M, D], stds [M], weights [M] (normalised here). Stored as float64.
  GaussianMixture(const at::Tensor& means, const at::Tensor& stds, const at::Tensor& weights);
  // M equal-weight components on a circle of the given radius: μ_i = r·(cos 2πi/M, sin 2πi/M).
  static GaussianMixture ring(int n_modes, double radius, double std);

  int n_components() const { return static_cast<int>(means_.size(0)); }
  int dim() const { return static_cast<int>(means_.size(1)); }
  const at::Tensor& means() const { return means_; }      // [M, D] float64
  const at::Tensor& stds() const { return stds_; }        // [M]
  const at::Tensor& weights() const { return weights_; }  // [M], sums to 1

  // Exact ε of the noised mixture: x [B, D] (any float dtype/device), alpha_bar [B] -> [B, D] in x's
  // dtype, differentiable in x.
  at::Tensor eps(const at::Tensor& x, const at::Tensor& alpha_bar) const;
  // log p(x) of the clean mixture, x [B, D] -> [B] float64.
  at::Tensor log_density(const at::Tensor& x) const;
  // n samples [n, D] float64.
  at::Tensor sample(int64_t n, at::Generator gen) const;
  // Index of the nearest mean for each point, [B] int64.
  at::Tensor nearest_component(const at::Tensor& x) const;

  // p(x)·exp(β·<a, x>) normalised: μ_i += β s_i² a, log π_i += β<a, μ_i> + β² s_i² ‖a‖²/2.
  GaussianMixture tilt_linear(const std::vector<double>& a, double beta) const;
  // p(x)·exp(−β‖x − c‖²/s) normalised: precision 1/s_i² + 2β/s per component, weights ∝ π_i N(μ_i; c, s_i² + s/(2β)).
  GaussianMixture tilt_quadratic(const std::vector<double>& c, double s, double beta) const;

 private:
  at::Tensor means_, stds_, weights_;
};

}  // namespace nablagfn
