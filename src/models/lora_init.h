#pragma once
// model.lora_init: how a fresh LoRA's A matrix is drawn (B = 0 in both, so a fresh adapter leaves the
// model unchanged). Gaussian: A ~ N(0, 1/r²) (peft init_lora_weights="gaussian"); Kaiming: peft's default
// kaiming_uniform(a=√5).
#include "config/enum_names.h"

namespace nablagfn {

enum class LoRAInit { Gaussian, Kaiming };
NABLAGFN_ENUM_NAMES(LoRAInit, {LoRAInit::Gaussian, "gaussian"}, {LoRAInit::Kaiming, "kaiming"});

}  // namespace nablagfn
