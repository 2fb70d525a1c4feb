#pragma once
// algorithm.refl.*: the knobs of ReFL (refl.h). ImageReward's settings are the defaults.
#include "config/range.h"

namespace nablagfn {

struct ReFLConfig {
  int last_steps = 10;
  double target = 2.0;
  double loss_scale = 1e-3;

  template <class V>
  void visit(V&& v) {
    v("last_steps", last_steps, "the gradient step m is drawn from the last N steps (m in [K-N, K-1])",
      Range::at_least(1));
    v("target", target,
      "loss = mean(relu(target - r(x0_hat))) x loss_scale; 2 is ImageReward's (standardised scores); above the "
      "reward's range for others (aesthetic 10, hps 1), else the hinge gives no gradient");
    v("loss_scale", loss_scale, "loss multiplier (1e-3 in ImageReward's ReFL)", Range::above(0));
  }
};

}  // namespace nablagfn
