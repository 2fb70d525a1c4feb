#include "core/device.h"

#include <torch/cuda.h>
#include <torch/utils.h>
#include <ATen/CPUGeneratorImpl.h>
#include <ATen/Context.h>
#include <ATen/Parallel.h>

#include <cstdlib>
#include <malloc.h>
#include <mutex>
#include <thread>

#include "core/error.h"

namespace nablagfn {

c10::Device parse_device(const std::string& spec) {
  if (spec == "auto") return torch::cuda::is_available() ? c10::Device(c10::kCUDA, 0) : c10::Device(c10::kCPU);
  c10::Device device(c10::kCPU);
  try {
    device = c10::Device(spec);
  } catch (const std::exception&) {
    throw Error("unknown device '" + spec + "'", "use auto, cpu, cuda or cuda:N");
  }
  if (device.is_cuda()) {
    int n = static_cast<int>(torch::cuda::device_count());
    require(n > 0, "device '" + spec + "' asked for but CUDA is not available in this build or machine",
            "use --set run.device=cpu");
    require(device.index() < n, "device '" + spec + "' does not exist (" + std::to_string(n) + " CUDA devices)",
            "use cuda:0 .. cuda:" + std::to_string(n - 1));
  }
  return device;
}

void init_cpu_runtime() {
  // glibc serves blocks past 128 KiB-32 MiB with mmap and returns them on free: every step's activations
  // (an attention score matrix of the default model is 33 MB) were page-faulted in anew, 4-8x the step's
  // compute. Keep freed memory in the heap instead. The environment's MALLOC_* variables still win.
  if (std::getenv("MALLOC_MMAP_THRESHOLD_") == nullptr) mallopt(M_MMAP_THRESHOLD, 1 << 30);
  if (std::getenv("MALLOC_TRIM_THRESHOLD_") == nullptr) mallopt(M_TRIM_THRESHOLD, 1 << 30);
  if (std::getenv("OMP_NUM_THREADS") != nullptr) return;
  unsigned n = std::thread::hardware_concurrency();
  if (n > 0) at::set_num_threads(static_cast<int>(n));
}

void seed_default_generators(uint64_t seed) { torch::manual_seed(seed); }

void set_tf32_matmul(bool on) { at::globalContext().setAllowTF32CuBLAS(on); }

at::Generator make_device_generator(c10::Device device, uint64_t seed) {
  if (device.is_cpu()) return at::detail::createCPUGenerator(seed);
  at::Generator base = at::globalContext().defaultGenerator(device);
  at::Generator gen;
  {
    std::lock_guard<std::mutex> lock(base.mutex());
    gen = base.clone();
  }
  std::lock_guard<std::mutex> lock(gen.mutex());
  gen.set_current_seed(seed);
  return gen;
}

}  // namespace nablagfn
