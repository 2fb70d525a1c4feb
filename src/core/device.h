#pragma once
// Device, thread and random-number setup. The same binary runs on CPU (CI) and CUDA: the device is chosen at run time.
#include <cstdint>
#include <string>

#include <c10/core/Device.h>

namespace nablagfn {

// "auto" (CUDA when available, else CPU), "cpu", "cuda" or "cuda:N". Unavailable devices are an Error.
c10::Device parse_device(const std::string& spec);
// LibTorch starts with one thread here: use every core unless OMP_NUM_THREADS says otherwise.
void init_threads();
// Seeds the default CPU and CUDA generators, which initialise the networks (flow net, LoRA, the toy's MLPs):
// the same run.seed gives the same run.
void seed_default_generators(uint64_t seed);

}  // namespace nablagfn
