#pragma once
// algorithm.draft_lv.*: the knobs of DRaFT-LV (draft_lv.h).
#include "config/range.h"

namespace nablagfn {

struct DRaFTLVConfig {
  int n = 2;

  template <class V>
  void visit(V&& v) {
    v("n", n, "fresh noises per sample re-noising the final sample to the last step", Range::at_least(1));
  }
};

}  // namespace nablagfn
