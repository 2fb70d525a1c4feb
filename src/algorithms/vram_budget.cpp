#include "algorithms/vram_budget.h"

#include <algorithm>

#include "core/log.h"

namespace nablagfn {

namespace {
// Peak-allocation model of the folded ∇-DB passes on SD-1.5 (bf16 UNet and VAE, fp32 reward and flow,
// 64 x 64 latents): fixed part (the frozen networks), per sample of the micro-batch (one UNet graph of its
// CFG pair, the flow graphs), per image in a decoder + reward backward chunk. The text encoder and the
// optimizer's moments are not in it (< 0.3 GiB for SD-1.5's CLIP-L in bf16 and the LoRA / flow).
struct PeakModel {
  double fixed, per_sample, per_image;
};
// NCHW, the LoRA branch: bench_training's folded and folded_chunk1 peaks at micro-batch 1 and 4 (NVIDIA
// H200, 2026-12-04: 8.32, 24.58 and 14.28 GiB), plus 0.19 GiB for the merged-LoRA weight copies of
// algorithm.merged_lora_guess (merged_guess: 8.51 GiB at 1; it predicts 17.91 for micro-batch 4 with
// chunk 2, measured 18.00).
constexpr PeakModel kContiguous{3.09, 1.99, 3.43};
// channels-last with model.lora_merged_backward: least squares over channels_last{,_chunk2,_chunk1} at
// micro-batch 4 and 2 (NVIDIA H100 80GB HBM3, 2026-12-06: 18.12, 13.43, 11.11, 10.78, 10.78, 8.46 GiB;
// residuals <= 0.01 GiB). The fused GroupNorm backward keeps no normalised activation, so both the UNet
// graph and the decoder backward are smaller.
constexpr PeakModel kChannelsLast{3.46, 1.33, 2.34};
// The LoRA branch's fp32 activations per sample, over merged_backward's: merged_guess 24.76 vs
// merged_backward 23.13 GiB at micro-batch 4 (NCHW, NVIDIA H100 80GB HBM3, 2026-12-05), taken as the same
// for both layouts.
constexpr double kBranchPerSampleGiB = (24.76 - 23.13) / 4.0;
// The caching allocator's reserved / allocated at those peaks (1.02-1.05).
constexpr double kReserved = 1.05;
// The CUDA-graph sampler (algorithms/fast_chain.h) keeps its captured step's private memory pool through
// training: reserved grew by 5.21 GiB with a sampling batch of 16 (bench_training --epoch, chunk2, plain
// 18.84 vs graph 24.05 GiB reserved, NVIDIA H100, 2026-12-05), taken as linear in the sampling batch.
constexpr double kGraphPoolPerTrajectoryGiB = 5.21 / 16.0;
constexpr double kSD15LatentArea = 64.0 * 64.0;
}  // namespace

double estimate_nabla_db_peak_gib(int b, int chunk, int64_t h, int64_t w, int graph_batch, PeakSettings s) {
  const PeakModel& m = s.channels_last ? kChannelsLast : kContiguous;
  // Each model was measured with one LoRA path; the other adds or drops the branch's activations.
  const double branch = s.channels_last == s.merged_backward ? 0.0 : kBranchPerSampleGiB;
  const double per_sample = m.per_sample + (s.merged_backward ? -branch : branch);
  const double area = static_cast<double>(h * w) / kSD15LatentArea;
  const int images = chunk > 0 ? std::min(chunk, b) : b;
  return kReserved * (m.fixed + area * (per_sample * b + m.per_image * images)) +
         area * kGraphPoolPerTrajectoryGiB * graph_batch;
}

VramChoice choose_vram_settings(const Config& config, const Problem& problem) {
  const int graph_batch = problem.fast_chain ? config.sample.batch_size : 0;
  const PeakSettings s{channels_last_on(config.model.memory_format, problem.device.is_cuda()),
                       config.model.lora_merged_backward};
  return choose_vram_settings(config, problem.latent_shape.at(1), problem.latent_shape.at(2), graph_batch, s);
}

VramChoice choose_vram_settings(const Config& config, int64_t h, int64_t w, int graph_batch, PeakSettings s) {
  const TrainConfig& t = config.train;
  const int per_update = t.batch_size * t.grad_accum_steps;
  for (int b = t.batch_size; b >= 1; --b) {
    if (per_update % b != 0) continue;
    for (int chunk = b; chunk >= 1; --chunk) {
      if (b % chunk != 0) continue;
      VramChoice c{b, per_update / b, chunk == b ? 0 : chunk,
                   estimate_nabla_db_peak_gib(b, chunk, h, w, graph_batch, s), false};
      c.fits = c.estimate_gib <= t.vram_budget_gib;
      if (c.fits) return c;
    }
  }
  return VramChoice{1, per_update, 1, estimate_nabla_db_peak_gib(1, 1, h, w, graph_batch, s), false};
}

void apply_vram_budget(Config& config, const Problem& problem) {
  TrainConfig& t = config.train;
  if (t.vram_budget_gib <= 0) return;
  if (config.algorithm.name != "nabla_db" || config.algorithm.fold_passes == FoldPasses::Separate ||
      problem.latent_shape.size() != 3 || !problem.decoder) {
    NABLAGFN_INFO("vram budget %.1f GiB: no memory model for %s (folded passes on an SD problem only), "
                  "settings unchanged",
                  t.vram_budget_gib, config.algorithm.name.c_str());
    return;
  }
  const VramChoice c = choose_vram_settings(config, problem);
  NABLAGFN_INFO(
      "vram budget %.1f GiB: micro-batch %d x %d accumulation, reward_grad_chunk %d, estimated peak %.1f GiB (%s)%s%s",
      t.vram_budget_gib, c.batch_size, c.grad_accum_steps, c.reward_grad_chunk, c.estimate_gib,
      channels_last_on(config.model.memory_format, problem.device.is_cuda()) ? "channels-last" : "NCHW",
      problem.fast_chain ? " (with the CUDA-graph sampler's pool; sample.cuda_graph=false frees it)" : "",
      c.fits ? "" : " (over the budget: the smallest setting)");
  t.batch_size = c.batch_size;
  t.grad_accum_steps = c.grad_accum_steps;
  t.reward_grad_chunk = c.reward_grad_chunk;
}

}  // namespace nablagfn
