// Pointwise epilogues that ATen runs as several passes (see nhwc_kernels.h): the bias + residual add
// closing a ResnetBlock2D (ATen: the convolutions' broadcast bias adds, then the sum) and GEGLU's
// h · GELU(gate) (ATen: GELU, then the product). One thread per 16-byte vector of the output.
#include <cmath>

#include "kernels/device_utils.cuh"

namespace nablagfn::kernels {

namespace {

constexpr int kThreads = 256;

// n_vec vectors of out; cols vectors per row of C channels.
template <typename T>
__global__ void add_bias_residual_kernel(const T* __restrict__ a, const T* __restrict__ a_bias, const T* __restrict__ b,
                                         const T* __restrict__ b_bias, T* __restrict__ out, uint32_t n_vec,
                                         uint32_t cols, float divisor) {
  constexpr int VEC = Pack<T>::kSize;
  const uint32_t i = blockIdx.x * blockDim.x + threadIdx.x;
  if (i >= n_vec) return;
  const int64_t offset = static_cast<int64_t>(i) * VEC;
  const int c = static_cast<int>(i % cols) * VEC;
  float acc[VEC], bias[VEC];
  const Pack<T> va = load_pack(a + offset);
  load_floats(a_bias == nullptr ? nullptr : a_bias + c, 0.0f, bias);
#pragma unroll
  for (int j = 0; j < VEC; ++j) acc[j] = to_float(va.v[j]) + bias[j];
  if (b != nullptr) {
    const Pack<T> vb = load_pack(b + offset);
    load_floats(b_bias == nullptr ? nullptr : b_bias + c, 0.0f, bias);
#pragma unroll
    for (int j = 0; j < VEC; ++j) acc[j] += to_float(vb.v[j]) + bias[j];
  }
  Pack<T> result;
#pragma unroll
  for (int j = 0; j < VEC; ++j) result.v[j] = from_float<T>(acc[j] / divisor);
  store_pack(out + offset, result);
}

// n_vec vectors of out [M, D]; cols = D / VEC.
template <typename T>
__global__ void geglu_kernel(const T* __restrict__ hg, T* __restrict__ out, uint32_t n_vec, uint32_t cols, int64_t D) {
  constexpr int VEC = Pack<T>::kSize;
  const uint32_t i = blockIdx.x * blockDim.x + threadIdx.x;
  if (i >= n_vec) return;
  const int64_t m = i / cols, j = static_cast<int64_t>(i % cols) * VEC;
  const Pack<T> h = load_pack(hg + m * 2 * D + j);
  const Pack<T> gate = load_pack(hg + m * 2 * D + D + j);
  Pack<T> result;
#pragma unroll
  for (int k = 0; k < VEC; ++k) {
    const float g = to_float(gate.v[k]);
    result.v[k] = from_float<T>(to_float(h.v[k]) * (0.5f * g * (1.0f + erff(g * static_cast<float>(M_SQRT1_2)))));
  }
  store_pack(out + m * D + j, result);
}

}  // namespace

bool add_bias_residual(const void* a, const void* a_bias, const void* b, const void* b_bias, void* out, int64_t M,
                       int64_t C, float divisor, DType dtype, void* stream) {
  const int vec = vector_width(dtype);
  const uint32_t n_vec = vector_count(M, C, vec);
  if (n_vec == 0) return false;
  for (const void* p : {a, a_bias, b, b_bias, static_cast<const void*>(out)}) {
    if (!aligned16(p)) return false;
  }
  return dispatch_dtype(dtype, [&](auto tag) {
    using T = decltype(tag);
    add_bias_residual_kernel<T><<<blocks_for(n_vec, kThreads), kThreads, 0, static_cast<cudaStream_t>(stream)>>>(
        static_cast<const T*>(a), static_cast<const T*>(a_bias), static_cast<const T*>(b),
        static_cast<const T*>(b_bias), static_cast<T*>(out), n_vec, static_cast<uint32_t>(C / vec), divisor);
    return true;
  });
}

bool geglu(const void* hg, void* out, int64_t M, int64_t D, DType dtype, void* stream) {
  const int vec = vector_width(dtype);
  const uint32_t n_vec = vector_count(M, D, vec);
  if (n_vec == 0 || vector_count(M, 2 * D, vec) == 0 || !aligned16(hg) || !aligned16(out)) return false;
  return dispatch_dtype(dtype, [&](auto tag) {
    using T = decltype(tag);
    geglu_kernel<T><<<blocks_for(n_vec, kThreads), kThreads, 0, static_cast<cudaStream_t>(stream)>>>(
        static_cast<const T*>(hg), static_cast<T*>(out), n_vec, static_cast<uint32_t>(D / vec), D);
    return true;
  });
}

}  // namespace nablagfn::kernels
