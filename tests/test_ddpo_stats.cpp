// DDPO's per-prompt reward statistics (ddpo-pytorch stat_tracking.py): batch statistics below min_count,
// the prompt's own buffer from min_count on, a buffer that keeps only the last buffer_size rewards, and
// advantage() reproducing update()'s advantages. Expected values are worked out by hand.
#include <gtest/gtest.h>

#include <cmath>

#include "algorithms/per_prompt_stats.h"
#include "core/error.h"

using namespace nablagfn;

TEST(DDPOStats, BufferStatisticsFromMinCountBatchStatisticsBelow) {
  PerPromptStatTracker t(3, 2);
  // "a" has 2 >= min_count rewards {1, 3}: mean 2, std 1. "b" has 1: the batch's mean 2, std √(2/3).
  std::vector<double> adv = t.update({"a", "b", "a"}, {1.0, 2.0, 3.0});
  ASSERT_EQ(adv.size(), 3u);
  EXPECT_NEAR(adv[0], -1.0 / (1.0 + 1e-6), 1e-12);
  EXPECT_NEAR(adv[1], 0.0, 1e-12);
  EXPECT_NEAR(adv[2], 1.0 / (1.0 + 1e-6), 1e-12);
  EXPECT_NEAR(t.advantage("b", 2.0 + std::sqrt(2.0 / 3.0)), 1.0 / (1.0 + 1e-6 / std::sqrt(2.0 / 3.0)), 1e-12);
}

TEST(DDPOStats, BufferKeepsTheLastBufferSizeRewards) {
  PerPromptStatTracker t(3, 2);
  t.update({"a", "b", "a"}, {1.0, 2.0, 3.0});
  // "a" now holds {3, 5, 7} (1 dropped): mean 5, std √(8/3).
  std::vector<double> adv = t.update({"a", "a"}, {5.0, 7.0});
  const double s = std::sqrt(8.0 / 3.0) + 1e-6;
  EXPECT_NEAR(adv[0], 0.0, 1e-12);
  EXPECT_NEAR(adv[1], 2.0 / s, 1e-12);
  EXPECT_NEAR(t.advantage("a", 7.0), 2.0 / s, 1e-12);
  auto stats = t.stats();
  ASSERT_EQ(stats.size(), 2u);
  EXPECT_EQ(stats["a"].count, 3);
  EXPECT_NEAR(stats["a"].mean, 5.0, 1e-12);
  EXPECT_NEAR(stats["a"].std, std::sqrt(8.0 / 3.0), 1e-12);
  EXPECT_EQ(stats["b"].count, 1);
  EXPECT_NEAR(stats["b"].std, 0.0, 1e-12);
}

TEST(DDPOStats, AdvantageNeedsThePromptInTheLastUpdate) {
  PerPromptStatTracker t(4, 1);
  t.update({"a", "b"}, {1.0, 2.0});
  t.update({"a"}, {4.0});
  EXPECT_THROW(t.advantage("b", 2.0), Error);
  // min_count 1: a single reward normalises by its own buffer {1, 4}: mean 2.5, std 1.5.
  EXPECT_NEAR(t.advantage("a", 4.0), 1.5 / (1.5 + 1e-6), 1e-12);
  t.clear();
  EXPECT_TRUE(t.stats().empty());
  EXPECT_THROW(t.advantage("a", 4.0), Error);
}

TEST(DDPOStats, RejectsBadSettingsAndMismatchedInputs) {
  EXPECT_THROW(PerPromptStatTracker(0, 0), Error);
  EXPECT_THROW(PerPromptStatTracker(4, 5), Error);
  PerPromptStatTracker t(4, 1);
  EXPECT_THROW(t.update({"a"}, {1.0, 2.0}), Error);
}
