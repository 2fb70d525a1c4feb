// PNG codec (round trip for every channel count, palette / 16-bit expansion, clear errors on missing or
// corrupt files) and the tensor bridge (quantisation, make_grid layout as torchvision).
#include <ATen/ATen.h>
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>

#include "core/error.h"
#include "io/image_tensor.h"
#include "io/png.h"
#include "test_util.h"

using namespace nablagfn;

namespace {
std::string png_tmp(const std::string& name) { return ::testing::TempDir() + "/" + name; }

void png_write_bytes(const std::string& path, const std::string& bytes) {
  std::ofstream(path, std::ios::binary) << bytes;
}

std::string png_error_of(const std::string& path) {
  try {
    read_png(path);
  } catch (const Error& e) {
    return e.what();
  }
  return "";
}

Image png_test_pattern(int width, int height, int channels) {
  Image image = Image::filled(width, height, channels, 0);
  for (size_t i = 0; i < image.pixels.size(); ++i) image.pixels[i] = static_cast<uint8_t>((i * 37 + i / 7) % 256);
  return image;
}

// Written by hand with Python's zlib: 2x2, 2-bit palette {red, green, blue, white}, tRNS alpha 128 for red.
const std::string kPalettePng(
    "\x89\x50\x4e\x47\x0d\x0a\x1a\x0a\x00\x00\x00\x0d\x49\x48\x44\x52\x00\x00\x00\x02\x00\x00\x00\x02\x02\x03"
    "\x00\x00\x00\x0f\xd8\xe5\xb7\x00\x00\x00\x0c\x50\x4c\x54\x45\xff\x00\x00\x00\xff\x00\x00\x00\xff\xff\xff"
    "\xff\xfb\x00\x60\xf6\x00\x00\x00\x01\x74\x52\x4e\x53\x80\xad\x5e\x5b\x46\x00\x00\x00\x0c\x49\x44\x41\x54"
    "\x78\x9c\x63\x10\x60\xd8\x00\x00\x00\xe4\x00\xc1\x27\xa8\xe8\x57\x00\x00\x00\x00\x49\x45\x4e\x44\xae\x42"
    "\x60\x82",
    106);
// 2x1, 16-bit gray, values 0x1234 and 0xff00.
const std::string kGray16Png(
    "\x89\x50\x4e\x47\x0d\x0a\x1a\x0a\x00\x00\x00\x0d\x49\x48\x44\x52\x00\x00\x00\x02\x00\x00\x00\x01\x10\x00"
    "\x00\x00\x00\x81\xd9\xfc\x15\x00\x00\x00\x0d\x49\x44\x41\x54\x78\x9c\x63\x10\x32\xf9\xcf\x00\x00\x02\xe7"
    "\x01\x46\x7f\xfb\x8c\x42\x00\x00\x00\x00\x49\x45\x4e\x44\xae\x42\x60\x82",
    70);
}  // namespace

TEST(Png, RoundTripsEveryChannelCount) {
  for (int channels = 1; channels <= 4; ++channels) {
    const Image image = png_test_pattern(13, 7, channels);
    const std::string path = png_tmp("png_round_trip_" + std::to_string(channels) + ".png");
    write_png(path, image);
    const Image back = read_png(path);
    EXPECT_EQ(back.width, 13);
    EXPECT_EQ(back.height, 7);
    EXPECT_EQ(back.channels, channels);
    EXPECT_EQ(back.pixels, image.pixels) << channels << " channels";
  }
}

TEST(Png, WritesAtomicallyWithoutLeftovers) {
  const std::string folder = png_tmp("png_atomic");
  std::filesystem::remove_all(folder);
  std::filesystem::create_directories(folder);
  write_png(folder + "/a.png", png_test_pattern(4, 4, 3));
  write_png(folder + "/a.png", png_test_pattern(5, 2, 1));  // overwrites in place
  int n_files = 0;
  for (const auto& entry : std::filesystem::directory_iterator(folder)) {
    EXPECT_EQ(entry.path().filename(), "a.png");
    ++n_files;
  }
  EXPECT_EQ(n_files, 1);
  EXPECT_EQ(read_png(folder + "/a.png").width, 5);
}

TEST(Png, ExpandsPaletteTransparencyAnd16Bit) {
  const Image palette = decode_png(kPalettePng, "palette");
  ASSERT_EQ(palette.channels, 4);
  const std::vector<uint8_t> rgba = {255, 0, 0, 128, 0, 255, 0, 255, 0, 0, 255, 255, 255, 255, 255, 255};
  EXPECT_EQ(palette.pixels, rgba);
  const Image gray = decode_png(kGray16Png, "gray16");
  ASSERT_EQ(gray.channels, 1);
  EXPECT_EQ(gray.pixels, (std::vector<uint8_t>{0x12, 0xff}));
}

TEST(Png, MissingFileIsAClearError) {
  const std::string message = png_error_of(png_tmp("png_no_such_file.png"));
  EXPECT_NE(message.find("png_no_such_file.png"), std::string::npos) << message;
  EXPECT_NE(message.find("hint"), std::string::npos) << message;
}

TEST(Png, CorruptFilesAreClearErrors) {
  const std::string not_png = png_tmp("png_not_a_png.png");
  png_write_bytes(not_png, "GIF89a, or any text");
  EXPECT_NE(png_error_of(not_png).find("is not a PNG file"), std::string::npos) << png_error_of(not_png);

  const std::string bytes = encode_png(png_test_pattern(32, 32, 3));
  const std::string truncated = png_tmp("png_truncated.png");
  png_write_bytes(truncated, bytes.substr(0, bytes.size() / 2));
  EXPECT_NE(png_error_of(truncated).find("cannot decode PNG"), std::string::npos) << png_error_of(truncated);

  std::string flipped = bytes;
  flipped[bytes.size() / 2] ^= 0x5a;  // inside IDAT: its CRC no longer matches
  const std::string damaged = png_tmp("png_damaged.png");
  png_write_bytes(damaged, flipped);
  EXPECT_NE(png_error_of(damaged).find("cannot decode PNG"), std::string::npos) << png_error_of(damaged);
}

TEST(Png, RejectsInconsistentImages) {
  Image image = png_test_pattern(4, 4, 3);
  image.pixels.pop_back();
  EXPECT_THROW(encode_png(image), Error);
  EXPECT_THROW(encode_png(Image::filled(4, 4, 5, 0)), Error);
  EXPECT_THROW(encode_png(Image{}), Error);
}

TEST(PngImageTensor, QuantisesAndClampsLikeSaveImage) {
  at::Tensor chw = at::tensor({0.0f, 0.5f, 1.0f, -0.2f, 1.3f, 0.1f}).reshape({1, 2, 3});  // [C, H, W]
  const Image image = image_from_tensor(chw);
  EXPECT_EQ(image.width, 3);
  EXPECT_EQ(image.height, 2);
  EXPECT_EQ(image.channels, 1);
  EXPECT_EQ(image.pixels, (std::vector<uint8_t>{0, 128, 255, 0, 255, 26}));
  EXPECT_THROW(image_from_tensor(at::full({3, 2, 2}, NAN)), c10::Error);
  EXPECT_THROW(image_from_tensor(at::zeros({2, 2, 2})), c10::Error);  // two channels
  EXPECT_THROW(image_from_tensor(at::zeros({3, 2, 2}, at::kByte)), c10::Error);
}

TEST(PngImageTensor, TensorRoundTripIsExactOnTheGrid) {
  at::Tensor chw = at::randint(0, 256, {3, 5, 4}).to(at::kFloat) / 255.0;  // [C, H, W]
  at::Tensor back = tensor_from_image(image_from_tensor(chw));
  EXPECT_EQ(back.sizes(), chw.sizes());
  EXPECT_CLOSE(back, chw, 1e-6);
}

TEST(PngGrid, LayoutMatchesTorchvision) {
  // N=5 images of 1x4x6, 3 columns, pad 2: width 3*(6+2)+2 = 26, height 2*(4+2)+2 = 14.
  const int N = 5, H = 4, W = 6;
  at::Tensor images = at::arange(N, at::kFloat).add(1).div(8).view({N, 1, 1, 1}).expand({N, 1, H, W});
  const Image grid = make_grid(images, 3, 2, 1.0f);
  ASSERT_EQ(grid.width, 26);
  ASSERT_EQ(grid.height, 14);
  ASSERT_EQ(grid.channels, 1);
  for (int n = 0; n < N; ++n) {
    const int x0 = (n % 3) * (W + 2) + 2, y0 = (n / 3) * (H + 2) + 2;
    const uint8_t expected = static_cast<uint8_t>(std::lround((n + 1) / 8.0 * 255));
    EXPECT_EQ(*grid.at(x0, y0), expected) << "tile " << n;
    EXPECT_EQ(*grid.at(x0 + W - 1, y0 + H - 1), expected) << "tile " << n;
    EXPECT_EQ(*grid.at(x0 - 1, y0), 255) << "padding left of tile " << n;
    EXPECT_EQ(*grid.at(x0 + W, y0 + H), 255) << "padding after tile " << n;
  }
  EXPECT_EQ(*grid.at(2 * (W + 2) + 2, H + 2 + 2), 255);  // the unused sixth tile stays padding
  const std::string path = png_tmp("png_grid.png");
  write_png(path, grid);
  EXPECT_EQ(read_png(path).pixels, grid.pixels);
  const Image one_row = make_grid(at::zeros({2, 3, 4, 4}), 8);
  EXPECT_EQ(one_row.width, 2 * 6 + 2);  // min(N, n_cols) columns
  EXPECT_EQ(one_row.height, 6 + 2);
  EXPECT_EQ(one_row.channels, 3);
}
