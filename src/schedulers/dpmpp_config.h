#pragma once
// sample.dpmpp.*: the knobs of the SDE-DPM-Solver++ samplers (dpm_solver_sde.h).
#include "schedulers/final_sigmas.h"

namespace nablagfn {

struct DPMppConfig {
  FinalSigmas final_sigmas = FinalSigmas::SigmaMin;

  template <class V>
  void visit(V&& v) {
    v("final_sigmas", final_sigmas, "sigma_min (finite final score, the release's fix) or zero");
  }
};

}  // namespace nablagfn
