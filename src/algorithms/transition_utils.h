#pragma once
// Gathering one transition per trajectory out of a TrajectoryBatch, and the finite-loss check every
// algorithm runs on its terms.
#include <functional>
#include <string>
#include <utility>
#include <vector>

#include <ATen/core/Tensor.h>

#include "algorithms/algorithm.h"

namespace nablagfn {

struct TransitionRows {
  at::Tensor x;        // [B, S...] x_{k_b}
  at::Tensor x_next;   // [B, S...] x_{k_b + 1}
  at::Tensor eps_old;  // [B, S...] stored ε at step k_b (undefined if not stored)
  at::Tensor x0_prev;  // [B, S...] stored previous x̂0 (second-order samplers), else undefined
  at::Tensor log_prob; // [B] stored log-prob of step k_b (undefined if not stored)
};

// k [B] int64 (CPU) step index per trajectory.
TransitionRows transition_rows(const TrajectoryBatch& mb, const at::Tensor& k);

// The loss of one batch of transitions and the extra values to log beside "loss".
struct TransitionLoss {
  at::Tensor loss;  // scalar with the graph to the trained parameters
  std::vector<std::pair<std::string, double>> logged;
};

// The loop every transition-based algorithm runs on a micro-batch: for each column k of idx [B, J]
// (one step index per trajectory), body(k) computes the loss; each logged value and the loss are checked
// finite and averaged over the J columns, and loss × scale / J is backpropagated.
LossTerms accumulate_transitions(const at::Tensor& idx, const StepInfo& info, const TrajectoryBatch& mb, double scale,
                                 const std::function<TransitionLoss(const at::Tensor& k)>& body);

// Throws Error naming the term, the epoch and the first prompt of the micro-batch when v is not finite.
void check_finite_term(double v, const std::string& term, const StepInfo& info, const TrajectoryBatch& mb);

}  // namespace nablagfn
