#pragma once
// algorithm.ddpo.*: the knobs of DDPO (ddpo.h).
#include "config/range.h"

namespace nablagfn {

struct DDPOConfig {
  double clip_range = 1e-4;
  double adv_clip = 5.0;
  int buffer_size = 32;
  int min_count = 16;

  template <class V>
  void visit(V&& v) {
    v("clip_range", clip_range, "PPO ratio clip epsilon", Range::above(0));
    v("adv_clip", adv_clip, "advantages are clipped to +-this", Range::above(0));
    v("buffer_size", buffer_size, "per-prompt reward statistics keep this many recent rewards", Range::at_least(1));
    v("min_count", min_count, "below this many rewards for a prompt, use batch statistics", Range::at_least(0));
  }
};

}  // namespace nablagfn
