#pragma once
// Helpers shared by the tests: fixture paths and relative-error comparison against fixtures.
#include <gtest/gtest.h>

#include <ATen/ATen.h>
#include <string>

namespace nablagfn::test {

inline std::string data_path(const std::string& rel) { return std::string(NABLAGFN_TEST_DATA) + "/" + rel; }

// max |a − b| / max |b| (the fixtures' README tolerance measure).
inline double rel_err(const at::Tensor& a, const at::Tensor& b) {
  at::Tensor ad = a.detach().to(at::kDouble).cpu(), bd = b.detach().to(at::kDouble).cpu();
  EXPECT_EQ(ad.sizes(), bd.sizes());
  double denom = bd.abs().max().item<double>();
  return (ad - bd).abs().max().item<double>() / (denom > 0 ? denom : 1.0);
}

}  // namespace nablagfn::test

#define EXPECT_CLOSE(a, b, tol) EXPECT_LE(::nablagfn::test::rel_err((a), (b)), (tol))
