#pragma once
// The tiny SD-1.5-shaped UNet config the gpu tests share: the real block layout with 16 / 32 channels,
// 8 GroupNorm groups (2 to 8 channels a group), a 16-wide context and 8x8 latents.
#include "models/unet2d_condition.h"

namespace nablagfn::test {

inline UNetConfig tiny_sd_unet_config() {
  UNetConfig c;
  c.block_out_channels = {16, 32, 32, 32};
  c.norm_num_groups = 8;
  c.cross_attention_dim = {16, 16, 16, 16};
  c.sample_size = 8;
  return c;
}

}  // namespace nablagfn::test
