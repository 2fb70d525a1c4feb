#pragma once
// model.toy.*: the 2-D mixture problem with a known answer (toy2d.h).
#include "config/range.h"

namespace nablagfn {

struct Toy2DConfig {
  int n_modes = 8;
  double radius = 4.0;
  double std_dev = 0.5;
  int hidden = 128;
  int layers = 3;

  template <class V>
  void visit(V&& v) {
    v("n_modes", n_modes, "number of equal-weight Gaussians on a circle", Range::at_least(1));
    v("radius", radius, "radius of the circle of means", Range::at_least(0));
    v("std", std_dev, "std of each Gaussian", Range::above(0));
    v("hidden", hidden, "hidden width of the residual policy MLP and the flow MLP", Range::at_least(1));
    v("layers", layers, "hidden layers of those MLPs", Range::at_least(1));
  }
};

}  // namespace nablagfn
