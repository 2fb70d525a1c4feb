#pragma once
// Noise level after the last step (diffusers `final_sigmas_type`, sample.dpmpp.final_sigmas). Zero: the last
// step lands on the clean sample deterministically (std 0). SigmaMin: it lands on the training schedule's
// smallest level σ̃(τ = 0), keeping a positive std (the release's choice, spec §2.4).
#include "config/enum_names.h"

namespace nablagfn {

enum class FinalSigmas { Zero, SigmaMin };
NABLAGFN_ENUM_NAMES(FinalSigmas, {FinalSigmas::SigmaMin, "sigma_min"}, {FinalSigmas::Zero, "zero"});

}  // namespace nablagfn
