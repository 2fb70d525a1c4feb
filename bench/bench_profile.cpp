// Where the time of one SD-1.5 sampling step goes (the problem of bench_sampling, eager steps): CUDA
// kernel time per kernel name over a few profiled steps (bench/kernel_profile.h), largest first.
// Usage: bench_profile [--channels-last] [--no-fused] [--merge-lora] [--reference-attention] [--steps S] [--top T]
// (--channels-last runs the fused NHWC kernels of src/kernels unless --no-fused)
#include <torch/torch.h>

#include <cstdio>
#include <cstdlib>
#include <memory>
#include <string>

#include "bench_util.h"
#include "kernel_profile.h"
#include "kernels/fused_ops.h"
#include "models/attention.h"
#include "models/conv_layout.h"
#include "models/cuda_sampling.h"
#include "models/guidance.h"
#include "sd_bench_setup.h"

using namespace nablagfn;
using namespace nablagfn::bench;

int main(int argc, char** argv) {
  bool channels_last = false, merge_lora = false, reference = false, no_fused = false;
  int profiled_steps = 2, top = 40;
  for (int i = 1; i < argc; ++i) {
    const std::string k = argv[i];
    if (k == "--channels-last") {
      channels_last = true;
    } else if (k == "--no-fused") {
      no_fused = true;
    } else if (k == "--merge-lora") {
      merge_lora = true;
    } else if (k == "--reference-attention") {
      reference = true;
    } else if (k == "--steps" && i + 1 < argc) {
      profiled_steps = std::atoi(argv[++i]);
    } else if (k == "--top" && i + 1 < argc) {
      top = std::atoi(argv[++i]);
    } else {
      std::fprintf(stderr, "unknown argument %s\n", k.c_str());
      return 2;
    }
  }
  torch::NoGradGuard no_grad;
  fused::set_enabled(!no_fused);
  SDBenchOptions o;
  o.config_dir = NABLAGFN_BENCH_DIR "/configs/sd15";
  SDBench b = make_sd_bench(o);
  at::globalContext().setBenchmarkCuDNN(true);
  set_attention_backend(*b.denoiser->unet(), reference ? AttentionBackend::Reference : AttentionBackend::Fused);
  at::Tensor x = b.x0;
  if (channels_last) {
    set_conv_layout(*b.denoiser->unet(), true);
    x = x.contiguous(at::MemoryFormat::ChannelsLast);
  }
  std::unique_ptr<MergedLoRA> merged;
  std::unique_ptr<MergedLoRA::Scope> scope;
  if (merge_lora) {
    merged = std::make_unique<MergedLoRA>(*b.denoiser);
    scope = std::make_unique<MergedLoRA::Scope>(*merged);
  }
  const Scheduler& sched = *b.problem.scheduler;
  const Conditioning c = b.problem.conditioning(b.cond);
  const int64_t N = x.size(0);
  auto step = [&](int k) {
    at::Tensor kk = at::full({N}, k, at::kLong);
    at::Tensor t = at::full({N}, sched.timestep(k), x.options().dtype(at::kLong));
    at::Tensor eps = guided_eps(*b.denoiser, x, t, c, merge_lora ? Adapter::Off : Adapter::On);
    x = sched.step_mean(kk, x, eps) + sched.step_std(kk, x).view({-1, 1, 1, 1}) * at::randn_like(x);
  };
  for (int k = 0; k < 2; ++k) step(k);
  int k = 2;
  const std::string variant = std::string(reference ? "reference" : "sdpa") + (channels_last ? "+channels_last" : "") +
                              (channels_last && !no_fused ? "+fused" : "") + (merge_lora ? "+merged_lora" : "");
  profile_kernels(
      variant, [&] { step(k++); }, profiled_steps, top);
  return 0;
}
