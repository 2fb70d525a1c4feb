// The DDPM noise schedule, port of the β/ᾱ construction in diffusers `DDIMScheduler.__init__`
// (schedulers/scheduling_ddim.py, v0.40), reproducing its float32 arithmetic so ᾱ matches bit for bit:
// - torch.linspace(√β_0, √β_1, N, dtype=float32): endpoints are the float32 roundings of the float64
//   square roots (Python computes β**0.5 first), the step is float32, and the second half is filled from
//   the end (start + step·i for i < N/2, end − step·(N−1−i) otherwise), as torch 2.x's CPU kernel does.
//   That kernel is compiled with FMA contraction, so each value is rounded once: std::fma here (plain
//   float arithmetic is off by one ulp in ~15% of the β and by 1.2e-7 relative in ᾱ);
// - torch.cumprod on a float32 CPU tensor accumulates in double and rounds each output to float32.
#include "schedulers/noise_schedule.h"

#include <c10/util/Exception.h>

#include <cmath>

#include "core/error.h"

namespace nablagfn {

namespace noise_schedule_detail {
// torch.linspace(start, end, n, dtype=float32) on the CPU.
std::vector<float> torch_linspace_f32(float start, float end, int n) {
  std::vector<float> out(n);
  const float step = (end - start) / static_cast<float>(n - 1);
  const int halfway = n / 2;
  for (int i = 0; i < n; ++i)
    out[i] = i < halfway ? std::fma(step, static_cast<float>(i), start)
                         : std::fma(-step, static_cast<float>(n - 1 - i), end);
  return out;
}
}  // namespace noise_schedule_detail

NoiseSchedule::NoiseSchedule(const NoiseScheduleConfig& config) {
  const int n = config.n_train_timesteps;
  require(n >= 2, "noise schedule needs at least 2 training timesteps", "set num_train_timesteps >= 2");
  std::vector<float> betas;
  if (config.beta_schedule == "scaled_linear") {
    // β_i = linspace(√β_0, √β_1)_i², squared in float32.
    betas = noise_schedule_detail::torch_linspace_f32(static_cast<float>(std::sqrt(config.beta_start)),
                                                      static_cast<float>(std::sqrt(config.beta_end)), n);
    for (float& b : betas) b = b * b;
  } else if (config.beta_schedule == "linear") {
    betas = noise_schedule_detail::torch_linspace_f32(static_cast<float>(config.beta_start),
                                                      static_cast<float>(config.beta_end), n);
  } else {
    throw Error("unknown beta_schedule '" + config.beta_schedule + "'", "use scaled_linear or linear");
  }
  // ᾱ_τ = Π_{i≤τ} (1 − β_i): α_i = 1 − β_i in float32, the running product in double.
  double prod = 1.0;
  for (int i = 0; i < n; ++i) {
    const float alpha = 1.0f - betas[i];
    prod *= static_cast<double>(alpha);
    betas_.push_back(betas[i]);
    alphas_cumprod_.push_back(static_cast<float>(prod));
  }
}

double NoiseSchedule::alpha_bar(int64_t tau) const {
  TORCH_CHECK(tau >= 0 && tau < static_cast<int64_t>(alphas_cumprod_.size()), "timestep ", tau, " out of range");
  return alphas_cumprod_[tau];
}

}  // namespace nablagfn
