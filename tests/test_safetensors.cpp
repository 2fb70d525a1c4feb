// safetensors round trip (every dtype), fixture reading, and clear errors on corrupt / truncated files.
#include <ATen/ATen.h>
#include <gtest/gtest.h>

#include <cstdio>
#include <fstream>

#include "core/error.h"
#include "io/atomic_file.h"
#include "io/safetensors.h"
#include "io/tensor_io.h"
#include "test_util.h"

using namespace nablagfn;

namespace {
std::string tmp(const std::string& name) { return ::testing::TempDir() + "/" + name; }

std::string error_of(const std::string& path) {
  return test::error_of([&] { load_safetensors(path); });
}
}  // namespace

TEST(Safetensors, RoundTripsEveryDtype) {
  std::vector<std::pair<std::string, at::Tensor>> tensors = {
      {"f32", at::randn({3, 4})},
      {"f16", at::randn({5}).to(at::kHalf)},
      {"bf16", at::randn({2, 2, 2}).to(at::kBFloat16)},
      {"i64", at::arange(7, at::kLong)},
      {"f64", at::randn({2}, at::kDouble)},
      {"scalar", at::tensor(3.5f).reshape({})},
      {"empty", at::zeros({0, 3})},
  };
  save_safetensors(tmp("rt.safetensors"), tensors, {{"format", "pt"}});
  TensorMap back = load_safetensors(tmp("rt.safetensors"));
  ASSERT_EQ(back.size(), tensors.size());
  for (const auto& [name, t] : tensors) {
    ASSERT_TRUE(back.count(name)) << name;
    EXPECT_EQ(back[name].scalar_type(), t.scalar_type()) << name;
    EXPECT_TRUE(at::equal(back[name], t)) << name;
  }
  SafeTensors file(tmp("rt.safetensors"));
  EXPECT_EQ(file.metadata().at("format"), "pt");
}

TEST(Safetensors, ReadsDiffusersFixture) {
  TensorMap io = load_safetensors(test::data_path("schedulers/io.safetensors"));
  ASSERT_TRUE(io.count("alphas_cumprod"));
  EXPECT_EQ(io["alphas_cumprod"].sizes(), at::IntArrayRef({1000}));
  EXPECT_EQ(io["alphas_cumprod"].scalar_type(), at::kFloat);
}

TEST(Safetensors, TruncatedFileIsAClearError) {
  std::string good = read_file(test::data_path("schedulers/io.safetensors"));
  test::temp_file("trunc.safetensors", good.substr(0, good.size() / 2));
  std::string msg = error_of(tmp("trunc.safetensors"));
  EXPECT_NE(msg.find("corrupt safetensors"), std::string::npos) << msg;
  EXPECT_NE(msg.find("hint"), std::string::npos) << msg;
}

TEST(Safetensors, GarbageAndTinyFilesAreClearErrors) {
  test::temp_file("tiny.safetensors", "abc");
  EXPECT_NE(error_of(tmp("tiny.safetensors")).find("only 3 bytes"), std::string::npos);
  std::string bad_json = std::string("\x05\0\0\0\0\0\0\0", 8) + "{oops";
  test::temp_file("json.safetensors", bad_json);
  EXPECT_NE(error_of(tmp("json.safetensors")).find("not JSON"), std::string::npos);
  std::string huge = std::string("\xff\xff\xff\xff\0\0\0\0", 8) + "{}";
  test::temp_file("huge.safetensors", huge);
  EXPECT_NE(error_of(tmp("huge.safetensors")).find("header length"), std::string::npos);
  std::string header = R"({"a":{"dtype":"F32","shape":[4],"data_offsets":[0,8]}})";
  std::string len(8, '\0');
  len[0] = static_cast<char>(header.size());
  test::temp_file("size.safetensors", len + header + std::string(8, '\0'));
  EXPECT_NE(error_of(tmp("size.safetensors")).find("bytes for its shape"), std::string::npos);
  EXPECT_NE(error_of(tmp("missing.safetensors")).find("cannot open"), std::string::npos);
}

// A safetensors file with the given JSON header and n_data zero bytes of data.
std::string crafted(const std::string& name, const std::string& header, size_t n_data) {
  std::string len(8, '\0');
  for (int i = 0; i < 8; ++i) len[i] = static_cast<char>((header.size() >> (8 * i)) & 0xff);
  test::temp_file(name, len + header + std::string(n_data, '\0'));
  return tmp(name);
}

TEST(Safetensors, OverlappingTensorsAreRefused) {
  // b aliases a's bytes: loading it would let one tensor change another (the format forbids it).
  std::string path = crafted("alias.safetensors",
                             R"({"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},)"
                             R"("b":{"dtype":"F32","shape":[1],"data_offsets":[4,8]}})",
                             8);
  EXPECT_NE(error_of(path).find("overlaps another tensor"), std::string::npos) << error_of(path);
  path = crafted("same.safetensors",
                 R"({"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},)"
                 R"("b":{"dtype":"I32","shape":[2],"data_offsets":[0,8]}})",
                 8);
  EXPECT_NE(error_of(path).find("overlaps another tensor"), std::string::npos) << error_of(path);
}

TEST(Safetensors, GapsAndUnclaimedBytesAreRefused) {
  std::string path = crafted("gap.safetensors",
                             R"({"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4]},)"
                             R"("b":{"dtype":"F32","shape":[1],"data_offsets":[8,12]}})",
                             12);
  EXPECT_NE(error_of(path).find("a gap of 4 bytes precedes tensor 'b'"), std::string::npos) << error_of(path);
  path = crafted("tail.safetensors", R"({"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4]}})", 6);
  EXPECT_NE(error_of(path).find("2 bytes after the last tensor"), std::string::npos) << error_of(path);
  // Empty tensors take no bytes and may sit anywhere in the tiling.
  path = crafted("empty.safetensors",
                 R"({"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4]},)"
                 R"("e":{"dtype":"F32","shape":[0,3],"data_offsets":[4,4]},)"
                 R"("b":{"dtype":"U8","shape":[2],"data_offsets":[4,6]}})",
                 6);
  EXPECT_EQ(error_of(path), "");
}

TEST(Safetensors, ShapeWhoseByteCountOverflowsIsRefused) {
  // 2^32 * 2^32 * 1 byte wraps to 0 in 64 bits and would match an empty data range.
  std::string path =
      crafted("wrap.safetensors", R"({"a":{"dtype":"U8","shape":[4294967296,4294967296],"data_offsets":[0,0]}})", 0);
  EXPECT_NE(error_of(path).find("bytes for its shape"), std::string::npos) << error_of(path);
  path = crafted("float.safetensors", R"({"a":{"dtype":"U8","shape":[1.5],"data_offsets":[0,1]}})", 1);
  EXPECT_NE(error_of(path).find("not an integer"), std::string::npos) << error_of(path);
}

TEST(AtomicFile, LeavesNothingBehindWithoutCommit) {
  std::string path = tmp("atomic.txt");
  std::remove(path.c_str());
  {
    AtomicFile f(path);
    f.write("partial");
  }
  EXPECT_FALSE(std::ifstream(path).good());
  write_file_atomic(path, "whole");
  EXPECT_EQ(read_file(path), "whole");
}
