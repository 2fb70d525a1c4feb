// SDDenoiser: see sd_denoiser.h.
#include "models/sd_denoiser.h"

#include <torch/torch.h>

#include "models/conv_layout.h"

namespace nablagfn {

SDDenoiser::SDDenoiser(UNet2DConditionModel unet, const LoRAConfig& lora) : unet_(std::move(unet)) {
  for (auto& p : unet_->parameters()) p.set_requires_grad(false);
  lora_ = std::make_unique<LoRAAdapter>(*unet_, lora);
}

at::Tensor SDDenoiser::eps(const at::Tensor& x, const at::Tensor& t, const at::Tensor& context, Adapter adapter) {
  TORCH_CHECK(context.defined(), "SDDenoiser: the SD UNet needs text hidden states [B, L, D]");
  LoRAGateGuard gate(lora_->gate(), adapter == Adapter::On);
  return run_unet(x, t, context);
}

at::Tensor SDDenoiser::eps_mixed(const at::Tensor& x, const at::Tensor& t, const at::Tensor& context,
                                 const at::Tensor& adapter_on) {
  TORCH_CHECK(context.defined(), "SDDenoiser: the SD UNet needs text hidden states [B, L, D]");
  TORCH_CHECK(adapter_on.dim() == 1 && adapter_on.size(0) == x.size(0) && adapter_on.scalar_type() == at::kBool,
              "SDDenoiser::eps_mixed: adapter_on must be [B] bool with B = ", x.size(0), ", got ", adapter_on.sizes(),
              " ", adapter_on.scalar_type());
  LoRAGateGuard gate(lora_->gate(), true, adapter_on);
  return run_unet(x, t, context);
}

void SDDenoiser::set_channels_last(bool on) {
  set_conv_layout(*unet_, on);
  channels_last_ = on;
}

at::Tensor SDDenoiser::run_unet(const at::Tensor& x, const at::Tensor& t, const at::Tensor& context) {
  if (!channels_last_) return unet_(x, t, context);  // [B, C, H, W]
  const at::MemoryFormat layout = x.suggest_memory_format();
  return unet_(x.contiguous(at::MemoryFormat::ChannelsLast), t, context).contiguous(layout);
}

std::vector<at::Tensor> SDDenoiser::trainable_parameters() { return lora_->parameters(); }

std::vector<std::pair<std::string, at::Tensor>> SDDenoiser::trainable_state() { return lora_->named_parameters(); }

void SDDenoiser::load_trainable_state(const TensorMap& state) { lora_->load_state(state, "trainable state"); }

}  // namespace nablagfn
