#pragma once
// DDPM ancestral sampling (Ho et al. 2020, Eqs. (6)–(7)) as a Gaussian policy.
#include "schedulers/scheduler.h"

namespace nablagfn {

// diffusers DDPMScheduler.step with variance_type "fixed_small" (σ² = β̃_t, the posterior variance),
// prediction_type "epsilon", "leading" spacing: τ_k = (K − 1 − k)·(N / K) + steps_offset. Any K in [1, N].
// The step to τ' is the posterior q(x_τ' | x_τ, x̂0); the last step targets ᾱ' = 1 (clean), so its
// variance is 0 (deterministic, std 0).
class DDPMScheduler : public Scheduler {
 public:
  DDPMScheduler(const NoiseSchedule& schedule, int n_steps, int steps_offset = 1);
  std::string name() const override { return "ddpm"; }
};

}  // namespace nablagfn
