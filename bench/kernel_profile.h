#pragma once
// CUDA kernel time per kernel name while f() runs `runs` times, through the Kineto profiler's C++ API: one
// `bench=profile_total` line (kernel time and host wall time per run, launches per run), then the `top`
// largest kernels, one `bench=profile` line each. Wall time well above kernel time means the device waited
// for the host (launch gaps, synchronisations).
#include <torch/csrc/autograd/profiler_kineto.h>
#include <torch/torch.h>

#include <algorithm>
#include <chrono>
#include <functional>
#include <map>
#include <memory>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include "bench_util.h"

namespace nablagfn::bench {

inline void profile_kernels(const std::string& label, const std::function<void()>& f, int runs, int top) {
  namespace prof = torch::autograd::profiler;
  const torch::profiler::impl::ProfilerConfig config(torch::profiler::impl::ProfilerState::KINETO);
  const std::set<torch::profiler::impl::ActivityType> activities{torch::profiler::impl::ActivityType::CPU,
                                                                 torch::profiler::impl::ActivityType::CUDA};
  f();
  device_sync();
  prof::prepareProfiler(config, activities);
  prof::enableProfiler(config, activities);
  const auto start = std::chrono::steady_clock::now();
  for (int i = 0; i < runs; ++i) f();
  device_sync();
  const double wall_s = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
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
  ResultLine("profile_total")
      .add("variant", label)
      .add("card", card_name())
      .add("kernel_ms_per_run", total_us / 1000.0 / runs, 2)
      .add("wall_ms_per_run", 1000.0 * wall_s / runs, 2)
      .add("kernels_per_run", launches / runs)
      .print();
  for (int i = 0; i < std::min<int>(top, static_cast<int>(rows.size())); ++i) {
    const auto& [name, v] = rows[static_cast<size_t>(i)];
    ResultLine("profile")
        .add("variant", label)
        .add("ms_per_run", v.first / 1000.0 / runs, 3)
        .add("pct", 100.0 * v.first / total_us, 1)
        .add("launches_per_run", v.second / runs)
        .add("kernel", name.substr(0, 160))
        .print();
  }
}

}  // namespace nablagfn::bench
