#pragma once
// The forward-looking ("guessed") part of the residual log-flow (spec §3.3):
//   log F̃_guess(x) = β·γ(x)·r(x̂_θ(x)),   ∇ = β·γ(x)·∇_x r(x̂_θ(x)),
// with x̂_θ(x) = (x − √(1−ᾱ)·ε^cfg_θ(x))/√ᾱ (ε_# instead with algorithm.guess_model = pretrained) at x's own noise level (x itself for the final state) and
// γ = ᾱ (gamma_mode "squared"), √ᾱ ("sqrt") or 1 ("none"). The gradient is a full chain rule through the reward,
// the decoder, the x̂ formula and the ε Jacobian, taken w.r.t. the state only.
#include <string>
#include <vector>

#include <ATen/core/Tensor.h>

#include "algorithms/problem.h"
#include "config/modes.h"

namespace nablagfn {

// γ per row for states at step indices k [B] (k = K is the final state): [B] float64 on k's device.
at::Tensor flow_gamma(const Scheduler& scheduler, const at::Tensor& k, GammaMode gamma_mode);

// β·γ·∇_x r(x̂(x)) for x [B, S...] a leaf that requires grad, at step indices k [B]. eps is the guided
// policy ε at x carrying a graph to x, or undefined when every row is a final state (x̂ = x).
// Returns a detached tensor [B, S...] in x's dtype, at least float32 (nabla_db's leaves carry
// algorithm.score_precision); the reward values [B] go to *reward when given.
at::Tensor predicted_reward_grad(Problem& problem, const at::Tensor& x, const at::Tensor& eps, const at::Tensor& k,
                                 const std::vector<std::string>& prompts, double beta, GammaMode gamma_mode,
                                 bool retain_graph, at::Tensor* reward = nullptr);

// ∇_x̂ r(x̂) of the decoded x̂ [N, S...] (values only: no graph to x̂ is kept or needed), decoded and scored
// chunk rows at a time (0: all N at once), so that only one chunk's decoder backward is in memory.
// Returns [N, S...] in x̂'s dtype; the rewards [N] go to *reward when given.
at::Tensor reward_grad_chunked(Problem& problem, const at::Tensor& x0_hat, const std::vector<std::string>& prompts,
                               int64_t chunk, at::Tensor* reward = nullptr);

// Guided ε at states x (step indices k, conditioning c) with the adapter on (the policy) or off (the
// pretrained model), or undefined when all rows are final states.
at::Tensor guided_eps_at(Problem& problem, const at::Tensor& x, const at::Tensor& k, const Conditioning& c,
                         Adapter adapter);

}  // namespace nablagfn
