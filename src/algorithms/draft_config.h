#pragma once
// algorithm.draft.*: the knobs of DRaFT-K (draft.h).
#include "config/range.h"

namespace nablagfn {

struct DRaFTConfig {
  int k = 1;

  template <class V>
  void visit(V&& v) {
    v("k", k, "backpropagate through the last K steps (K = sample.n_steps is full DRaFT)", Range::at_least(1));
  }
};

}  // namespace nablagfn
