#pragma once
// The SD latent -> image map the rewards score (spec §2.1):
//   image = clamp(vae.decode(z / scaling_factor + shift_factor) / 2 + 0.5, 0, 1)
// as the ∇-GFlowNet release (train_nablagfn.py) and diffusers' VaeImageProcessor postprocess do it.
// What changed: the result is float32 (the VAE may run in bf16); the clamp's zero gradient outside
// [0, 1] is kept, as in the reference.
#include <c10/core/Device.h>
#include <c10/core/ScalarType.h>

#include "models/pipeline_parts.h"
#include "models/vae.h"

namespace nablagfn {

class VAEDecoder : public Decoder {
 public:
  // The VAE's weights are held in dtype on device, in eval mode, without gradients.
  VAEDecoder(AutoencoderKL vae, c10::Device device, c10::ScalarType dtype);

  // latents [B, Z, h, w] (any floating dtype; computed in the VAE's dtype) -> images [B, C, H, W]
  // float32 in [0, 1], contiguous, with a graph to the latents when they require grad.
  at::Tensor decode(const at::Tensor& latents) override;

  AutoencoderKL& vae() { return vae_; }

  // on: the decoder runs in channels-last (NHWC) layout, the convolution weights converted now, the
  // latents on each call; on CUDA the GroupNorm + SiLU steps take the fused kernels, under autograd too
  // (kernels/fused_ops.h). Same function, other rounding. off: back to NCHW.
  void set_channels_last(bool on);

 private:
  AutoencoderKL vae_;
  c10::ScalarType dtype_;
  bool channels_last_ = false;
};

}  // namespace nablagfn
