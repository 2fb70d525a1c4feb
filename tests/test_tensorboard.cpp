// TensorBoard event files: CRC-32C and its mask against the specifications' values, TFRecord framing,
// and our own event file decoded back (a minimal protobuf reader below).
#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <filesystem>
#include <map>

#include "core/error.h"
#include "io/atomic_file.h"
#include "io/crc32c.h"
#include "io/png.h"
#include "io/tensorboard.h"
#include "io/tfrecord.h"

namespace nablagfn {
namespace {

TEST(CRC32C, KnownValues) {
  EXPECT_EQ(crc32c(std::string("123456789")), 0xE3069283u);  // the CRC catalogue's check value
  // RFC 3720 §B.4: 32 bytes of zeros, of ones, incrementing.
  std::string zeros(32, '\0'), ones(32, '\xff'), inc;
  for (int i = 0; i < 32; ++i) inc.push_back(static_cast<char>(i));
  EXPECT_EQ(crc32c(zeros), 0x8A9136AAu);
  EXPECT_EQ(crc32c(ones), 0x62A8AB43u);
  EXPECT_EQ(crc32c(inc), 0x46DD794Eu);
  EXPECT_EQ(crc32c(std::string()), 0u);
}

TEST(CRC32C, Mask) {
  // TensorFlow's Mask: ((crc >> 15) | (crc << 17)) + 0xa282ead8.
  EXPECT_EQ(mask_crc32c(0), 0xa282ead8u);
  EXPECT_EQ(mask_crc32c(0xE3069283u), ((0xE3069283u >> 15) | (0xE3069283u << 17)) + 0xa282ead8u);
  EXPECT_EQ(mask_crc32c(1u << 15), 1u + 0xa282ead8u);
}

TEST(TFRecord, FramingLayoutAndRoundTrip) {
  const std::string data = "hello tensorboard";
  const std::string framed = frame_tfrecord(data);
  ASSERT_EQ(framed.size(), 8 + 4 + data.size() + 4);
  EXPECT_EQ(static_cast<unsigned char>(framed[0]), data.size());
  for (int i = 1; i < 8; ++i) EXPECT_EQ(framed[i], '\0');
  auto u32 = [&](size_t at) {
    uint32_t v;
    std::memcpy(&v, framed.data() + at, 4);  // little-endian host (x86, aarch64)
    return v;
  };
  EXPECT_EQ(u32(8), mask_crc32c(crc32c(framed.data(), 8)));
  EXPECT_EQ(framed.substr(12, data.size()), data);
  EXPECT_EQ(u32(12 + data.size()), mask_crc32c(crc32c(data)));
  const auto back = read_tfrecords(framed + frame_tfrecord("") + frame_tfrecord("x"));
  ASSERT_EQ(back.size(), 3u);
  EXPECT_EQ(back[0], data);
  EXPECT_EQ(back[1], "");
  EXPECT_EQ(back[2], "x");
}

TEST(TFRecord, CorruptOrTruncatedIsAnError) {
  std::string framed = frame_tfrecord("payload");
  EXPECT_THROW(read_tfrecords(framed.substr(0, framed.size() - 1)), Error);
  std::string flipped = framed;
  flipped[14] ^= 1;
  EXPECT_THROW(read_tfrecords(flipped), Error);
  std::string bad_length = framed;
  bad_length[0] ^= 1;
  EXPECT_THROW(read_tfrecords(bad_length), Error);
}

// field number -> raw values (varints as numbers in `ints`, fixed and length-delimited as bytes).
struct Fields {
  std::multimap<int, uint64_t> ints;
  std::multimap<int, std::string> bytes;
};
Fields parse_message(const std::string& m) {
  Fields f;
  size_t at = 0;
  auto varint = [&]() {
    uint64_t v = 0;
    for (int shift = 0;; shift += 7) {
      const auto b = static_cast<unsigned char>(m.at(at++));
      v |= static_cast<uint64_t>(b & 0x7F) << shift;
      if (!(b & 0x80)) return v;
    }
  };
  while (at < m.size()) {
    const uint64_t key = varint();
    const int field = static_cast<int>(key >> 3);
    switch (key & 7) {
      case 0: f.ints.emplace(field, varint()); break;
      case 1: f.bytes.emplace(field, m.substr(at, 8)); at += 8; break;
      case 5: f.bytes.emplace(field, m.substr(at, 4)); at += 4; break;
      case 2: {
        const uint64_t n = varint();
        f.bytes.emplace(field, m.substr(at, n));
        at += n;
        break;
      }
      default: ADD_FAILURE() << "unexpected wire type " << (key & 7); return f;
    }
  }
  return f;
}

TEST(TensorBoard, EventFileDecodesBack) {
  const std::string dir = std::string(NABLAGFN_BINARY_DIR) + "/test_tensorboard_run";
  std::filesystem::remove_all(dir);
  std::string path;
  const std::string png = encode_png(Image::filled(5, 3, 3, 200));
  {
    TensorBoardWriter tb(dir);
    path = tb.path();
    tb.add_scalars({{"reward_mean", 0.25}, {"diversity", 1.5}, {"nan", std::nan("")}}, 7);
    tb.add_png("samples", png, 9);
    EXPECT_THROW(tb.add_png("bad", "not a png at all, just some text bytes", 9), Error);
  }
  EXPECT_EQ(std::filesystem::path(path).filename().string().rfind("events.out.tfevents.", 0), 0u);
  const auto records = read_tfrecords(read_file(path));
  ASSERT_EQ(records.size(), 3u);

  Fields version = parse_message(records[0]);
  EXPECT_EQ(version.bytes.find(3)->second, "brain.Event:2");
  EXPECT_EQ(version.bytes.find(1)->second.size(), 8u);  // wall_time, fixed64

  Fields scalars = parse_message(records[1]);
  EXPECT_EQ(scalars.ints.find(2)->second, 7u);
  Fields summary = parse_message(scalars.bytes.find(5)->second);
  std::map<std::string, float> got;
  for (auto it = summary.bytes.lower_bound(1); it != summary.bytes.upper_bound(1); ++it) {
    Fields value = parse_message(it->second);
    float v;
    std::memcpy(&v, value.bytes.find(2)->second.data(), 4);
    got[value.bytes.find(1)->second] = v;
  }
  EXPECT_EQ(got, (std::map<std::string, float>{{"diversity", 1.5f}, {"reward_mean", 0.25f}}));  // NaN skipped

  Fields image_event = parse_message(records[2]);
  EXPECT_EQ(image_event.ints.find(2)->second, 9u);
  Fields value = parse_message(parse_message(image_event.bytes.find(5)->second).bytes.find(1)->second);
  EXPECT_EQ(value.bytes.find(1)->second, "samples");
  Fields image = parse_message(value.bytes.find(4)->second);
  EXPECT_EQ(image.ints.find(1)->second, 3u);  // height
  EXPECT_EQ(image.ints.find(2)->second, 5u);  // width
  EXPECT_EQ(image.ints.find(3)->second, 3u);  // RGB
  EXPECT_EQ(image.bytes.find(4)->second, png);
  std::filesystem::remove_all(dir);
}

}  // namespace
}  // namespace nablagfn
