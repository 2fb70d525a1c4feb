#pragma once
// Classifier-free guidance (spec §2.5): ε^cfg = ε(x, t, c_∅) + w · (ε(x, t, c) − ε(x, t, c_∅)),
// the two branches batched as one call of size 2B, unconditional half first (as diffusers and the
// release do). Unconditional models (undefined context) and w == 1 take a single plain call.
#include <ATen/core/Tensor.h>

#include "models/denoiser.h"

namespace nablagfn {

struct Conditioning {
  at::Tensor cond;    // [B, L, D] prompt hidden states, or undefined (unconditional model)
  at::Tensor uncond;  // [1, L, D] or [B, L, D] empty-prompt hidden states, or undefined
  double guidance_scale = 1.0;

  // Rows idx of this conditioning (uncond is kept when it is shared by all rows).
  Conditioning select(const at::Tensor& idx) const;
};

// x [B, ...], t [B] int64 -> guided ε [B, ...]; graph as Denoiser::eps.
at::Tensor guided_eps(Denoiser& denoiser, const at::Tensor& x, const at::Tensor& t, const Conditioning& c,
                      Adapter adapter);

}  // namespace nablagfn
