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

void write_bytes(const std::string& path, const std::string& bytes) {
  std::ofstream(path, std::ios::binary) << bytes;
}

std::string error_of(const std::string& path) {
  try {
    load_safetensors(path);
  } catch (const Error& e) {
    return e.what();
  }
  return "";
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
  write_bytes(tmp("trunc.safetensors"), good.substr(0, good.size() / 2));
  std::string msg = error_of(tmp("trunc.safetensors"));
  EXPECT_NE(msg.find("corrupt safetensors"), std::string::npos) << msg;
  EXPECT_NE(msg.find("hint"), std::string::npos) << msg;
}

TEST(Safetensors, GarbageAndTinyFilesAreClearErrors) {
  write_bytes(tmp("tiny.safetensors"), "abc");
  EXPECT_NE(error_of(tmp("tiny.safetensors")).find("only 3 bytes"), std::string::npos);
  std::string bad_json = std::string("\x05\0\0\0\0\0\0\0", 8) + "{oops";
  write_bytes(tmp("json.safetensors"), bad_json);
  EXPECT_NE(error_of(tmp("json.safetensors")).find("not JSON"), std::string::npos);
  std::string huge = std::string("\xff\xff\xff\xff\0\0\0\0", 8) + "{}";
  write_bytes(tmp("huge.safetensors"), huge);
  EXPECT_NE(error_of(tmp("huge.safetensors")).find("header length"), std::string::npos);
  std::string header = R"({"a":{"dtype":"F32","shape":[4],"data_offsets":[0,8]}})";
  std::string len(8, '\0');
  len[0] = static_cast<char>(header.size());
  write_bytes(tmp("size.safetensors"), len + header + std::string(8, '\0'));
  EXPECT_NE(error_of(tmp("size.safetensors")).find("bytes for its shape"), std::string::npos);
  EXPECT_NE(error_of(tmp("missing.safetensors")).find("cannot open"), std::string::npos);
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
