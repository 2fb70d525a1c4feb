// The built-in samplers, by config name. Adding one: its file, plus one line here.
#include "core/error.h"
#include "schedulers/ddpm.h"
#include "schedulers/dpm_solver_sde.h"
#include "schedulers/registry.h"

namespace nablagfn {

namespace {
void require_leading(const std::string& name, TimestepSpacing spacing) {
  require(spacing == TimestepSpacing::Leading,
          "scheduler " + name + " implements 'leading' timestep spacing only, the model asks for '" +
              to_string(spacing) + "'",
          "use scheduler dpmpp_sde or dpmpp_2m_sde, which support every spacing");
}
}  // namespace

SchedulerRegistry& scheduler_registry() {
  static SchedulerRegistry registry = [] {
    SchedulerRegistry r("scheduler");
    r.add("ddim", [](const SampleConfig& c, const NoiseSchedule& s, int offset, TimestepSpacing spacing) {
      require_leading("ddim", spacing);
      return std::make_unique<DDIMScheduler>(s, c.n_steps, c.eta, offset);
    });
    r.add("ddpm", [](const SampleConfig& c, const NoiseSchedule& s, int offset, TimestepSpacing spacing) {
      require_leading("ddpm", spacing);
      return std::make_unique<DDPMScheduler>(s, c.n_steps, offset);
    });
    for (int order : {1, 2})
      r.add(order == 1 ? "dpmpp_sde" : "dpmpp_2m_sde",
            [order](const SampleConfig& c, const NoiseSchedule& s, int offset, TimestepSpacing spacing) {
              return std::make_unique<DPMSolverSDEScheduler>(s, c.n_steps, order, c.dpmpp.final_sigmas, spacing,
                                                             offset);
            });
    return r;
  }();
  return registry;
}

}  // namespace nablagfn
