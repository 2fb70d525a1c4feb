// The linear-Gaussian sampler base (per-row gather of the step tables) and DDIM-η.
// DDIMScheduler ports diffusers `DDIMScheduler.set_timesteps` / `.step` (schedulers/scheduling_ddim.py,
// v0.40) for prediction_type "epsilon", "leading" spacing, set_alpha_to_one = False, clip_sample = False.
// What changed: the step is rewritten as mean = c_x·x + c_eps·ε and std (DDIM Eqs. (12), (16)), so it
// accepts per-row step indices and exposes the Gaussian the policy-gradient code needs (as ddpo-pytorch's
// `ddim_step_with_logprob` does); coefficients are float64 from the float32 ᾱ table.
#include "schedulers/scheduler.h"

#include <ATen/ATen.h>

#include <algorithm>
#include <cmath>

#include "core/error.h"

namespace nablagfn {

std::string to_string(TimestepSpacing spacing) {
  switch (spacing) {
    case TimestepSpacing::Leading: return "leading";
    case TimestepSpacing::Linspace: return "linspace";
    case TimestepSpacing::Trailing: return "trailing";
  }
  return "leading";
}

TimestepSpacing parse_timestep_spacing(const std::string& name) {
  if (name == "leading") return TimestepSpacing::Leading;
  if (name == "linspace") return TimestepSpacing::Linspace;
  if (name == "trailing") return TimestepSpacing::Trailing;
  throw Error("unknown timestep_spacing '" + name + "'", "use one of: leading, linspace, trailing");
}

bool Scheduler::second_order() const {
  for (double c : c_x0prev_)
    if (c != 0.0) return true;
  return false;
}

at::Tensor Scheduler::gather(const std::vector<double>& table, const at::Tensor& k, const at::Tensor& like) const {
  at::Tensor values = at::tensor(table, at::TensorOptions().dtype(at::kDouble));  // [K]
  at::Tensor rows = values.index_select(0, k.to(at::kCPU).to(at::kLong));           // [B]
  std::vector<int64_t> shape(like.dim(), 1);
  shape[0] = rows.size(0);
  return rows.to(like.device(), like.scalar_type()).view(shape);  // [B, 1, ...]
}

at::Tensor Scheduler::step_mean(const at::Tensor& k, const at::Tensor& x, const at::Tensor& eps,
                                const at::Tensor& x0_prev) const {
  at::Tensor mean = gather(c_x_, k, x) * x + gather(c_eps_, k, x) * eps;
  if (second_order()) {
    TORCH_CHECK(x0_prev.defined(), name(), " is second order: step_mean needs the previous x0 prediction");
    mean = mean + gather(c_x0prev_, k, x) * x0_prev;
  }
  return mean;
}

at::Tensor Scheduler::step_std(const at::Tensor& k, const at::Tensor& like) const {
  return gather(std_, k, like).view({-1});
}

at::Tensor Scheduler::predict_x0(const at::Tensor& k, const at::Tensor& x, const at::Tensor& eps) const {
  at::Tensor ab = gather(state_alpha_bar_, k, x);
  // For the final state ᾱ = 1, so this is x exactly (the ε term has coefficient 0).
  return (x - at::sqrt(1.0 - ab) * eps) / at::sqrt(ab);
}

at::Tensor Scheduler::state_timesteps(const at::Tensor& k) const {
  std::vector<int64_t> table(timesteps_);
  table.push_back(0);
  return at::tensor(table, at::kLong).index_select(0, k.to(at::kCPU).to(at::kLong)).to(k.device());
}

at::Tensor Scheduler::state_alpha_bars(const at::Tensor& k) const {
  return at::tensor(state_alpha_bar_, at::kDouble).index_select(0, k.to(at::kCPU).to(at::kLong)).to(k.device());
}

DDIMScheduler::DDIMScheduler(const NoiseSchedule& schedule, int n_steps, double eta, int steps_offset)
    : Scheduler(schedule) {
  const int n_train = schedule.n_train_timesteps();
  require(n_steps >= 1 && n_steps <= n_train, "DDIM needs 1..num_train_timesteps steps",
          "set sample.n_steps between 1 and " + std::to_string(n_train));
  require(eta >= 0.0, "DDIM eta must be >= 0", "set sample.eta to 0 (deterministic) .. 1 (DDPM)");
  // "leading" spacing: τ_k = (K − 1 − k)·(N / K) + offset.
  const int ratio = n_train / n_steps;
  require(static_cast<int64_t>(n_steps - 1) * ratio + steps_offset < n_train && steps_offset >= 0,
          "DDIM timesteps exceed the training schedule (" + std::to_string(n_steps) + " steps, steps_offset " +
              std::to_string(steps_offset) + ")",
          "use fewer steps or steps_offset 0");
  for (int k = 0; k < n_steps; ++k) timesteps_.push_back(static_cast<int64_t>(n_steps - 1 - k) * ratio + steps_offset);
  // ᾱ of the step's target level; below 0 it is ᾱ_0 (diffusers' final_alpha_cumprod, set_alpha_to_one = false).
  for (int k = 0; k < n_steps; ++k) {
    const int64_t tau = timesteps_[k];
    const int64_t tau_prev = tau - ratio;
    const double ab = schedule.alpha_bar(tau);
    const double ab_prev = tau_prev >= 0 ? schedule.alpha_bar(tau_prev) : schedule.alpha_bar(0);
    // σ_k² = (1 − ᾱ')/(1 − ᾱ) · (1 − ᾱ/ᾱ'), DDIM Eq. (16).
    const double var = (1.0 - ab_prev) / (1.0 - ab) * (1.0 - ab / ab_prev);
    const double sigma = eta * std::sqrt(var);
    // mean = √ᾱ'·x̂0 + √(1 − ᾱ' − σ²)·ε with x̂0 = (x − √(1−ᾱ)·ε)/√ᾱ, DDIM Eq. (12).
    const double dir = std::sqrt(std::max(1.0 - ab_prev - sigma * sigma, 0.0));
    c_x_.push_back(std::sqrt(ab_prev) / std::sqrt(ab));
    c_eps_.push_back(dir - std::sqrt(ab_prev) * std::sqrt(1.0 - ab) / std::sqrt(ab));
    c_x0prev_.push_back(0.0);
    std_.push_back(sigma);
    state_alpha_bar_.push_back(ab);
  }
  state_alpha_bar_.push_back(1.0);
}

}  // namespace nablagfn
