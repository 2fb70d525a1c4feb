// VAEDecoder; see vae_decoder.h for the reference.
#include "models/vae_decoder.h"

#include <torch/torch.h>

#include "models/conv_layout.h"

namespace nablagfn {

VAEDecoder::VAEDecoder(AutoencoderKL vae, c10::Device device, c10::ScalarType dtype)
    : vae_(std::move(vae)), dtype_(dtype) {
  vae_->to(device, dtype);
  vae_->eval();
  for (auto& p : vae_->parameters()) p.set_requires_grad(false);
}

void VAEDecoder::set_channels_last(bool on) {
  set_conv_layout(*vae_, on);
  channels_last_ = on;
}

at::Tensor VAEDecoder::decode(const at::Tensor& latents) {
  TORCH_CHECK(at::isFloatingType(latents.scalar_type()), "VAEDecoder: latents must be floating point, got ",
              latents.scalar_type());
  const VAEConfig& c = vae_->config();
  at::Tensor z = latents.to(dtype_) / c.scaling_factor + c.shift_factor;  // [B, Z, h, w]
  if (channels_last_) z = z.contiguous(at::MemoryFormat::ChannelsLast);
  at::Tensor images = vae_->decode(z).to(torch::kFloat, false, false, at::MemoryFormat::Contiguous);  // [B, C, H, W]
  return (images / 2 + 0.5).clamp(0.0, 1.0);
}

}  // namespace nablagfn
