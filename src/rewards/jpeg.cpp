// JPEG compressibility reward; see jpeg.h for the reference and what changed.
#include "rewards/jpeg.h"

#include <ATen/ATen.h>

#include "core/error.h"
#include "rewards/reward_checks.h"

#ifndef NABLAGFN_HAS_JPEG
#define NABLAGFN_HAS_JPEG 0
#endif
#if NABLAGFN_HAS_JPEG
#include <csetjmp>
#include <cstdio>  // jpeglib.h needs FILE and size_t declared first
#include <cstdlib>
#include <jpeglib.h>
#endif

namespace nablagfn {

bool jpeg_available() { return NABLAGFN_HAS_JPEG != 0; }

#if NABLAGFN_HAS_JPEG
namespace jpeg_detail {

// libjpeg's error_exit must not return. C++ exceptions cannot cross the C library's frames, so this is the
// classic setjmp/longjmp recovery; the function holding setjmp has only trivially destructible locals.
struct JpegErrorManager {
  jpeg_error_mgr pub;
  std::jmp_buf jump;
  char message[JMSG_LENGTH_MAX];
};

void jpeg_error_exit(j_common_ptr cinfo) {
  auto* err = reinterpret_cast<JpegErrorManager*>(cinfo->err);
  (*cinfo->err->format_message)(cinfo, err->message);
  std::longjmp(err->jump, 1);
}

// Size in bytes of rgb (H x W x 3, row-major) as a JPEG; -1 with `message` filled on a libjpeg error.
long jpeg_compress_rgb(const uint8_t* rgb, JDIMENSION H, JDIMENSION W, int quality, char* message) {
  jpeg_compress_struct cinfo;
  JpegErrorManager err;
  cinfo.err = jpeg_std_error(&err.pub);
  err.pub.error_exit = jpeg_error_exit;
  unsigned char* buffer = nullptr;
  unsigned long size = 0;
  if (setjmp(err.jump)) {
    jpeg_destroy_compress(&cinfo);
    std::free(buffer);
    std::snprintf(message, JMSG_LENGTH_MAX, "%s", err.message);
    return -1;
  }
  jpeg_create_compress(&cinfo);
  jpeg_mem_dest(&cinfo, &buffer, &size);
  cinfo.image_width = W;
  cinfo.image_height = H;
  cinfo.input_components = 3;
  cinfo.in_color_space = JCS_RGB;
  jpeg_set_defaults(&cinfo);  // YCbCr, 4:2:0, baseline Huffman tables: PIL's defaults
  jpeg_set_quality(&cinfo, quality, TRUE);
  jpeg_start_compress(&cinfo, TRUE);
  while (cinfo.next_scanline < H) {
    JSAMPROW row = const_cast<JSAMPROW>(rgb + static_cast<size_t>(cinfo.next_scanline) * W * 3);
    jpeg_write_scanlines(&cinfo, &row, 1);
  }
  jpeg_finish_compress(&cinfo);
  jpeg_destroy_compress(&cinfo);
  std::free(buffer);
  return static_cast<long>(size);
}

}  // namespace jpeg_detail

int64_t jpeg_encoded_size(const at::Tensor& image_u8, int quality) {
  TORCH_CHECK(image_u8.dim() == 3 && image_u8.size(0) == 3 && image_u8.scalar_type() == at::kByte &&
                  image_u8.device().is_cpu(),
              "jpeg_encoded_size: expected a CPU uint8 image [3, H, W], got ", image_u8.sizes(), " ",
              image_u8.scalar_type());
  at::Tensor hwc = image_u8.permute({1, 2, 0}).contiguous();  // [3, H, W] -> [H, W, 3]
  char message[JMSG_LENGTH_MAX] = {0};
  const long size = jpeg_detail::jpeg_compress_rgb(hwc.data_ptr<uint8_t>(), static_cast<JDIMENSION>(hwc.size(0)),
                                                   static_cast<JDIMENSION>(hwc.size(1)), quality, message);
  require(size >= 0, std::string("libjpeg: ") + message, "the image must be RGB [3, H, W] uint8 with H, W >= 1");
  return size;
}
#else
int64_t jpeg_encoded_size(const at::Tensor&, int) {
  throw Error("JPEG encoding is not available: this build lacks libjpeg",
              "install libjpeg62-turbo-dev (Debian) or libjpeg-turbo8-dev (Ubuntu) and re-run cmake");
}
#endif

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
