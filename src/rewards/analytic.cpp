#include "rewards/analytic.h"

#include <ATen/ATen.h>

namespace nablagfn {

namespace {
at::Tensor as_row(const std::vector<double>& v, const at::Tensor& x, const char* what) {
  TORCH_CHECK(x.dim() == 2 && x.size(1) == static_cast<int64_t>(v.size()), what, " reward expects points [B, ",
              v.size(), "], got ", x.sizes());
  return at::tensor(v, at::kDouble).to(x.device(), x.scalar_type()).view({1, -1});  // [1, D]
}
}  // namespace

at::Tensor LinearReward::score(const at::Tensor& x, const std::vector<std::string>&) {
  return (x * as_row(coef_, x, "linear")).sum(1).to(at::promote_types(x.scalar_type(), at::kFloat));  // [B, D] -> [B]
}

at::Tensor QuadraticReward::score(const at::Tensor& x, const std::vector<std::string>&) {
  at::Tensor r = -(x - as_row(center_, x, "quadratic")).pow(2).sum(1) / scale_;  // [B, D] -> [B]
  return r.to(at::promote_types(x.scalar_type(), at::kFloat));
}

}  // namespace nablagfn
