#pragma once
// Device, thread and random-number setup. The same binary runs on CPU (CI) and CUDA: the device is chosen at run time.
#include <cstdint>
#include <string>

#include <ATen/core/Generator.h>
#include <c10/core/Device.h>

namespace nablagfn {

// "auto" (CUDA when available, else CPU), "cpu", "cuda" or "cuda:N". Unavailable devices are an Error.
c10::Device parse_device(const std::string& spec);
// Once at startup of every command: keep freed CPU memory in the heap (no mmap / munmap per tensor), and
// use every core unless OMP_NUM_THREADS says otherwise (LibTorch starts with one thread here).
void init_cpu_runtime();
// Seeds the default CPU and CUDA generators, which initialise the networks (flow net, LoRA, the toy's MLPs):
// the same run.seed gives the same run.
void seed_default_generators(uint64_t seed);
// CUDA float32 matmuls in TF32 (on) or full float32 (off); process-wide, no effect on the CPU.
void set_tf32_matmul(bool on);
// A fresh generator for tensors on device, seeded with seed: a new CPU generator, or a new generator of the
// device's kind (CUDA: Philox) cloned from its default one and reseeded, the default generator left untouched.
at::Generator make_device_generator(c10::Device device, uint64_t seed);

}  // namespace nablagfn
