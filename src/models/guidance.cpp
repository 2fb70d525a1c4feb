#include "models/guidance.h"

#include <ATen/ATen.h>

namespace nablagfn {

Conditioning Conditioning::select(const at::Tensor& idx) const {
  Conditioning out = *this;
  if (cond.defined()) out.cond = cond.index_select(0, idx.to(cond.device()));
  if (uncond.defined() && uncond.size(0) != 1) out.uncond = uncond.index_select(0, idx.to(uncond.device()));
  return out;
}

at::Tensor guided_eps(Denoiser& denoiser, const at::Tensor& x, const at::Tensor& t, const Conditioning& c,
                      Adapter adapter) {
  if (!c.cond.defined() || !c.uncond.defined() || c.guidance_scale == 1.0)
    return denoiser.eps(x, t, c.cond, adapter);
  const int64_t B = x.size(0);
  at::Tensor uncond = c.uncond.size(0) == B ? c.uncond : c.uncond.expand({B, c.uncond.size(1), c.uncond.size(2)});
  at::Tensor context = at::cat({uncond, c.cond}, 0);                        // [2B, L, D]
  at::Tensor eps = denoiser.eps(at::cat({x, x}, 0), at::cat({t, t}, 0), context, adapter);  // [2B, ...]
  auto halves = eps.chunk(2, 0);                                            // 2 x [B, ...]
  return halves[0] + c.guidance_scale * (halves[1] - halves[0]);
}

}  // namespace nablagfn
