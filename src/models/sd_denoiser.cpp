// SDDenoiser: see sd_denoiser.h.
#include "models/sd_denoiser.h"

#include <torch/torch.h>

namespace nablagfn {

SDDenoiser::SDDenoiser(UNet2DConditionModel unet, const LoRAConfig& lora) : unet_(std::move(unet)) {
  for (auto& p : unet_->parameters()) p.set_requires_grad(false);
  lora_ = std::make_unique<LoRAAdapter>(*unet_, lora);
}

at::Tensor SDDenoiser::eps(const at::Tensor& x, const at::Tensor& t, const at::Tensor& context, Adapter adapter) {
  TORCH_CHECK(context.defined(), "SDDenoiser: the SD UNet needs text hidden states [B, L, D]");
  LoRAGateGuard gate(lora_->gate(), adapter == Adapter::On);
  return unet_(x, t, context);  // [B, C, H, W]
}

at::Tensor SDDenoiser::eps_mixed(const at::Tensor& x, const at::Tensor& t, const at::Tensor& context,
                                 const at::Tensor& adapter_on) {
  TORCH_CHECK(context.defined(), "SDDenoiser: the SD UNet needs text hidden states [B, L, D]");
  TORCH_CHECK(adapter_on.dim() == 1 && adapter_on.size(0) == x.size(0) && adapter_on.scalar_type() == at::kBool,
              "SDDenoiser::eps_mixed: adapter_on must be [B] bool with B = ", x.size(0), ", got ", adapter_on.sizes(),
              " ", adapter_on.scalar_type());
  LoRAGateGuard gate(lora_->gate(), true, adapter_on);
  return unet_(x, t, context);  // [B, C, H, W]
}

std::vector<at::Tensor> SDDenoiser::trainable_parameters() { return lora_->parameters(); }

std::vector<std::pair<std::string, at::Tensor>> SDDenoiser::trainable_state() { return lora_->named_parameters(); }

void SDDenoiser::load_trainable_state(const TensorMap& state) { lora_->load_state(state, "trainable state"); }

}  // namespace nablagfn
