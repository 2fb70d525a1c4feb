#pragma once
// The memory layout of a module's convolution weights. Channels-last (NHWC) weights with channels-last
// inputs make cuDNN pick its NHWC kernels and let the modules' fused paths (kernels/fused_ops.h) run;
// the values are unchanged, only the strides.
#include <torch/nn/module.h>

namespace nablagfn {

// Converts every 4-D parameter and buffer of root (and its submodules), in place, to channels-last
// (channels_last) or back to contiguous NCHW.
void set_conv_layout(torch::nn::Module& root, bool channels_last);

}  // namespace nablagfn
