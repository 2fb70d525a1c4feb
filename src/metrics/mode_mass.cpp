#include "metrics/mode_mass.h"

#include <ATen/ATen.h>

namespace nablagfn {

at::Tensor mode_masses(const at::Tensor& samples, const at::Tensor& means) {
  at::Tensor s = samples.to(at::kDouble).cpu(), m = means.to(at::kDouble).cpu();
  at::Tensor nearest = (s.unsqueeze(1) - m.unsqueeze(0)).pow(2).sum(2).argmin(1);  // [N, M, D] -> [N]
  at::Tensor counts = at::bincount(nearest, {}, m.size(0)).to(at::kDouble);         // [M]
  return counts / std::max<int64_t>(s.size(0), 1);
}

double total_variation(const at::Tensor& p, const at::Tensor& q) {
  return 0.5 * (p.to(at::kDouble).cpu() - q.to(at::kDouble).cpu()).abs().sum().item<double>();
}

}  // namespace nablagfn
