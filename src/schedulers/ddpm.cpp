// Port of diffusers `DDPMScheduler.set_timesteps` ("leading") and `.step` (schedulers/scheduling_ddpm.py,
// v0.40) for variance_type "fixed_small", prediction_type "epsilon", clip_sample = False, thresholding off.
// What changed:
// - the step is written as mean = c_x·x + c_eps·ε, std, so rows may sit at different steps;
// - where diffusers adds √max(σ², 1e-20)·z = 1e-10·z (timestep > 0 but σ² = 0: the last step when
//   steps_offset > 0), std is 0 here: identical in float32 (1e-10 is below its resolution at |x| ~ 1), and
//   the step is reported as deterministic instead of a Gaussian with 1e20-sized scores.
// Notation: ᾱ = ᾱ_τ, ᾱ' = ᾱ_τ' (τ' = next timestep, ᾱ' = 1 after the last), β_t = 1 − ᾱ/ᾱ'.
#include "schedulers/ddpm.h"

#include <cmath>

#include "core/error.h"

namespace nablagfn {

DDPMScheduler::DDPMScheduler(const NoiseSchedule& schedule, int n_steps, int steps_offset) : Scheduler(schedule) {
  const int n_train = schedule.n_train_timesteps();
  require(n_steps >= 1 && n_steps <= n_train, "DDPM needs 1..num_train_timesteps steps",
          "set sample.n_steps between 1 and " + std::to_string(n_train));
  // "leading" spacing: τ_k = (K − 1 − k)·(N / K) + offset.
  const int ratio = n_train / n_steps;
  require(static_cast<int64_t>(n_steps - 1) * ratio + steps_offset < n_train && steps_offset >= 0,
          "DDPM timesteps exceed the training schedule (" + std::to_string(n_steps) + " steps, steps_offset " +
              std::to_string(steps_offset) + ")",
          "use fewer steps or steps_offset 0 (K = N needs steps_offset 0)");
  for (int k = 0; k < n_steps; ++k) timesteps_.push_back(static_cast<int64_t>(n_steps - 1 - k) * ratio + steps_offset);

  for (int k = 0; k < n_steps; ++k) {
    const int64_t tau = timesteps_[k];
    // diffusers' previous_timestep: the next entry of the timestep list, −1 (ᾱ' = 1) after the last.
    const double ab = schedule.alpha_bar(tau);
    const double ab_prev = k + 1 < n_steps ? schedule.alpha_bar(timesteps_[k + 1]) : 1.0;
    const double beta_t = 1.0 - ab / ab_prev;
    // Posterior mean μ̃ = √ᾱ'·β_t/(1 − ᾱ)·x̂0 + √(ᾱ/ᾱ')·(1 − ᾱ')/(1 − ᾱ)·x, DDPM Eq. (7),
    // with x̂0 = (x − √(1 − ᾱ)·ε)/√ᾱ substituted.
    const double c_x0 = std::sqrt(ab_prev) * beta_t / (1.0 - ab);
    const double c_sample = std::sqrt(ab / ab_prev) * (1.0 - ab_prev) / (1.0 - ab);
    c_x_.push_back(c_sample + c_x0 / std::sqrt(ab));
    c_eps_.push_back(-c_x0 * std::sqrt(1.0 - ab) / std::sqrt(ab));
    c_x0prev_.push_back(0.0);
    // "fixed_small": σ² = β̃_t = (1 − ᾱ')/(1 − ᾱ)·β_t; no noise at timestep 0.
    const double var = (1.0 - ab_prev) / (1.0 - ab) * beta_t;
    std_.push_back(tau > 0 && var >= 1e-20 ? std::sqrt(var) : 0.0);
    state_alpha_bar_.push_back(ab);
  }
  state_alpha_bar_.push_back(1.0);
}

}  // namespace nablagfn
