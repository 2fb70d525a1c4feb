#pragma once
// The "decoder" of a pixel-space diffusion model (the embedded Fashion-MNIST model): the latents are the
// pixels in [-1, 1]; decode maps them to images in [0, 1] the way SD maps its VAE output
// (clamp(x / 2 + 0.5, 0, 1), spec §2.1), so rewards see the same value range.
#include <ATen/core/Tensor.h>

#include "models/pipeline_parts.h"

namespace nablagfn {

class PixelDecoder : public Decoder {
 public:
  // latents [B, C, H, W] -> images [B, C, H, W] float32 in [0, 1], differentiable (zero gradient where clamped).
  at::Tensor decode(const at::Tensor& latents) override;
};

}  // namespace nablagfn
