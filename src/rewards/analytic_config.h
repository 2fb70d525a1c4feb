#pragma once
// reward.linear.* and reward.quadratic.*: the knobs of the analytic rewards (analytic.h).
#include <vector>

#include "config/range.h"

namespace nablagfn {

struct LinearRewardConfig {
  std::vector<double> coef = {0.5, 0.0};

  template <class V>
  void visit(V&& v) {
    v("coef", coef, "r(x) = <coef, x>");
  }
};

struct QuadraticRewardConfig {
  std::vector<double> center = {4.0, 0.0};
  double scale = 18.0;

  template <class V>
  void visit(V&& v) {
    v("center", center, "r(x) = -||x - center||^2 / scale");
    v("scale", scale, "see center", Range::above(0));
  }
};

}  // namespace nablagfn
