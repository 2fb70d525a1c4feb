#pragma once
// Log-probabilities and scores of one Gaussian policy step x' ~ N(μ(x), σ² I) (spec §2.3).
// Notation: x = x_k (current state), x_next = x_{k+1}, mean = μ(x_k) (may carry a graph to x_k), std [B].
#include <ATen/core/Tensor.h>

namespace nablagfn {

// log N(x_next; mean, std²) averaged (not summed) over the non-batch elements, as ddpo-pytorch and the
// DAG code do. [B]. Carries mean's graph. std must be > 0.
at::Tensor gaussian_log_prob(const at::Tensor& x_next, const at::Tensor& mean, const at::Tensor& std);

// Forward score ∇_{x_next} log P(x_next | x) = −(x_next − mean)/std², [B, ...]; carries mean's graph.
at::Tensor forward_score(const at::Tensor& x_next, const at::Tensor& mean, const at::Tensor& std);

// Reverse score ∇_x log P(x_next | x) = J_μ(x)ᵀ (x_next − mean)/std², [B, ...], by one vector-Jacobian
// product through mean's graph to x (x must require grad). No graph is created (create_graph = false);
// retain_graph keeps mean's graph alive for later backward passes.
at::Tensor reverse_score(const at::Tensor& x, const at::Tensor& mean, const at::Tensor& x_next, const at::Tensor& std,
                         bool retain_graph);

// J_μ(x)ᵀ v for a constant v shaped like mean, [B, ...] (the product reverse_score takes), same graph rules.
at::Tensor mean_vjp(const at::Tensor& x, const at::Tensor& mean, const at::Tensor& v, bool retain_graph);

}  // namespace nablagfn
