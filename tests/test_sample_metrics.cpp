// Diversity and Fréchet distance on inputs with known answers (issue 11).
#include <ATen/ATen.h>
#include <gtest/gtest.h>

#include <cmath>
#include <utility>

#include "core/error.h"
#include "metrics/features.h"
#include "metrics/sample_metrics.h"

namespace nablagfn {
namespace {

TEST(SampleMetrics, PairwiseCosineDistanceByHand) {
  // cos((1,0),(0,1)) = 0, cos((1,0),(1,1)) = cos((0,1),(1,1)) = 1/√2: mean distance (1 + 2 (1 − 1/√2)) / 3.
  at::Tensor f = at::tensor({1.0, 0.0, 0.0, 1.0, 1.0, 1.0}).reshape({3, 2});
  const double expected = (1.0 + 2.0 * (1.0 - 1.0 / std::sqrt(2.0))) / 3.0;
  EXPECT_NEAR(mean_pairwise_cosine_distance(f), expected, 1e-12);
  // Scale of each row does not matter; a set of one direction has distance 0.
  at::Tensor scaled = f * at::tensor({2.0, 0.5, 7.0}).unsqueeze(1);
  EXPECT_NEAR(mean_pairwise_cosine_distance(scaled), expected, 1e-12);
  EXPECT_NEAR(mean_pairwise_cosine_distance(at::tensor({1.0, 2.0, 3.0, 6.0}).reshape({2, 2})), 0.0, 1e-12);
}

TEST(SampleMetrics, PairwiseMatchesTheQuadraticFormula) {
  at::Tensor f = at::randn({17, 5}, at::detail::createCPUGenerator(3), at::TensorOptions().dtype(at::kDouble));
  at::Tensor u = f / f.norm(2, 1, true);
  at::Tensor d = 1 - u.matmul(u.transpose(0, 1));  // [17, 17]
  const double off_diag = (d.sum() - d.diagonal().sum()).item<double>() / (17.0 * 16.0);
  EXPECT_NEAR(mean_pairwise_cosine_distance(f), off_diag, 1e-12);
}

TEST(SampleMetrics, IdenticalSetsHaveZeroFrechetDistance) {
  at::Tensor a = at::randn({50, 8}, at::detail::createCPUGenerator(1));
  EXPECT_NEAR(frechet_distance_of(a, a), 0.0, 1e-9);
  // Fewer samples than dimensions: singular covariances, still zero.
  at::Tensor few = at::randn({4, 32}, at::detail::createCPUGenerator(2));
  EXPECT_NEAR(frechet_distance_of(few, few), 0.0, 1e-9);
}

TEST(SampleMetrics, FrechetDistanceOfTwoGaussiansInClosedForm) {
  // 1-D: (μ1 − μ2)² + (s1 − s2)².
  auto one = [](double v) { return at::tensor({v}, at::kDouble); };
  EXPECT_NEAR(frechet_distance(one(1.0), one(4.0).reshape({1, 1}), one(-2.0), one(9.0).reshape({1, 1})),
              9.0 + 1.0, 1e-12);
  // 2-D, non-commuting covariances: Tr √(Σ1 Σ2) = √(tr(Σ1 Σ2) + 2 √(det Σ1 det Σ2)) for 2 x 2 matrices.
  at::Tensor s1 = at::tensor({2.0, 0.5, 0.5, 1.0}, at::kDouble).reshape({2, 2});
  at::Tensor s2 = at::tensor({1.0, -0.3, -0.3, 3.0}, at::kDouble).reshape({2, 2});
  at::Tensor m1 = at::tensor({0.0, 1.0}, at::kDouble), m2 = at::tensor({2.0, -1.0}, at::kDouble);
  const double det1 = 2.0 * 1.0 - 0.25, det2 = 3.0 - 0.09;
  const double tr12 = s1.matmul(s2).trace().item<double>();
  const double expected = 8.0 + 3.0 + 4.0 - 2.0 * std::sqrt(tr12 + 2.0 * std::sqrt(det1 * det2));
  EXPECT_NEAR(frechet_distance(m1, s1, m2, s2), expected, 1e-10);
  EXPECT_NEAR(frechet_distance(m2, s2, m1, s1), expected, 1e-10);
}

TEST(SampleMetrics, FewSamplesRouteMatchesTheCovarianceFormula) {
  // 5 and 7 samples of 40 features: the cross-Gram route against the F x F covariance formula.
  at::Tensor a = at::randn({5, 40}, at::detail::createCPUGenerator(4), at::TensorOptions().dtype(at::kDouble));
  at::Tensor b = at::randn({7, 40}, at::detail::createCPUGenerator(5), at::TensorOptions().dtype(at::kDouble)) + 0.3;
  auto fit = [](const at::Tensor& x) {
    at::Tensor c = x - x.mean(0);
    return std::make_pair(x.mean(0), c.transpose(0, 1).matmul(c) / (x.size(0) - 1.0));
  };
  auto [mu_a, s_a] = fit(a);
  auto [mu_b, s_b] = fit(b);
  const double expected = frechet_distance(mu_a, s_a, mu_b, s_b);
  EXPECT_GT(expected, 1.0);
  // The F x F route takes √ of the 35 rounding-level eigenvalues of a rank-4 product (√1e-16 each): ~1e-6.
  EXPECT_NEAR(frechet_distance_of(a, b), expected, 1e-6 * expected);
  EXPECT_NEAR(frechet_distance_of(b, a), expected, 1e-6 * expected);
  EXPECT_NEAR(frechet_distance_of(a, b), frechet_distance_of(b, a), 1e-12 * expected);
}

TEST(SampleMetrics, PerPromptAverages) {
  // Prompt 0: rows 0, 2 orthogonal (diversity 1); prompt 1: rows 1, 3 parallel (diversity 0).
  at::Tensor f = at::tensor({1.0, 0.0, 1.0, 1.0, 0.0, 1.0, 2.0, 2.0}).reshape({4, 2});
  auto m = diversity_and_prior_drift(f, f, {0, 1, 0, 1});
  EXPECT_NEAR(m.at("diversity"), 0.5, 1e-12);
  EXPECT_NEAR(m.at("prior_fid"), 0.0, 1e-9);
  // Shifting prompt 1's samples by (1, 0) against the reference moves its Fréchet distance by 1: mean 0.5.
  at::Tensor moved = f.clone();
  moved.select(0, 1).add_(at::tensor({1.0, 0.0}));
  moved.select(0, 3).add_(at::tensor({1.0, 0.0}));
  EXPECT_NEAR(diversity_and_prior_drift(moved, f, {0, 1, 0, 1}).at("prior_fid"), 0.5, 1e-9);
  // A prompt with one sample has no pairs: skipped; none with two is an error.
  EXPECT_THROW(diversity_and_prior_drift(f, f, {0, 1, 2, 3}), Error);
}

TEST(SampleMetrics, FlatFeaturesFlatten) {
  FlatFeatures flat;
  at::Tensor x = at::arange(24, at::kDouble).reshape({2, 3, 4});
  at::Tensor f = flat.features(x);
  EXPECT_EQ(f.sizes(), (at::IntArrayRef{2, 12}));
  EXPECT_EQ(f.scalar_type(), at::kFloat);
}

}  // namespace
}  // namespace nablagfn
