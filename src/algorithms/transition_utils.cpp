#include "algorithms/transition_utils.h"

#include <ATen/ATen.h>

#include <cmath>

#include "core/error.h"

namespace nablagfn {

TransitionRows transition_rows(const TrajectoryBatch& mb, const at::Tensor& k) {
  at::Tensor kc = k.to(at::kCPU).to(at::kLong);
  at::Tensor rows = at::arange(mb.size(), at::kLong);
  auto pick = [&](const at::Tensor& all, const at::Tensor& step) {
    if (!all.defined()) return at::Tensor();
    const at::Device d = all.device();
    return all.index({rows.to(d), step.to(d)});  // [B, K(+1), S...] -> [B, S...]
  };
  TransitionRows out;
  out.x = pick(mb.x, kc);
  out.x_next = pick(mb.x, kc + 1);
  out.eps_old = pick(mb.eps_old, kc);
  out.x0_prev = pick(mb.x0_prev, kc);
  out.log_prob = pick(mb.log_prob, kc);
  return out;
}

LossTerms accumulate_transitions(const at::Tensor& idx, const StepInfo& info, const TrajectoryBatch& mb, double scale,
                                 const std::function<TransitionLoss(const at::Tensor& k)>& body) {
  const int64_t J = idx.size(1);
  LossTerms sums;
  for (int64_t j = 0; j < J; ++j) {
    TransitionLoss t = body(idx.select(1, j));  // [B] step indices
    t.logged.emplace_back("loss", t.loss.item<double>());
    for (const auto& [name, v] : t.logged) {
      check_finite_term(v, name, info, mb);
      sums[name] += v / static_cast<double>(J);
    }
    (t.loss * (scale / static_cast<double>(J))).backward();
  }
  return sums;
}

void check_finite_term(double v, const std::string& term, const StepInfo& info, const TrajectoryBatch& mb) {
  if (std::isfinite(v)) return;
  std::string prompt = mb.prompts.empty() ? "" : mb.prompts.front();
  throw Error("non-finite loss term " + term + " (" + std::to_string(v) + ") at epoch " + std::to_string(info.epoch) +
                  ", update " + std::to_string(info.update) + (prompt.empty() ? "" : ", prompt '" + prompt + "'"),
              "lower train.lr, raise algorithm.output_reg, or lower algorithm.beta");
}

}  // namespace nablagfn
