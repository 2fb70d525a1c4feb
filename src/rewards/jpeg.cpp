// JPEG compressibility reward; see jpeg.h for the reference and what changed.
#include "rewards/jpeg.h"

#include <ATen/ATen.h>

#include "core/error.h"
#include "io/jpeg.h"
#include "rewards/reward_checks.h"

namespace nablagfn {

int64_t jpeg_encoded_size(const at::Tensor& image_u8, int quality) {
  TORCH_CHECK(image_u8.dim() == 3 && image_u8.size(0) == 3 && image_u8.scalar_type() == at::kByte &&
                  image_u8.device().is_cpu(),
              "jpeg_encoded_size: expected a CPU uint8 image [3, H, W], got ", image_u8.sizes(), " ",
              image_u8.scalar_type());
  at::Tensor hwc = image_u8.permute({1, 2, 0}).contiguous();  // [3, H, W] -> [H, W, 3]
  Image image;
  image.height = static_cast<int>(hwc.size(0));
  image.width = static_cast<int>(hwc.size(1));
  image.channels = 3;
  image.pixels.assign(hwc.data_ptr<uint8_t>(), hwc.data_ptr<uint8_t>() + hwc.numel());
  return static_cast<int64_t>(encode_jpeg(image, quality).size());
}

JpegCompressibilityReward::JpegCompressibilityReward() {
  require(jpeg_available(), "reward 'jpeg_compressibility' is not available: this build lacks libjpeg",
          "install libjpeg62-turbo-dev (Debian) or libjpeg-turbo8-dev (Ubuntu) and re-run cmake");
}

at::Tensor JpegCompressibilityReward::score(const at::Tensor& images, const std::vector<std::string>& prompts) {
  check_reward_inputs(*this, images, prompts, at::kFloat);
  // ddpo-pytorch: (images * 255).round().clamp(0, 255).to(uint8), then PIL JPEG at quality 95.
  at::Tensor u8 = (images.detach() * 255).round().clamp(0, 255).to(at::kByte).cpu();  // [B, 3, H, W]
  std::vector<float> kb(static_cast<size_t>(u8.size(0)));
  for (int64_t b = 0; b < u8.size(0); ++b) kb[b] = -static_cast<float>(jpeg_encoded_size(u8[b], 95)) / 1000.0f;
  return at::tensor(kb, at::kFloat).to(images.device());  // [B]
}

std::unique_ptr<JpegCompressibilityReward> make_jpeg_compressibility_reward(const RewardConfig&, c10::Device) {
  return std::make_unique<JpegCompressibilityReward>();
}

}  // namespace nablagfn
