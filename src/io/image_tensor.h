#pragma once
// The one bridge between tensors and io/png.h images. Tensors are float images in [0, 1], PyTorch order.
// make_grid follows torchvision.utils.make_grid (torchvision/utils.py, v0.14): same layout and padding.
// What changed: one-channel images stay one-channel (torchvision copies them to RGB), and pixel values
// are quantised here (round(255 x)), as torchvision.utils.save_image does after make_grid.
#include <ATen/core/Tensor.h>

#include "io/png.h"

namespace nablagfn {

// [C, H, W] floating tensor, C in {1, 3, 4}, any device -> 8-bit image. Values are clamped to [0, 1]
// (decoders overshoot slightly); non-finite values are a TORCH_CHECK failure.
Image image_from_tensor(const at::Tensor& chw);

// [N, C, H, W] floating tensor in [0, 1] -> one image of ceil(N / n_cols) rows of min(N, n_cols) tiles,
// each tile framed by pad pixels of pad_value (in [0, 1]); unused tiles of the last row stay pad_value.
// Size: width = min(N, n_cols) * (W + pad) + pad, height = rows * (H + pad) + pad.
Image make_grid(const at::Tensor& images, int n_cols, int pad = 2, float pad_value = 0.0f);

// Image -> [C, H, W] float32 CPU tensor in [0, 1] (pixel / 255).
at::Tensor tensor_from_image(const Image& image);

}  // namespace nablagfn
