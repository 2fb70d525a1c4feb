// Merged LoRA weights for fast sampling: see cuda_sampling.h.
#include "models/cuda_sampling.h"

#include <torch/torch.h>

#include <map>

#include "models/attention.h"

namespace nablagfn {

MergedLoRA::MergedLoRA(SDDenoiser& denoiser) {
  const LoRAConfig& config = denoiser.lora().config();
  scale_ = config.alpha / static_cast<double>(config.rank);
  std::map<std::string, at::Tensor> lora;
  for (const auto& kv : denoiser.lora().named_parameters()) lora.emplace(kv.first, kv.second);
  for (const auto& item : denoiser.unet()->named_modules()) {
    auto attn = std::dynamic_pointer_cast<AttentionImpl>(item.value());
    if (!attn) continue;
    for (const auto& target : config.target_modules) {
      Entry e;
      e.name = item.key() + "." + target;
      e.weight = attn->projection(target)->weight;
      e.lora_A = lora.at(e.name + ".lora_A.weight");
      e.lora_B = lora.at(e.name + ".lora_B.weight");
      e.merged = at::empty_like(e.weight, at::MemoryFormat::Contiguous);
      entries_.push_back(std::move(e));
    }
  }
  refresh();
}

void MergedLoRA::refresh() {
  torch::NoGradGuard no_grad;
  for (auto& e : entries_) {
    const at::Tensor& w = e.frozen.defined() ? e.frozen : e.weight;
    // W + scale · B A in fp32, rounded once to the base dtype: [out, r] x [r, in] -> [out, in]
    e.merged.copy_(at::addmm(w.to(at::kFloat), e.lora_B, e.lora_A, /*beta=*/1.0, /*alpha=*/scale_));
  }
}

MergedLoRA::Scope::Scope(MergedLoRA& merged) : merged_(merged) {
  for (auto& e : merged_.entries_) {
    e.frozen = e.weight.detach();
    e.weight.set_data(e.merged);
  }
}

MergedLoRA::Scope::~Scope() {
  for (auto& e : merged_.entries_) {
    e.weight.set_data(e.frozen);
    e.frozen = at::Tensor();
  }
}

}  // namespace nablagfn
