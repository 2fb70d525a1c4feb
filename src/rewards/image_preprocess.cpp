// Ports the tensor preprocessing of the ∇-GFlowNet reward functions (lib/reward_func/aesthetic_scorer.py,
// rewards.py) and open_clip's `ResizeMaxSize` (hpsv2/src/open_clip/transform.py). What changed:
//  - HPS: the intended longer-side resize of each image [3, H, W] (the original reads the size from the
//    first two tensor dimensions), done without antialias like the aesthetic path;
//  - inputs are checked (float, [B, 3, H, W]) instead of converted.
#include "rewards/image_preprocess.h"

#include <algorithm>
#include <cmath>

#include <ATen/ATen.h>

namespace nablagfn {

namespace image_preprocess_detail {
void check_images(const at::Tensor& images, const char* what) {
  TORCH_CHECK(images.dim() == 4 && images.size(1) == 3, what, ": expected images [B, 3, H, W], got ", images.sizes());
  TORCH_CHECK(at::isFloatingType(images.scalar_type()), what, ": expected floating-point images, got ",
              images.scalar_type());
}
}  // namespace image_preprocess_detail

at::Tensor clip_normalize(const at::Tensor& images) {
  image_preprocess_detail::check_images(images, "clip_normalize");
  // The constants are filled on the images' device (no host-to-device copy: a CUDA graph can capture this).
  at::Tensor mean = at::empty({1, 3, 1, 1}, images.options().requires_grad(false));
  at::Tensor std = at::empty({1, 3, 1, 1}, images.options().requires_grad(false));
  for (int64_t c = 0; c < 3; ++c) {
    mean.select(1, c).fill_(kCLIPMean[static_cast<size_t>(c)]);
    std.select(1, c).fill_(kCLIPStd[static_cast<size_t>(c)]);
  }
  return (images - mean) / std;
}

at::Tensor resize_bicubic(const at::Tensor& images, int64_t H, int64_t W) {
  TORCH_CHECK(images.dim() == 4, "resize_bicubic: expected [B, C, H, W], got ", images.sizes());
  if (images.size(2) == H && images.size(3) == W) return images;
  return at::upsample_bicubic2d(images, {H, W}, /*align_corners=*/false);  // [B, C, h, w] -> [B, C, H, W]
}

at::Tensor clip_preprocess(const at::Tensor& images, int64_t size) {
  image_preprocess_detail::check_images(images, "clip_preprocess");
  return clip_normalize(resize_bicubic(images, size, size));  // [B, 3, H, W] -> [B, 3, size, size]
}

at::Tensor hps_preprocess(const at::Tensor& images, int64_t size) {
  image_preprocess_detail::check_images(images, "hps_preprocess");
  const int64_t h = images.size(2), w = images.size(3);
  const double scale = static_cast<double>(size) / static_cast<double>(std::max(h, w));
  // Python's round() on the scaled sides; the longer side lands exactly on `size`.
  const int64_t new_h = static_cast<int64_t>(std::nearbyint(h * scale));
  const int64_t new_w = static_cast<int64_t>(std::nearbyint(w * scale));
  at::Tensor x = resize_bicubic(images, new_h, new_w);  // [B, 3, h, w] -> [B, 3, new_h, new_w]
  const int64_t pad_h = size - new_h, pad_w = size - new_w;
  if (pad_h > 0 || pad_w > 0)
    x = at::constant_pad_nd(x, {pad_w / 2, pad_w - pad_w / 2, pad_h / 2, pad_h - pad_h / 2},
                            0.0);  // [B, 3, new_h, new_w] -> [B, 3, size, size]
  return clip_normalize(x);
}

}  // namespace nablagfn
