#include "models/pixel_decoder.h"

#include <ATen/ATen.h>

namespace nablagfn {

at::Tensor PixelDecoder::decode(const at::Tensor& latents) {
  return at::clamp(latents.to(at::kFloat) * 0.5 + 0.5, 0.0, 1.0);
}

}  // namespace nablagfn
