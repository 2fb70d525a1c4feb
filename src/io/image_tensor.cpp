// Tensor <-> Image conversion and sample grids; see io/image_tensor.h for the torchvision reference.
#include "io/image_tensor.h"

#include <ATen/ATen.h>

#include <algorithm>
#include <cmath>
#include <cstring>

namespace nablagfn {
namespace image_tensor_detail {

// [N, C, H, W] floating -> [N, H, W, C] contiguous uint8 on the CPU.
at::Tensor quantise_nhwc(const at::Tensor& images) {
  TORCH_CHECK(at::isFloatingType(images.scalar_type()), "image tensors must be floating point in [0, 1], got ",
              images.scalar_type());
  at::Tensor x = images.detach().to(at::kCPU, at::kFloat);
  TORCH_CHECK(x.isfinite().all().item<bool>(), "image tensor holds NaN or infinite values");
  return x.clamp(0.0, 1.0).mul(255.0).round().to(at::kByte).permute({0, 2, 3, 1}).contiguous();  // [N, H, W, C]
}

void check_channels(int64_t channels) {
  TORCH_CHECK(channels == 1 || channels == 3 || channels == 4, "images must have 1, 3 or 4 channels, got ", channels);
}

}  // namespace image_tensor_detail

Image image_from_tensor(const at::Tensor& chw) {
  TORCH_CHECK(chw.dim() == 3, "image_from_tensor expects [C, H, W], got ", chw.sizes());
  image_tensor_detail::check_channels(chw.size(0));
  at::Tensor hwc = image_tensor_detail::quantise_nhwc(chw.unsqueeze(0));  // [C, H, W] -> [1, H, W, C]
  Image image{static_cast<int>(chw.size(2)), static_cast<int>(chw.size(1)), static_cast<int>(chw.size(0)), {}};
  const uint8_t* src = hwc.data_ptr<uint8_t>();
  image.pixels.assign(src, src + hwc.numel());
  return image;
}

Image make_grid(const at::Tensor& images, int n_cols, int pad, float pad_value) {
  TORCH_CHECK(images.dim() == 4 && images.size(0) > 0, "make_grid expects [N, C, H, W] with N > 0, got ",
              images.sizes());
  TORCH_CHECK(n_cols > 0 && pad >= 0, "make_grid needs n_cols > 0 and pad >= 0, got ", n_cols, ", ", pad);
  TORCH_CHECK(pad_value >= 0.0f && pad_value <= 1.0f, "pad_value must be in [0, 1], got ", pad_value);
  image_tensor_detail::check_channels(images.size(1));
  at::Tensor nhwc = image_tensor_detail::quantise_nhwc(images);  // [N, C, H, W] -> [N, H, W, C]
  const int N = static_cast<int>(images.size(0)), C = static_cast<int>(images.size(1));
  const int H = static_cast<int>(images.size(2)), W = static_cast<int>(images.size(3));
  const int n_grid_cols = std::min(N, n_cols), n_grid_rows = (N + n_grid_cols - 1) / n_grid_cols;
  Image grid = Image::filled(n_grid_cols * (W + pad) + pad, n_grid_rows * (H + pad) + pad, C,
                             static_cast<uint8_t>(std::lround(pad_value * 255.0f)));
  const uint8_t* src = nhwc.data_ptr<uint8_t>();
  const size_t row_bytes = static_cast<size_t>(W) * C;
  for (int n = 0; n < N; ++n) {
    const int x0 = (n % n_grid_cols) * (W + pad) + pad, y0 = (n / n_grid_cols) * (H + pad) + pad;
    for (int y = 0; y < H; ++y)
      std::memcpy(grid.at(x0, y0 + y), src + (static_cast<size_t>(n) * H + y) * row_bytes, row_bytes);
  }
  return grid;
}

at::Tensor tensor_from_image(const Image& image) {
  TORCH_CHECK(image.pixels.size() == static_cast<size_t>(image.width) * image.height * image.channels,
              "image buffer does not match its width * height * channels");
  at::Tensor hwc = at::empty({image.height, image.width, image.channels}, at::kByte);
  std::memcpy(hwc.data_ptr<uint8_t>(), image.pixels.data(), image.pixels.size());
  return hwc.permute({2, 0, 1}).to(at::kFloat).div(255.0).contiguous();  // [H, W, C] -> [C, H, W]
}

}  // namespace nablagfn
