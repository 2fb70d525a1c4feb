#pragma once
// The DDPM noise schedule ᾱ_τ = Π_{i≤τ} (1 − β_i), τ ∈ {0, …, N−1} (spec §2.2). Computed in float32
// like diffusers (so values match the fixtures bit for bit) and kept as double.
#include <cstdint>
#include <string>
#include <vector>

namespace nablagfn {

struct NoiseScheduleConfig {
  int n_train_timesteps = 1000;
  double beta_start = 0.00085;
  double beta_end = 0.012;
  // "scaled_linear" (SD: β_i = (√β_0 + (√β_1 − √β_0)·i/(N−1))²) or "linear".
  std::string beta_schedule = "scaled_linear";
};

class NoiseSchedule {
 public:
  explicit NoiseSchedule(const NoiseScheduleConfig& config = {});
  int n_train_timesteps() const { return static_cast<int>(alphas_cumprod_.size()); }
  // ᾱ_τ for τ in [0, N); Error-free: callers pass valid timesteps (TORCH_CHECK).
  double alpha_bar(int64_t tau) const;
  const std::vector<double>& alphas_cumprod() const { return alphas_cumprod_; }
  const std::vector<double>& betas() const { return betas_; }

 private:
  std::vector<double> betas_;
  std::vector<double> alphas_cumprod_;
};

}  // namespace nablagfn
