#include "metrics/mode_mass.h"

#include <ATen/ATen.h>

namespace nablagfn {

at::Tensor mode_masses(const at::Tensor& samples, const at::Tensor& means, const at::Tensor& stds, double off_stds) {
  at::Tensor s = samples.to(at::kDouble).cpu(), m = means.to(at::kDouble).cpu();
  const int64_t M = m.size(0);
  at::Tensor d2 = (s.unsqueeze(1) - m.unsqueeze(0)).pow(2).sum(2);              // [N, M, D] -> [N, M]
  at::Tensor radius2 = (off_stds * stds.to(at::kDouble).cpu()).pow(2);           // [M]
  at::Tensor off = d2.le(radius2.unsqueeze(0)).any(1).logical_not();            // [N]
  at::Tensor bin = at::where(off, at::full_like(d2.argmin(1), M), d2.argmin(1));  // [N] in [0, M]
  at::Tensor counts = at::bincount(bin, {}, M + 1).to(at::kDouble);              // [M + 1]
  return counts / std::max<int64_t>(s.size(0), 1);
}

at::Tensor with_off_bin(const at::Tensor& weights) {
  at::Tensor w = weights.to(at::kDouble).cpu();
  return at::cat({w, at::zeros({1}, w.options())});  // [M + 1]
}

double total_variation(const at::Tensor& p, const at::Tensor& q) {
  return 0.5 * (p.to(at::kDouble).cpu() - q.to(at::kDouble).cpu()).abs().sum().item<double>();
}

}  // namespace nablagfn
