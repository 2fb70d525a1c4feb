#include "models/denoiser.h"

#include <ATen/ATen.h>

namespace nablagfn {

at::Tensor Denoiser::eps_mixed(const at::Tensor& x, const at::Tensor& t, const at::Tensor& context,
                               const at::Tensor& adapter_on) {
  at::Tensor on = eps(x, t, context, Adapter::On);
  at::Tensor off = eps(x, t, context, Adapter::Off);
  std::vector<int64_t> shape(x.dim(), 1);
  shape[0] = x.size(0);
  return at::where(adapter_on.to(x.device()).view(shape), on, off);
}

}  // namespace nablagfn
