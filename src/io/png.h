#pragma once
// 8-bit PNG images on libpng, torch-free. io/image_tensor.h converts to and from tensors.
// Pixels are row-major, interleaved: pixels[(y * width + x) * channels + c], c in gray | gray+alpha |
// RGB | RGBA order for channels = 1 | 2 | 3 | 4.
#include <cstdint>
#include <string>
#include <vector>

namespace nablagfn {

struct Image {
  int width = 0;
  int height = 0;
  int channels = 0;
  std::vector<uint8_t> pixels;  // width * height * channels bytes

  // A width x height image with every byte set to fill.
  static Image filled(int width, int height, int channels, uint8_t fill);
  uint8_t* at(int x, int y) { return pixels.data() + (static_cast<size_t>(y) * width + x) * channels; }
  const uint8_t* at(int x, int y) const { return pixels.data() + (static_cast<size_t>(y) * width + x) * channels; }
};

// The PNG file bytes of image (8 bits per channel, no interlacing). Error if the image is inconsistent.
std::string encode_png(const Image& image);
// Writes image as a PNG atomically (encoded in memory, then io/atomic_file.h).
void write_png(const std::string& path, const Image& image);

// Decodes PNG bytes; `source` names them in errors. Palette and low-bit-depth gray expand to 8 bits,
// 16-bit channels are reduced to 8, a tRNS chunk becomes an alpha channel. Error on corrupt data.
Image decode_png(const std::string& bytes, const std::string& source);
// Reads a PNG file; Error with a hint if it is missing, not a PNG, or corrupt.
Image read_png(const std::string& path);

}  // namespace nablagfn
