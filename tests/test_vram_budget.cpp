// --vram-budget (algorithms/vram_budget.h): the largest micro-batch, then the largest reward chunk, whose
// estimated peak fits; the per-update trajectory count is kept; nothing fitting gives the smallest setting.
#include <gtest/gtest.h>

#include "algorithms/vram_budget.h"

using namespace nablagfn;

namespace {

VramChoice choose(double budget_gib) {
  Config c;
  c.train.batch_size = 4;
  c.train.grad_accum_steps = 8;
  c.train.vram_budget_gib = budget_gib;
  Problem p;
  p.latent_shape = {4, 64, 64};
  return choose_vram_settings(c, p);
}

void expect_choice(double budget, int batch, int accum, int chunk, bool fits) {
  const VramChoice v = choose(budget);
  EXPECT_EQ(v.batch_size, batch) << budget;
  EXPECT_EQ(v.grad_accum_steps, accum) << budget;
  EXPECT_EQ(v.reward_grad_chunk, chunk) << budget;
  EXPECT_EQ(v.fits, fits) << budget;
  if (fits) EXPECT_LE(v.estimate_gib, budget);
}

}  // namespace

TEST(VramBudget, PicksTheLargestMicroBatchThenTheLargestChunkThatFits) {
  expect_choice(100.0, 4, 8, 0, true);  // everything at once
  expect_choice(24.0, 4, 8, 2, true);   // decoder backward two images at a time
  expect_choice(16.0, 4, 8, 1, true);
  expect_choice(12.0, 2, 16, 1, true);
  expect_choice(5.0, 1, 32, 1, false);  // nothing fits: the smallest setting
}

TEST(VramBudget, TheSamplingGraphsPoolCountsAgainstTheBudget) {
  Config c;
  c.train.batch_size = 4;
  c.train.grad_accum_steps = 8;
  c.train.vram_budget_gib = 22.0;
  EXPECT_EQ(choose_vram_settings(c, 64, 64, 0).reward_grad_chunk, 2);
  // 16 trajectories per sampling graph: 5.21 GiB more (bench/README.md), chunk 2 no longer fits 22 GiB.
  const VramChoice v = choose_vram_settings(c, 64, 64, 16);
  EXPECT_NEAR(estimate_nabla_db_peak_gib(4, 2, 64, 64, 16) - estimate_nabla_db_peak_gib(4, 2, 64, 64), 5.21, 1e-9);
  EXPECT_EQ(v.batch_size, 4);
  EXPECT_EQ(v.reward_grad_chunk, 1);
  EXPECT_TRUE(v.fits);
}

TEST(VramBudget, EstimateGrowsWithBatchChunkAndLatentArea) {
  EXPECT_LT(estimate_nabla_db_peak_gib(2, 1, 64, 64), estimate_nabla_db_peak_gib(4, 1, 64, 64));
  EXPECT_LT(estimate_nabla_db_peak_gib(4, 1, 64, 64), estimate_nabla_db_peak_gib(4, 0, 64, 64));
  EXPECT_LT(estimate_nabla_db_peak_gib(4, 0, 32, 32), estimate_nabla_db_peak_gib(4, 0, 64, 64));
  EXPECT_EQ(estimate_nabla_db_peak_gib(4, 4, 64, 64), estimate_nabla_db_peak_gib(4, 0, 64, 64));
}

// model.memory_format auto is channels-last on CUDA, whose passes need less (bench/README.md "Training").
TEST(VramBudget, ChannelsLastOnCudaFitsMicroBatch4Unchunked) {
  Config c;
  c.train.batch_size = 4;
  c.train.grad_accum_steps = 8;
  c.train.vram_budget_gib = 22.0;
  Problem p;
  p.latent_shape = {4, 64, 64};
  p.device = c10::Device(c10::kCUDA, 0);
  VramChoice v = choose_vram_settings(c, p);
  EXPECT_EQ(v.batch_size, 4);
  EXPECT_EQ(v.reward_grad_chunk, 0);
  EXPECT_TRUE(v.fits);
  // The measured point (channels_last + merged backward, micro-batch 4): 19.00 GiB reserved.
  EXPECT_NEAR(estimate_nabla_db_peak_gib(4, 0, 64, 64, 0, PeakSettings{true, true}), 19.00, 0.1);
  // The LoRA branch keeps more per sample than the merged backward, in either layout.
  EXPECT_GT(estimate_nabla_db_peak_gib(4, 0, 64, 64, 0, PeakSettings{true, false}),
            estimate_nabla_db_peak_gib(4, 0, 64, 64, 0, PeakSettings{true, true}));
  EXPECT_GT(estimate_nabla_db_peak_gib(4, 0, 64, 64, 0, PeakSettings{false, false}),
            estimate_nabla_db_peak_gib(4, 0, 64, 64, 0, PeakSettings{false, true}));
  c.model.memory_format = MemoryFormat::Contiguous;  // NCHW on CUDA: the decoder chunked as before
  v = choose_vram_settings(c, p);
  EXPECT_EQ(v.batch_size, 4);
  EXPECT_EQ(v.reward_grad_chunk, 2);
}
