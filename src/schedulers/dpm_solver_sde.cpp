// Port of diffusers `DPMSolverMultistepScheduler.set_timesteps`, `.step`,
// `.dpm_solver_first_order_update` and `.multistep_dpm_solver_second_order_update`
// (schedulers/scheduling_dpmsolver_multistep.py, v0.40) for algorithm_type "sde-dpmsolver++",
// solver_type "midpoint", prediction_type "epsilon", lower_order_final = True, euler_at_final = False,
// no Karras / Lu / flow sigmas, lambda_min_clipped = −∞.
// What changed: each update is rewritten as mean = c_x·x + c_eps·ε + c_x0prev·x̂0_prev, std, with the
// coefficients in float64 from diffusers' float32 σ̃ table (diffusers runs them in float32), and without
// the scheduler's step counter and model-output buffer: the caller passes x̂0_prev, the data prediction
// of the previous step (diffusers' model_outputs[-2]).
// Notation: state s = x_k, target t = x_{k+1}; σ̃ = √((1 − ᾱ)/ᾱ); α = 1/√(σ̃² + 1) = √ᾱ; σ = σ̃·α = √(1 − ᾱ);
// λ = log α − log σ = −log σ̃; h = λ_t − λ_s; x̂0 = (x − σ_s·ε)/α_s (DPM-Solver++ data prediction).
#include "schedulers/dpm_solver_sde.h"

#include <cmath>
#include <limits>

#include "core/error.h"

namespace nablagfn {

namespace dpm_solver_detail {

// diffusers' set_timesteps for the three spacings (N = num_train_timesteps; numpy rounds half to even,
// as std::nearbyint does in the default rounding mode).
std::vector<int64_t> dpm_timesteps(int n_train, int n_steps, TimestepSpacing spacing, int steps_offset) {
  std::vector<int64_t> out;
  if (spacing == TimestepSpacing::Linspace) {
    // np.linspace(0, N − 1, K + 1).round()[::-1][:-1]
    const double step = static_cast<double>(n_train - 1) / n_steps;
    for (int i = n_steps; i >= 1; --i)
      out.push_back(static_cast<int64_t>(std::nearbyint(i == n_steps ? n_train - 1.0 : i * step)));
  } else if (spacing == TimestepSpacing::Leading) {
    // (np.arange(0, K + 1)·(N // (K + 1))).round()[::-1][:-1] + steps_offset
    const int ratio = n_train / (n_steps + 1);
    for (int i = n_steps; i >= 1; --i) out.push_back(static_cast<int64_t>(i) * ratio + steps_offset);
  } else {
    // np.arange(N, 0, −N/K).round() − 1; numpy fills arange as start + i·(a[1] − a[0]).
    const double ratio = static_cast<double>(n_train) / n_steps;
    const double delta = (n_train - ratio) - n_train;
    const auto len = static_cast<int64_t>(std::ceil(-static_cast<double>(n_train) / -ratio));
    for (int64_t i = 0; i < len; ++i) out.push_back(static_cast<int64_t>(std::nearbyint(n_train + i * delta)) - 1);
  }
  return out;
}

// σ̃ = ((1 − ᾱ)/ᾱ)^0.5 in float32, as diffusers computes its sigma table.
double sigma_of_alpha_bar(double alpha_bar) {
  const auto ab = static_cast<float>(alpha_bar);
  return std::sqrt((1.0f - ab) / ab);
}

}  // namespace dpm_solver_detail

DPMSolverSDEScheduler::DPMSolverSDEScheduler(const NoiseSchedule& schedule, int n_steps, int order,
                                             FinalSigmas final_sigmas, TimestepSpacing spacing, int steps_offset)
    : Scheduler(schedule), order_(order) {
  const int n_train = schedule.n_train_timesteps();
  require(order == 1 || order == 2, "SDE-DPM-Solver++ order must be 1 or 2, got " + std::to_string(order),
          "use scheduler dpmpp_sde (order 1) or dpmpp_2m_sde (order 2)");
  require(n_steps >= 1 && n_steps < n_train, "SDE-DPM-Solver++ needs 1..num_train_timesteps-1 steps",
          "set sample.n_steps between 1 and " + std::to_string(n_train - 1));
  timesteps_ = dpm_solver_detail::dpm_timesteps(n_train, n_steps, spacing, steps_offset);
  const int K = n_steps;
  require(static_cast<int>(timesteps_.size()) == K, "'" + to_string(spacing) + "' spacing gives " +
                                                        std::to_string(timesteps_.size()) + " timesteps for " +
                                                        std::to_string(K) + " steps",
          "use a number of steps that divides num_train_timesteps, or another spacing");
  for (int k = 0; k < K; ++k) {
    require(timesteps_[k] >= 0 && timesteps_[k] < n_train && (k == 0 || timesteps_[k] < timesteps_[k - 1]),
            "SDE-DPM-Solver++ timesteps must be distinct and in [0, " + std::to_string(n_train) + ") (step " +
                std::to_string(k) + " has " + std::to_string(timesteps_[k]) + ")",
            "use fewer steps or a smaller steps_offset");
  }

  // σ̃ of every state; the final one is 0 (clean) or σ̃ at τ = 0.
  using dpm_solver_detail::sigma_of_alpha_bar;
  for (int k = 0; k < K; ++k) sigmas_.push_back(sigma_of_alpha_bar(schedule.alpha_bar(timesteps_[k])));
  sigmas_.push_back(final_sigmas == FinalSigmas::Zero ? 0.0 : sigma_of_alpha_bar(schedule.alpha_bar(0)));
  auto alpha_of = [](double s) { return 1.0 / std::sqrt(s * s + 1.0); };
  auto lambda_of = [](double s) { return s > 0.0 ? -std::log(s) : std::numeric_limits<double>::infinity(); };

  // diffusers step(): the final step falls back to first order when the final sigma is zero (σ_t = 0 makes
  // h infinite) or when K < 15 (lower_order_final); the first step always does (no previous output).
  const bool final_first_order = final_sigmas == FinalSigmas::Zero || K < 15;
  for (int k = 0; k < K; ++k) {
    const double sig_s = sigmas_[k], sig_t = sigmas_[k + 1];
    const double alpha_s = alpha_of(sig_s), alpha_t = alpha_of(sig_t);
    const double sigma_s = sig_s * alpha_s, sigma_t = sig_t * alpha_t;
    const double h = lambda_of(sig_t) - lambda_of(sig_s);
    const double e_mh = std::exp(-h);          // e^{−h}; 0 when σ_t = 0
    const double one_m_e2h = 1.0 - e_mh * e_mh;  // 1 − e^{−2h}
    // First order (spec §2.4): mean = (σ_t/σ_s)·e^{−h}·x + α_t·(1 − e^{−2h})·x̂0.
    // 2M midpoint: x̂0 is replaced by D0 + D1/2 with D0 = x̂0, D1 = (x̂0 − x̂0_prev)/r0, r0 = h_prev/h,
    // i.e. (1 + 1/(2 r0))·x̂0 − 1/(2 r0)·x̂0_prev.
    double w_x0 = 1.0, w_x0prev = 0.0;
    const bool second = order == 2 && k > 0 && !(k == K - 1 && final_first_order);
    if (second) {
      const double r0 = (lambda_of(sig_s) - lambda_of(sigmas_[k - 1])) / h;
      w_x0 = 1.0 + 0.5 / r0;
      w_x0prev = -0.5 / r0;
    }
    const double a = alpha_t * one_m_e2h;  // weight of the data prediction
    c_x_.push_back(sigma_t / sigma_s * e_mh + a * w_x0 / alpha_s);
    c_eps_.push_back(-a * w_x0 * sigma_s / alpha_s);
    c_x0prev_.push_back(a * w_x0prev);
    // std = σ_t·√(1 − e^{−2h}). With final_sigmas zero the last step has σ_t = 0: std 0 and mean = x̂0, a
    // deterministic step whose forward score −(x' − μ)/σ² is infinite (undefined log-density); training
    // that needs a Gaussian last step must use sigma_min.
    std_.push_back(sigma_t * std::sqrt(one_m_e2h));
    state_alpha_bar_.push_back(alpha_s * alpha_s);
  }
  // The final state is treated as clean (ᾱ = 1, x̂0 = x) for both final sigmas, as DDIM's final state at ᾱ_0.
  state_alpha_bar_.push_back(1.0);
}

}  // namespace nablagfn
