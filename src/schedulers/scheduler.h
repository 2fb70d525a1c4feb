#pragma once
// A K-step sampler seen as a Gaussian policy (spec §2.2–2.4). Step k maps state x_k to
//   x_{k+1} ~ N(mean_k, std_k² I),  mean_k = c_x[k]·x_k + c_eps[k]·ε + c_x0prev[k]·x̂0_{k−1},
// where ε is the (guided) noise prediction at (x_k, τ_k) and x̂0_{k−1} the previous step's predicted
// clean sample (second-order solvers only; zero coefficient otherwise). Every supported sampler
// (DDIM-η, DDPM ancestral, SDE-DPM-Solver++ 1/2) has this linear form, so one implementation of the
// mean, the log-prob and both scores serves all of them, per row: k is a [B] int64 tensor so one
// training batch can mix transitions from different steps.
//
// Notation: K = n_steps(); τ_k = timestep(k), the denoiser's timestep for x_k; the noise level of the
// final state x_K is 0 (clean). ᾱ is the SD-1.5 schedule of noise_schedule.h.
// Implementations: DDIMScheduler (below), DDPMScheduler (ddpm.h), DPMSolverSDEScheduler (dpm_solver_sde.h);
// factory.h builds one from the sample config.
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include <ATen/core/Tensor.h>

#include "schedulers/noise_schedule.h"

namespace nablagfn {

// How K inference timesteps are picked from the N training ones (diffusers `timestep_spacing`, Table 2 of
// arXiv 2305.08891). Each scheduler documents which it supports.
enum class TimestepSpacing { Leading, Linspace, Trailing };
std::string to_string(TimestepSpacing spacing);
// "leading" | "linspace" | "trailing"; anything else is an Error listing these.
TimestepSpacing parse_timestep_spacing(const std::string& name);

class Scheduler {
 public:
  virtual ~Scheduler() = default;
  virtual std::string name() const = 0;

  int n_steps() const { return static_cast<int>(timesteps_.size()); }
  // τ_k, k in [0, K).
  int64_t timestep(int k) const { return timesteps_.at(k); }
  const std::vector<int64_t>& timesteps() const { return timesteps_; }
  // Noise level of state x_k, k in [0, K]: τ_k, and 0 for the final state.
  int64_t state_timestep(int k) const { return k >= n_steps() ? 0 : timesteps_.at(k); }
  // ᾱ at x_k's noise level, k in [0, K]; exactly 1 for the final (clean) state.
  double state_alpha_bar(int k) const { return state_alpha_bar_.at(k); }
  // Std of step k (0 for deterministic steps, e.g. DDIM with η = 0).
  double std_at(int k) const { return std_.at(k); }
  bool second_order() const;
  // The linear mean's coefficients of step k (see the top of this file).
  double coef_x(int k) const { return c_x_.at(k); }
  double coef_eps(int k) const { return c_eps_.at(k); }
  double coef_x0prev(int k) const { return c_x0prev_.at(k); }
  const NoiseSchedule& schedule() const { return schedule_; }

  // Per-row tensors: k [B] int64 (CPU or x's device). x, eps, x0_prev [B, ...]. Results [B, ...] in x's
  // dtype, carrying the graphs of x / eps (coefficients are constants). x0_prev is required by second-order
  // schedulers only: predict_x0(k − 1, x_{k−1}, ε_{k−1}); rows whose step has coef_x0prev 0 (k = 0 and
  // first-order fallback steps) ignore its values, so zeros serve there.
  at::Tensor step_mean(const at::Tensor& k, const at::Tensor& x, const at::Tensor& eps,
                       const at::Tensor& x0_prev = {}) const;
  at::Tensor step_std(const at::Tensor& k, const at::Tensor& like) const;  // [B] in like's dtype/device
  // x̂0 at state x_k's noise level: (x − √(1−ᾱ)·ε)/√ᾱ, and x itself for the final state (spec §3.3).
  at::Tensor predict_x0(const at::Tensor& k, const at::Tensor& x, const at::Tensor& eps) const;
  // τ of state x_k per row, [B] int64 on k's device.
  at::Tensor state_timesteps(const at::Tensor& k) const;
  // ᾱ of state x_k per row, [B] float64 on k's device.
  at::Tensor state_alpha_bars(const at::Tensor& k) const;

 protected:
  explicit Scheduler(NoiseSchedule schedule) : schedule_(std::move(schedule)) {}
  // Subclasses fill these (length K, state_alpha_bar_ length K + 1).
  std::vector<int64_t> timesteps_;
  std::vector<double> c_x_, c_eps_, c_x0prev_, std_, state_alpha_bar_;

 private:
  at::Tensor gather(const std::vector<double>& table, const at::Tensor& k, const at::Tensor& like) const;
  NoiseSchedule schedule_;
};

// DDIM with stochasticity η (η = 1 is the "DDPM" of the paper), diffusers DDIMScheduler.step with
// leading spacing and steps_offset (timesteps 981, 961, …, 1 for K = 50), set_alpha_to_one = false.
class DDIMScheduler : public Scheduler {
 public:
  DDIMScheduler(const NoiseSchedule& schedule, int n_steps, double eta, int steps_offset = 1);
  std::string name() const override { return "ddim"; }
};

}  // namespace nablagfn
