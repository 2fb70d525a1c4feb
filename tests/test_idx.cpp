// The IDX reader (io/idx.h) on crafted files: a valid one parses to the right shape and bytes; a wrong
// magic, an unsupported type, a truncated header or body, trailing bytes, a corrupt or truncated gzip
// stream are each an Error that names the file.
#include <gtest/gtest.h>
#include <zlib.h>

#include <string>

#include "core/error.h"
#include "io/atomic_file.h"
#include "io/idx.h"

namespace nablagfn {
namespace {

// IDX bytes of unsigned-byte data with the given sizes, filled 0, 1, 2, ...
std::string idx_bytes(const std::vector<uint32_t>& shape) {
  std::string s = {0, 0, 0x08, static_cast<char>(shape.size())};
  size_t numel = 1;
  for (uint32_t d : shape) {
    for (int k = 3; k >= 0; --k) s += static_cast<char>((d >> (8 * k)) & 0xff);
    numel *= d;
  }
  for (size_t i = 0; i < numel; ++i) s += static_cast<char>(i % 251);
  return s;
}

std::string gzip_file(const std::string& name, const std::string& bytes) {
  const std::string path = ::testing::TempDir() + "/" + name;
  gzFile f = gzopen(path.c_str(), "wb");
  gzwrite(f, bytes.data(), static_cast<unsigned>(bytes.size()));
  gzclose(f);
  return path;
}

// Runs f, expecting an Error whose message contains needle.
template <class F>
void expect_error(F f, const std::string& needle) {
  try {
    f();
    ADD_FAILURE() << "no Error; expected one mentioning '" << needle << "'";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find(needle), std::string::npos) << e.what();
  }
}

TEST(Idx, ParsesShapeAndData) {
  IdxArray a = parse_idx(idx_bytes({3, 4, 5}), "mem");
  EXPECT_EQ(a.shape, (std::vector<int64_t>{3, 4, 5}));
  ASSERT_EQ(a.data.size(), 60u);
  EXPECT_EQ(a.data[0], 0);
  EXPECT_EQ(a.data[59], 59);
}

TEST(Idx, RejectsBadHeadersAndSizes) {
  std::string bad_magic = idx_bytes({2});
  bad_magic[0] = 1;
  expect_error([&] { parse_idx(bad_magic, "m1"); }, "not an IDX file");
  std::string floats = idx_bytes({2});
  floats[2] = 0x0D;
  expect_error([&] { parse_idx(floats, "m2"); }, "not unsigned bytes");
  expect_error([&] { parse_idx(idx_bytes({2, 3}).substr(0, 9), "m3"); }, "truncated inside its IDX header");
  const std::string full = idx_bytes({4, 4});
  expect_error([&] { parse_idx(full.substr(0, full.size() - 1), "m4"); }, "(truncated)");
  expect_error([&] { parse_idx(full + "x", "m5"); }, "(trailing data)");
  expect_error([&] { parse_idx("\0\0", "m6"); }, "too short");
}

TEST(Idx, ReadsGzipAndRejectsCorruptOrTruncatedStreams) {
  const std::string bytes = idx_bytes({10, 7});
  const std::string good = gzip_file("good-idx1-ubyte.gz", bytes);
  IdxArray a = read_idx(good);
  EXPECT_EQ(a.shape, (std::vector<int64_t>{10, 7}));
  EXPECT_EQ(a.data.size(), 70u);

  const std::string packed = read_file(good);
  const std::string cut = ::testing::TempDir() + "/cut-idx1-ubyte.gz";
  write_file_atomic(cut, packed.substr(0, packed.size() / 2));
  expect_error([&] { read_idx(cut); }, "truncated");

  std::string flipped = packed;
  for (size_t i = 12; i < flipped.size() - 8; ++i) flipped[i] = static_cast<char>(flipped[i] ^ 0x5a);
  const std::string corrupt = ::testing::TempDir() + "/corrupt-idx1-ubyte.gz";
  write_file_atomic(corrupt, flipped);
  expect_error([&] { read_idx(corrupt); }, "corrupt-idx1-ubyte.gz");

  const std::string plain = ::testing::TempDir() + "/plain-idx1-ubyte.gz";
  write_file_atomic(plain, bytes);
  expect_error([&] { read_idx(plain); }, "not a valid gzip file");
  expect_error([&] { read_idx(::testing::TempDir() + "/absent.gz"); }, "does not exist");
}

}  // namespace
}  // namespace nablagfn
