#pragma once
// SDE-DPM-Solver++ (Lu et al. 2022, arXiv 2211.01095), first order and 2M, as a Gaussian policy (spec §2.4).
// Not diffusers' `DPMSolverSDEScheduler` (the k-diffusion Brownian-tree sampler): this is
// `DPMSolverMultistepScheduler` with algorithm_type "sde-dpmsolver++".
#include <string>

#include "schedulers/final_sigmas.h"
#include "schedulers/scheduler.h"

namespace nablagfn {

// diffusers DPMSolverMultistepScheduler(algorithm_type "sde-dpmsolver++", solver_type "midpoint",
// lower_order_final = True, euler_at_final = False, prediction_type "epsilon"), order 1 or 2, with the
// given spacing (steps_offset applies to "leading" only, as in diffusers). Order 2 reads x0_prev.
class DPMSolverSDEScheduler : public Scheduler {
 public:
  DPMSolverSDEScheduler(const NoiseSchedule& schedule, int n_steps, int order, FinalSigmas final_sigmas,
                        TimestepSpacing spacing, int steps_offset = 1);
  std::string name() const override { return order_ == 1 ? "dpmpp_sde" : "dpmpp_2m_sde"; }
  int order() const { return order_; }
  // σ̃_k = √((1 − ᾱ)/ᾱ) of state x_k, k in [0, K] (diffusers' `sigmas`, float32 values); σ̃_K is the final one.
  double sigma(int k) const { return sigmas_.at(k); }
  // Whether step k uses the second-order (2M) update; false for order 1, k = 0 and a lower-order final step.
  bool uses_second_order(int k) const { return c_x0prev_.at(k) != 0.0; }

 private:
  int order_;
  std::vector<double> sigmas_;
};

}  // namespace nablagfn
