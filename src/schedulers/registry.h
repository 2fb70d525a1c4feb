#pragma once
// Samplers by config name (sample.scheduler). The built-ins are listed in schedulers/builtin.cpp.
// A factory takes the sample section, the model's noise schedule, its steps_offset and timestep spacing.
#include "config/config.h"
#include "core/registry.h"
#include "schedulers/noise_schedule.h"
#include "schedulers/scheduler.h"

namespace nablagfn {

using SchedulerRegistry = Registry<Scheduler, const SampleConfig&, const NoiseSchedule&, int, TimestepSpacing>;
SchedulerRegistry& scheduler_registry();

}  // namespace nablagfn
