// Log-prob and scores of one Gaussian policy step (spec §2.3). The log-prob follows ddpo-pytorch's
// `ddim_step_with_logprob` (diffusers_patch/ddim_with_logprob.py): x_next detached, per-element density
// averaged over the non-batch dims. The reverse score is the VJP the release takes by differentiating
// Σ(x_next − μ)² (nabla-gfn inference_step.py), written directly as J_μᵀ(x_next − μ)/σ².
// std = 0 (a deterministic step) makes all three infinite or NaN; callers check std > 0.
#include "schedulers/gaussian_policy.h"

#include <ATen/ATen.h>
#include <torch/csrc/autograd/autograd.h>

#include <cmath>

namespace nablagfn {

namespace gaussian_policy_detail {
// std [B] as [B, 1, ...] on like's device, in like's dtype.
at::Tensor per_row(const at::Tensor& std, const at::Tensor& like) {
  std::vector<int64_t> shape(like.dim(), 1);
  shape[0] = like.size(0);
  return std.to(like.device(), like.scalar_type()).view(shape);  // [B] -> [B, 1, ...]
}
}  // namespace gaussian_policy_detail

at::Tensor gaussian_log_prob(const at::Tensor& x_next, const at::Tensor& mean, const at::Tensor& std) {
  at::Tensor s = gaussian_policy_detail::per_row(std, mean);
  at::Tensor lp = -(x_next.detach() - mean).pow(2) / (2 * s * s) - at::log(s) - 0.5 * std::log(2 * M_PI);
  return lp.flatten(1).mean(1);  // [B, ...] -> [B]
}

at::Tensor forward_score(const at::Tensor& x_next, const at::Tensor& mean, const at::Tensor& std) {
  at::Tensor s = gaussian_policy_detail::per_row(std, mean);
  return -(x_next.detach() - mean) / (s * s);
}

at::Tensor reverse_score(const at::Tensor& x, const at::Tensor& mean, const at::Tensor& x_next, const at::Tensor& std,
                         bool retain_graph) {
  TORCH_CHECK(x.requires_grad(), "reverse_score: x must require grad");
  at::Tensor s = gaussian_policy_detail::per_row(std, mean);
  // ∇_x log N(x'; μ(x), σ²) = J_μᵀ (x' − μ)/σ²: the VJP of μ with the constant vector (x' − μ)/σ².
  return mean_vjp(x, mean, (x_next.detach() - mean) / (s * s), retain_graph);
}

at::Tensor mean_vjp(const at::Tensor& x, const at::Tensor& mean, const at::Tensor& v, bool retain_graph) {
  TORCH_CHECK(x.requires_grad(), "mean_vjp: x must require grad");
  auto grads = torch::autograd::grad({mean}, {x}, {v.detach().to(mean.scalar_type())}, retain_graph,
                                     /*create_graph=*/false);
  return grads[0];
}

}  // namespace nablagfn
