#pragma once
// Builds the configured sampler, and reads a diffusers `scheduler/scheduler_config.json` (torch-free).
#include <memory>
#include <string>

#include "config/config.h"
#include "schedulers/noise_schedule.h"
#include "schedulers/scheduler.h"

namespace nablagfn {

// What the samplers take from a diffusers scheduler config. Missing keys get diffusers' DDIMScheduler
// defaults (linear β 1e-4..0.02, 1000 steps, steps_offset 0, "leading", "epsilon").
struct SchedulerFileConfig {
  NoiseScheduleConfig schedule;
  int steps_offset = 0;
  std::string prediction_type = "epsilon";
  TimestepSpacing timestep_spacing = TimestepSpacing::Leading;
};

// Parses path. Error (with a hint) for a missing or malformed file, a wrong value type, and options the
// samplers do not implement: prediction_type other than "epsilon", trained_betas, set_alpha_to_one,
// clip_sample, thresholding, rescale_betas_zero_snr.
SchedulerFileConfig read_scheduler_config(const std::string& path);

// The sampler c.scheduler names in scheduler_registry() (schedulers/builtin.cpp): "ddim" (DDIM-η, c.eta),
// "ddpm" (ancestral, fixed_small), "dpmpp_sde" (SDE-DPM-Solver++ order 1) or "dpmpp_2m_sde" (order 2), each
// with c.n_steps steps; the DPM solvers use c.dpmpp.final_sigmas. spacing and steps_offset come from the
// model's scheduler config (SD-1.5: leading, 1); DDIM and DDPM implement "leading" only. Unknown names or
// unsupported combinations are Errors.
std::shared_ptr<Scheduler> make_scheduler(const SampleConfig& c, const NoiseSchedule& s, int steps_offset = 1,
                                          TimestepSpacing spacing = TimestepSpacing::Leading);

}  // namespace nablagfn
