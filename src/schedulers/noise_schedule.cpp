#include "schedulers/noise_schedule.h"

#include <c10/util/Exception.h>

#include <cmath>

#include "core/error.h"

namespace nablagfn {

NoiseSchedule::NoiseSchedule(const NoiseScheduleConfig& config) {
  const int n = config.n_train_timesteps;
  require(n >= 2, "noise schedule needs at least 2 training timesteps", "set num_train_timesteps >= 2");
  // float32 arithmetic on purpose: diffusers builds betas with torch.linspace(..., dtype=float32).
  std::vector<float> betas(n);
  if (config.beta_schedule == "scaled_linear") {
    const float a = std::sqrt(static_cast<float>(config.beta_start));
    const float b = std::sqrt(static_cast<float>(config.beta_end));
    const float step = (b - a) / static_cast<float>(n - 1);
    for (int i = 0; i < n; ++i) {
      // torch.linspace fills the second half from the end to stay symmetric.
      float v = i < n / 2 ? a + step * i : b - step * (n - 1 - i);
      betas[i] = v * v;
    }
  } else if (config.beta_schedule == "linear") {
    const float a = static_cast<float>(config.beta_start);
    const float b = static_cast<float>(config.beta_end);
    const float step = (b - a) / static_cast<float>(n - 1);
    for (int i = 0; i < n; ++i) betas[i] = i < n / 2 ? a + step * i : b - step * (n - 1 - i);
  } else {
    throw Error("unknown beta_schedule '" + config.beta_schedule + "'", "use scaled_linear or linear");
  }
  float prod = 1.0f;
  for (int i = 0; i < n; ++i) {
    prod *= 1.0f - betas[i];
    betas_.push_back(betas[i]);
    alphas_cumprod_.push_back(prod);
  }
}

double NoiseSchedule::alpha_bar(int64_t tau) const {
  TORCH_CHECK(tau >= 0 && tau < static_cast<int64_t>(alphas_cumprod_.size()), "timestep ", tau, " out of range");
  return alphas_cumprod_[tau];
}

}  // namespace nablagfn
