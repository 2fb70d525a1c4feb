#pragma once
// What the tensor-level wrappers of the hand-written kernels (fused_ops.cpp, fused_attention.cpp) share:
// whether this build has the kernels (CMake defines NABLAGFN_WITH_CUDA_KERNELS=1 where it found nvcc),
// and where it does, the CUDA and autograd headers and the stream a launcher takes.
#ifndef NABLAGFN_WITH_CUDA_KERNELS
#define NABLAGFN_WITH_CUDA_KERNELS 0
#endif

#if NABLAGFN_WITH_CUDA_KERNELS
#include <ATen/core/Tensor.h>
#include <ATen/cuda/CUDAContext.h>
#include <c10/cuda/CUDAException.h>
#include <c10/cuda/CUDAGuard.h>

#include <torch/csrc/autograd/custom_function.h>

namespace nablagfn::fused {

// The current CUDA stream of t's device, as the launchers' void*.
inline void* current_stream(const at::Tensor& t) { return at::cuda::getCurrentCUDAStream(t.device().index()).stream(); }

}  // namespace nablagfn::fused
#endif
