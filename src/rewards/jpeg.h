#pragma once
// JPEG compressibility (DDPO's toy objective): r = −(size of the image as a quality-95 JPEG) / 1000, in kB.
// Port of ddpo-pytorch `jpeg_compressibility` (ddpo_pytorch/rewards.py): uint8 quantisation as
// (x·255).round().clamp(0, 255), baseline JPEG at quality 95 with 4:2:0 chroma subsampling (PIL's defaults).
// What changed: libjpeg(-turbo) (io/jpeg.h) instead of PIL, so sizes can differ from PIL's by header bytes.
// Not differentiable: the result is detached, and gradient methods refuse it (require_differentiable).
// Needs libjpeg at build time (NABLAGFN_HAS_JPEG); without it the constructor throws a one-line Error.
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include <c10/core/Device.h>

#include "config/config.h"
#include "io/jpeg.h"
#include "rewards/reward.h"

namespace nablagfn {

// Bytes of one RGB image [3, H, W] uint8 (CPU, any strides) encoded as a JPEG at `quality` (1..100).
int64_t jpeg_encoded_size(const at::Tensor& image_u8, int quality);

class JpegCompressibilityReward : public Reward {
 public:
  JpegCompressibilityReward();  // Error when the build lacks libjpeg
  std::string name() const override { return "jpeg_compressibility"; }
  bool differentiable() const override { return false; }
  bool uses_prompt() const override { return false; }
  // images [B, 3, H, W] float32 in [0, 1] -> [B] float32 on the images' device, no graph.
  at::Tensor score(const at::Tensor& images, const std::vector<std::string>& prompts) override;
};

std::unique_ptr<JpegCompressibilityReward> make_jpeg_compressibility_reward(const RewardConfig& config,
                                                                             c10::Device device);

}  // namespace nablagfn
