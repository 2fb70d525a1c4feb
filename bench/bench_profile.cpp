// Where the time of one SD-1.5 sampling step goes (the problem of bench_sampling, eager steps): CUDA
// kernel time per kernel name over a few profiled steps, through the Kineto profiler's C++ API, largest
// first, one line per kernel (`bench=profile ...`), plus the total kernel time per step.
// Usage: bench_profile [--channels-last] [--no-fused] [--merge-lora] [--reference-attention] [--steps S] [--top T]
// (--channels-last runs the fused NHWC kernels of src/kernels unless --no-fused)
#include <torch/csrc/autograd/profiler_kineto.h>
#include <torch/torch.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <map>
#include <memory>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include "bench_util.h"
#include "kernels/fused_ops.h"
#include "models/attention.h"
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
    to_channels_last(*b.denoiser->unet());
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
  device_sync();

  namespace prof = torch::autograd::profiler;
  const torch::profiler::impl::ProfilerConfig config(torch::profiler::impl::ProfilerState::KINETO);
  const std::set<torch::profiler::impl::ActivityType> activities{torch::profiler::impl::ActivityType::CPU,
                                                                 torch::profiler::impl::ActivityType::CUDA};
  prof::prepareProfiler(config, activities);
  prof::enableProfiler(config, activities);
  for (int k = 2; k < 2 + profiled_steps; ++k) step(k);
  device_sync();
  std::unique_ptr<prof::ProfilerResult> result = prof::disableProfiler();

  std::map<std::string, std::pair<double, int64_t>> per_kernel;  // name -> (µs, launches)
  double total_us = 0.0;
  int64_t launches = 0;
  for (const auto& e : result->events()) {
    if (e.deviceType() != c10::DeviceType::CUDA) continue;
    auto& slot = per_kernel[e.name()];
    slot.first += static_cast<double>(e.durationNs()) / 1000.0;
    slot.second += 1;
    total_us += static_cast<double>(e.durationNs()) / 1000.0;
    ++launches;
  }
  std::vector<std::pair<std::string, std::pair<double, int64_t>>> rows(per_kernel.begin(), per_kernel.end());
  std::sort(rows.begin(), rows.end(), [](const auto& a, const auto& b) { return a.second.first > b.second.first; });
  const std::string variant = std::string(reference ? "reference" : "sdpa") + (channels_last ? "+channels_last" : "") +
                              (channels_last && !no_fused ? "+fused" : "") + (merge_lora ? "+merged_lora" : "");
  ResultLine("profile_total")
      .add("variant", variant)
      .add("card", card_name())
      .add("kernel_ms_per_step", total_us / 1000.0 / profiled_steps, 2)
      .add("kernels_per_step", launches / profiled_steps)
      .print();
  for (int i = 0; i < std::min<int>(top, static_cast<int>(rows.size())); ++i) {
    const auto& [name, v] = rows[static_cast<size_t>(i)];
    ResultLine("profile")
        .add("ms_per_step", v.first / 1000.0 / profiled_steps, 3)
        .add("pct", 100.0 * v.first / total_us, 1)
        .add("launches_per_step", v.second / profiled_steps)
        .add("kernel", name.substr(0, 160))
        .print();
  }
  return 0;
}
