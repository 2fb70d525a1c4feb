#pragma once
// The Stable Diffusion denoiser: a frozen UNet2DConditionModel with one LoRA adapter (the policy ε_θ)
// that can be switched off for the pretrained ε_# (spec §10), per call or per sample.
// Mirrors the release's UNet + peft adapter "pf" (spec §2.1); trainable state in peft names.
// Legend: B batch, C latent channels, H/W latent size, L/D context tokens / width.
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "models/denoiser.h"
#include "models/lora.h"
#include "models/unet2d_condition.h"

namespace nablagfn {

class SDDenoiser : public Denoiser {
 public:
  // Freezes unet (requires_grad off) and attaches a fresh adapter (B = 0: ε_θ = ε_# until trained).
  SDDenoiser(UNet2DConditionModel unet, const LoRAConfig& lora);

  // x [B, C, H, W] in the UNet's dtype, t [B] int64, context [B, L, D] (required) -> ε [B, C, H, W].
  at::Tensor eps(const at::Tensor& x, const at::Tensor& t, const at::Tensor& context, Adapter adapter) override;
  // One UNet pass; rows with adapter_on [B] false get no LoRA update (and give it no gradient).
  at::Tensor eps_mixed(const at::Tensor& x, const at::Tensor& t, const at::Tensor& context,
                       const at::Tensor& adapter_on) override;

  std::vector<at::Tensor> trainable_parameters() override;
  std::vector<std::pair<std::string, at::Tensor>> trainable_state() override;  // peft names
  void load_trainable_state(const TensorMap& state) override;

  // on: the UNet computes in channels-last (NHWC) layout: the convolution weights converted now, x on each
  // call, ε returned in x's layout. On CUDA the fused kernels run (kernels/fused_ops.h: every one without
  // grad, GroupNorm under autograd too). Same function, other rounding. off: back to NCHW weights.
  void set_channels_last(bool on);

  UNet2DConditionModel& unet() { return unet_; }
  LoRAAdapter& lora() { return *lora_; }

 private:
  UNet2DConditionModel unet_;
  std::unique_ptr<LoRAAdapter> lora_;
  bool channels_last_ = false;

  at::Tensor run_unet(const at::Tensor& x, const at::Tensor& t, const at::Tensor& context);
};

}  // namespace nablagfn
