#pragma once
// Benchmark helpers (CUDA builds only): device synchronisation, warm-up + median-of-N wall time, peak
// memory of PyTorch's CUDA caching allocator, the card's name, and one result line per case in a stable
// `key=value` format (strings with spaces quoted), e.g.
//   bench=sampling variant=sdpa card="NVIDIA H200" s_per_traj=0.3012 ... peak_alloc_gib=12.41
#include <ATen/cuda/CUDAContext.h>
#include <c10/cuda/CUDACachingAllocator.h>
#include <c10/cuda/CUDAFunctions.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <iomanip>
#include <sstream>
#include <string>
#include <vector>

namespace nablagfn::bench {

inline void device_sync() { c10::cuda::device_synchronize(); }

// The command-line value after argv[i] (i advances to it); exits with status 2 and a message when missing.
inline std::string next_arg(int argc, char** argv, int& i) {
  if (i + 1 >= argc) {
    std::fprintf(stderr, "missing value after %s\n", argv[i]);
    std::exit(2);
  }
  return argv[++i];
}

// "a,b,c" -> {"a", "b", "c"}.
inline std::vector<std::string> split_commas(const std::string& list) {
  std::vector<std::string> out;
  std::stringstream ss(list);
  for (std::string item; std::getline(ss, item, ',');) out.push_back(item);
  return out;
}

// Exits with status 2 naming an argument the benchmark does not know.
[[noreturn]] inline void unknown_arg(const std::string& arg) {
  std::fprintf(stderr, "unknown argument %s\n", arg.c_str());
  std::exit(2);
}

struct Timing {
  double median_s = 0.0;
  double min_s = 0.0;
  double max_s = 0.0;
  int runs = 0;
};

// Runs f() `warmup` times, then `repeats` times, each timed on the host clock between two device
// synchronisations (the cases here run for seconds, far above the clock's resolution).
template <class F>
Timing time_median(F&& f, int warmup, int repeats) {
  for (int i = 0; i < warmup; ++i) f();
  device_sync();
  std::vector<double> t;
  for (int i = 0; i < repeats; ++i) {
    device_sync();
    const auto start = std::chrono::steady_clock::now();
    f();
    device_sync();
    t.push_back(std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count());
  }
  std::sort(t.begin(), t.end());
  Timing out;
  out.runs = repeats;
  if (t.empty()) return out;
  const size_t n = t.size();
  out.median_s = n % 2 ? t[n / 2] : 0.5 * (t[n / 2 - 1] + t[n / 2]);
  out.min_s = t.front();
  out.max_s = t.back();
  return out;
}

inline std::string card_name() { return at::cuda::getCurrentDeviceProperties()->name; }

inline void reset_peak_memory() {
  c10::cuda::CUDACachingAllocator::emptyCache();
  c10::cuda::CUDACachingAllocator::resetPeakStats(c10::cuda::current_device());
}

// Peak bytes handed out to tensors (torch.cuda.max_memory_allocated) and reserved from the driver, GiB.
// Index 0 of the allocator's stat arrays is the aggregate over pool types.
inline double peak_allocated_gib() {
  const auto stats = c10::cuda::CUDACachingAllocator::getDeviceStats(c10::cuda::current_device());
  return static_cast<double>(stats.allocated_bytes[0].peak) / (1024.0 * 1024.0 * 1024.0);
}
inline double peak_reserved_gib() {
  const auto stats = c10::cuda::CUDACachingAllocator::getDeviceStats(c10::cuda::current_device());
  return static_cast<double>(stats.reserved_bytes[0].peak) / (1024.0 * 1024.0 * 1024.0);
}

// One line: bench=<name> then the fields in the order added.
class ResultLine {
 public:
  explicit ResultLine(const std::string& bench) { os_ << "bench=" << bench; }
  ResultLine& add(const std::string& key, const std::string& value) {
    const bool quote = value.find(' ') != std::string::npos;
    os_ << ' ' << key << '=' << (quote ? "\"" : "") << value << (quote ? "\"" : "");
    return *this;
  }
  ResultLine& add(const std::string& key, double value, int precision = 4) {
    std::ostringstream v;
    v << std::fixed << std::setprecision(precision) << value;
    return add(key, v.str());
  }
  ResultLine& add(const std::string& key, int64_t value) { return add(key, std::to_string(value)); }
  ResultLine& add(const std::string& key, int value) { return add(key, static_cast<int64_t>(value)); }
  void print() const {
    std::printf("%s\n", os_.str().c_str());
    std::fflush(stdout);
  }

 private:
  std::ostringstream os_;
};

}  // namespace nablagfn::bench
