// JPEG encoding; see jpeg.h.
#include "io/jpeg.h"

#include "core/error.h"
#include "io/atomic_file.h"

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
namespace {

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

// pixels (H x W x C, row-major) as a JPEG into *out (malloc'ed, *size bytes); false with `message` filled
// on a libjpeg error.
bool jpeg_compress(const uint8_t* pixels, JDIMENSION H, JDIMENSION W, int C, int quality, unsigned char** out,
                   unsigned long* size, char* message) {
  jpeg_compress_struct cinfo;
  JpegErrorManager err;
  cinfo.err = jpeg_std_error(&err.pub);
  err.pub.error_exit = jpeg_error_exit;
  if (setjmp(err.jump)) {
    jpeg_destroy_compress(&cinfo);
    std::free(*out);
    *out = nullptr;
    std::snprintf(message, JMSG_LENGTH_MAX, "%s", err.message);
    return false;
  }
  jpeg_create_compress(&cinfo);
  jpeg_mem_dest(&cinfo, out, size);
  cinfo.image_width = W;
  cinfo.image_height = H;
  cinfo.input_components = C;
  cinfo.in_color_space = C == 1 ? JCS_GRAYSCALE : JCS_RGB;
  jpeg_set_defaults(&cinfo);  // YCbCr, 4:2:0, baseline Huffman tables: PIL's defaults
  jpeg_set_quality(&cinfo, quality, TRUE);
  jpeg_start_compress(&cinfo, TRUE);
  while (cinfo.next_scanline < H) {
    JSAMPROW row = const_cast<JSAMPROW>(pixels + static_cast<size_t>(cinfo.next_scanline) * W * C);
    jpeg_write_scanlines(&cinfo, &row, 1);
  }
  jpeg_finish_compress(&cinfo);
  jpeg_destroy_compress(&cinfo);
  return true;
}

}  // namespace

std::string encode_jpeg(const Image& image, int quality) {
  require((image.channels == 1 || image.channels == 3) && image.width >= 1 && image.height >= 1 &&
              image.pixels.size() == static_cast<size_t>(image.width) * image.height * image.channels,
          "cannot encode a " + std::to_string(image.width) + "x" + std::to_string(image.height) + "x" +
              std::to_string(image.channels) + " image as JPEG",
          "JPEG holds gray or RGB images of at least 1x1 pixels; write a .png for images with alpha");
  require(quality >= 1 && quality <= 100, "JPEG quality " + std::to_string(quality) + " is outside 1..100",
          "use a quality between 1 and 100 (95 is PIL's high-quality setting)");
  unsigned char* buffer = nullptr;
  unsigned long size = 0;
  char message[JMSG_LENGTH_MAX] = {0};
  const bool ok = jpeg_compress(image.pixels.data(), static_cast<JDIMENSION>(image.height),
                                static_cast<JDIMENSION>(image.width), image.channels, quality, &buffer, &size, message);
  require(ok, std::string("libjpeg: ") + message, "this is unexpected; please report it");
  std::string bytes(reinterpret_cast<const char*>(buffer), size);
  std::free(buffer);
  return bytes;
}
#else
std::string encode_jpeg(const Image&, int) {
  throw Error("JPEG encoding is not available: this build lacks libjpeg",
              "install libjpeg62-turbo-dev (Debian) or libjpeg-turbo8-dev (Ubuntu) and re-run cmake, or write a .png");
}
#endif

void write_jpeg(const std::string& path, const Image& image, int quality) {
  write_file_atomic(path, encode_jpeg(image, quality));
}

}  // namespace nablagfn
