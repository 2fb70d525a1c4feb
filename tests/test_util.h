#pragma once
// Helpers shared by the tests: fixture paths, relative-error comparison against fixtures (with an
// optional report of every measured error), scratch folders and files, and the message of an Error.
#include <ftw.h>
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <ATen/ATen.h>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <functional>
#include <string>
#include <vector>

#include "core/error.h"

namespace nablagfn::test {

inline std::string data_path(const std::string& rel) { return std::string(NABLAGFN_TEST_DATA) + "/" + rel; }

// max |a − b| / max |b| (the fixtures' README tolerance measure).
inline double rel_err(const at::Tensor& a, const at::Tensor& b) {
  at::Tensor ad = a.detach().to(at::kDouble).cpu(), bd = b.detach().to(at::kDouble).cpu();
  EXPECT_EQ(ad.sizes(), bd.sizes());
  double denom = bd.abs().max().item<double>();
  return (ad - bd).abs().max().item<double>() / (denom > 0 ? denom : 1.0);
}

// Returns err; with NABLAGFN_REPORT_ERRORS=1 in the environment also prints every measurement as
// "[err] file:line what: measured (tolerance)", which is how the tolerances were set (about 10x measured).
inline double reported_err(double err, double tol, const char* what, const char* file, int line) {
  if (const char* report = std::getenv("NABLAGFN_REPORT_ERRORS"); report != nullptr && report[0] == '1')
    std::printf("[err] %s:%d %s: %.3g (tolerance %.3g)\n", file, line, what, err, tol);
  return err;
}

// A fresh, empty folder <gtest temp dir>/nablagfn_<name>.
inline std::string temp_dir(const std::string& name) {
  const std::string dir = ::testing::TempDir() + "/nablagfn_" + name;
  nftw(
      dir.c_str(), [](const char* path, const struct stat*, int, struct FTW*) { return ::remove(path); }, 16,
      FTW_DEPTH | FTW_PHYS);
  EXPECT_EQ(::mkdir(dir.c_str(), 0755), 0) << dir;
  return dir;
}

// Writes bytes to <gtest temp dir>/<name> and returns the path.
inline std::string temp_file(const std::string& name, const std::string& bytes) {
  const std::string path = ::testing::TempDir() + "/" + name;
  std::ofstream(path, std::ios::binary | std::ios::trunc) << bytes;
  return path;
}

// The message of the nablagfn::Error f throws, "" when it throws none.
inline std::string error_of(const std::function<void()>& f) {
  try {
    f();
  } catch (const Error& e) {
    return e.what();
  }
  return "";
}

// Runs f, expects an Error whose one-line message contains every needle and that carries a hint.
inline void expect_error(const std::function<void()>& f, const std::vector<std::string>& needles) {
  try {
    f();
    ADD_FAILURE() << "no error thrown";
  } catch (const Error& e) {
    const std::string msg = e.what();
    EXPECT_EQ(msg.find('\n'), std::string::npos) << msg;
    EXPECT_FALSE(e.hint().empty()) << msg;
    for (const auto& needle : needles)
      EXPECT_NE(msg.find(needle), std::string::npos) << "'" << needle << "' not in: " << msg;
  }
}

}  // namespace nablagfn::test

// EXPECT rel_err(a, b) <= tol / err <= tol, reported as above; both take << messages like any EXPECT.
#define EXPECT_CLOSE(a, b, tol) \
  EXPECT_LE(::nablagfn::test::reported_err(::nablagfn::test::rel_err((a), (b)), (tol), #a, __FILE__, __LINE__), (tol))
#define EXPECT_ERR_LE(err, tol) EXPECT_LE(::nablagfn::test::reported_err((err), (tol), #err, __FILE__, __LINE__), (tol))
