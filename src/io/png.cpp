// PNG encode / decode on libpng's classic API with in-memory read and write callbacks, so writing goes
// through io/atomic_file.h and reading gives one clear error for a missing, truncated or corrupt file.
// libpng reports errors by longjmp: the functions that call setjmp hold only objects constructed
// before it, and the C++ exception is thrown after libpng has been torn down.
#include "io/png.h"

#include <png.h>

#include <csetjmp>
#include <cstdio>
#include <cstring>

#include "core/error.h"
#include "io/atomic_file.h"

namespace nablagfn {
namespace png_detail {

constexpr size_t kErrorSize = 256;
// Decoded images above this many bytes are refused (a corrupt header can claim 2^31 x 2^31 pixels).
constexpr size_t kMaxDecodedBytes = size_t{1} << 31;

struct ReadCursor {
  const std::string* bytes;
  size_t pos;
};

void png_error_to_buffer(png_structp png, png_const_charp message) {
  std::snprintf(static_cast<char*>(png_get_error_ptr(png)), kErrorSize, "%s", message);
  png_longjmp(png, 1);
}

void png_ignore_warning(png_structp, png_const_charp) {}

void png_append_to_string(png_structp png, png_bytep data, png_size_t n) {
  static_cast<std::string*>(png_get_io_ptr(png))->append(reinterpret_cast<const char*>(data), n);
}

void png_flush_nothing(png_structp) {}

void png_read_from_cursor(png_structp png, png_bytep data, png_size_t n) {
  auto* cursor = static_cast<ReadCursor*>(png_get_io_ptr(png));
  if (cursor->pos + n > cursor->bytes->size()) png_error(png, "unexpected end of data (truncated file)");
  std::memcpy(data, cursor->bytes->data() + cursor->pos, n);
  cursor->pos += n;
}

int png_color_type_of(int channels) {
  switch (channels) {
    case 1:
      return PNG_COLOR_TYPE_GRAY;
    case 2:
      return PNG_COLOR_TYPE_GRAY_ALPHA;
    case 3:
      return PNG_COLOR_TYPE_RGB;
    default:
      return PNG_COLOR_TYPE_RGB_ALPHA;
  }
}

// False with error filled on a libpng failure.
bool png_encode_into(const Image& image, std::string* out, char* error) {
  png_structp png = png_create_write_struct(PNG_LIBPNG_VER_STRING, error, png_error_to_buffer, png_ignore_warning);
  png_infop info = png != nullptr ? png_create_info_struct(png) : nullptr;
  if (info == nullptr) {
    png_destroy_write_struct(&png, nullptr);
    std::snprintf(error, kErrorSize, "out of memory");
    return false;
  }
  if (setjmp(png_jmpbuf(png))) {
    png_destroy_write_struct(&png, &info);
    return false;
  }
  png_set_write_fn(png, out, png_append_to_string, png_flush_nothing);
  png_set_IHDR(png, info, image.width, image.height, 8, png_color_type_of(image.channels), PNG_INTERLACE_NONE,
               PNG_COMPRESSION_TYPE_DEFAULT, PNG_FILTER_TYPE_DEFAULT);
  png_write_info(png, info);
  for (int y = 0; y < image.height; ++y) png_write_row(png, const_cast<png_bytep>(image.at(0, y)));
  png_write_end(png, nullptr);
  png_destroy_write_struct(&png, &info);
  return true;
}

// False with error filled on a libpng failure; image is then unspecified.
bool png_decode_into(const std::string& bytes, Image* image, char* error) {
  ReadCursor cursor{&bytes, 0};
  std::vector<png_bytep> rows;
  png_structp png = png_create_read_struct(PNG_LIBPNG_VER_STRING, error, png_error_to_buffer, png_ignore_warning);
  png_infop info = png != nullptr ? png_create_info_struct(png) : nullptr;
  if (info == nullptr) {
    png_destroy_read_struct(&png, nullptr, nullptr);
    std::snprintf(error, kErrorSize, "out of memory");
    return false;
  }
  if (setjmp(png_jmpbuf(png))) {
    png_destroy_read_struct(&png, &info, nullptr);
    return false;
  }
  png_set_read_fn(png, &cursor, png_read_from_cursor);
  png_read_info(png, info);
  png_set_expand(png);    // palette -> RGB, gray < 8 bits -> 8 bits, tRNS -> alpha
  png_set_strip_16(png);  // 16 -> 8 bits per channel
  png_set_interlace_handling(png);
  png_read_update_info(png, info);
  const size_t width = png_get_image_width(png, info), height = png_get_image_height(png, info);
  const size_t channels = png_get_channels(png, info);
  if (width * height * channels > kMaxDecodedBytes) png_error(png, "image too large");
  image->width = static_cast<int>(width);
  image->height = static_cast<int>(height);
  image->channels = static_cast<int>(channels);
  image->pixels.resize(width * height * channels);
  rows.resize(height);
  for (size_t y = 0; y < height; ++y) rows[y] = image->pixels.data() + y * width * channels;
  png_read_image(png, rows.data());
  png_read_end(png, nullptr);
  png_destroy_read_struct(&png, &info, nullptr);
  return true;
}

}  // namespace png_detail

Image Image::filled(int width, int height, int channels, uint8_t fill) {
  Image image{width, height, channels, {}};
  image.pixels.assign(static_cast<size_t>(width) * height * channels, fill);
  return image;
}

std::string encode_png(const Image& image) {
  require(image.width > 0 && image.height > 0 && image.channels >= 1 && image.channels <= 4,
          "cannot encode a " + std::to_string(image.width) + "x" + std::to_string(image.height) + " image with " +
              std::to_string(image.channels) + " channels as PNG",
          "width and height must be positive and channels 1 (gray), 2, 3 (RGB) or 4 (RGBA)");
  require(image.pixels.size() == static_cast<size_t>(image.width) * image.height * image.channels,
          "image buffer holds " + std::to_string(image.pixels.size()) + " bytes, expected width*height*channels",
          "fill Image::pixels row-major with channels interleaved");
  std::string out;
  char error[png_detail::kErrorSize] = "";
  if (!png_detail::png_encode_into(image, &out, error))
    throw Error(std::string("PNG encoding failed: ") + error, "this is a bug in nablagfn; please report it");
  return out;
}

void write_png(const std::string& path, const Image& image) { write_file_atomic(path, encode_png(image)); }

Image decode_png(const std::string& bytes, const std::string& source) {
  constexpr size_t kSignatureSize = 8;
  if (bytes.size() < kSignatureSize ||
      png_sig_cmp(reinterpret_cast<png_const_bytep>(bytes.data()), 0, kSignatureSize) != 0)
    throw Error("'" + source + "' is not a PNG file", "it lacks the PNG signature; convert the image to PNG");
  Image image;
  char error[png_detail::kErrorSize] = "";
  if (!png_detail::png_decode_into(bytes, &image, error))
    throw Error("cannot decode PNG '" + source + "': " + error, "the file is damaged or truncated; re-export it");
  return image;
}

Image read_png(const std::string& path) { return decode_png(read_file(path), path); }

}  // namespace nablagfn
