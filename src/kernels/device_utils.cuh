#pragma once
// Helpers shared by the kernels of src/kernels: fp32 conversions of the element types, 16-byte vector
// loads and stores, a warp sum; on the host the dispatch from DType to the element type and launch sizes.
#include <cuda_bf16.h>
#include <cuda_fp16.h>
#include <cuda_runtime.h>

#include <cstdint>

#include "kernels/nhwc_kernels.h"

namespace nablagfn::kernels {

__device__ __forceinline__ float to_float(float v) { return v; }
__device__ __forceinline__ float to_float(__nv_bfloat16 v) { return __bfloat162float(v); }
__device__ __forceinline__ float to_float(__half v) { return __half2float(v); }

// Round to nearest even, as ATen's casts.
template <typename T>
__device__ __forceinline__ T from_float(float v);
template <>
__device__ __forceinline__ float from_float<float>(float v) {
  return v;
}
template <>
__device__ __forceinline__ __nv_bfloat16 from_float<__nv_bfloat16>(float v) {
  return __float2bfloat16_rn(v);
}
template <>
__device__ __forceinline__ __half from_float<__half>(float v) {
  return __float2half_rn(v);
}

// 16 bytes of T, moved by one 128-bit load or store.
template <typename T>
struct alignas(16) Pack {
  static constexpr int kSize = 16 / static_cast<int>(sizeof(T));
  T v[kSize];
};

template <typename T>
__device__ __forceinline__ Pack<T> load_pack(const T* p) {
  return *reinterpret_cast<const Pack<T>*>(p);
}

template <typename T>
__device__ __forceinline__ void store_pack(T* p, const Pack<T>& v) {
  *reinterpret_cast<Pack<T>*>(p) = v;
}

// Pack of the per-channel vector at p (bias, gamma, ...) as floats; fill where p is null.
template <typename T>
__device__ __forceinline__ void load_floats(const T* p, float fill, float (&out)[Pack<T>::kSize]) {
  if (p == nullptr) {
#pragma unroll
    for (int i = 0; i < Pack<T>::kSize; ++i) out[i] = fill;
    return;
  }
  const Pack<T> v = load_pack(p);
#pragma unroll
  for (int i = 0; i < Pack<T>::kSize; ++i) out[i] = to_float(v.v[i]);
}

// Sum over the 32 lanes of a full warp; every lane gets the result.
__device__ __forceinline__ float warp_sum(float v) {
#pragma unroll
  for (int offset = 16; offset > 0; offset >>= 1) v += __shfl_xor_sync(0xffffffffu, v, offset);
  return v;
}

// v · sigmoid(v) with the fast exp and division (a few fp32 ulps; the output is rounded to bf16 / fp16 or
// compared at 1e-5). For v < −88 the denominator overflows and the result is 0, the limit.
__device__ __forceinline__ float silu(float v) { return __fdividef(v, 1.0f + __expf(-v)); }

// Calls f(T{}) with T the element type of dtype.
template <typename F>
bool dispatch_dtype(DType dtype, F&& f) {
  switch (dtype) {
    case DType::Float32:
      return f(float{});
    case DType::BFloat16:
      return f(__nv_bfloat16{});
    case DType::Float16:
      return f(__half{});
  }
  return false;
}

inline bool aligned16(const void* p) { return reinterpret_cast<uintptr_t>(p) % 16 == 0; }

// 16-byte vectors in rows x C elements, or 0 when that is empty, C is not whole vectors, or the count
// does not fit the kernels' 32-bit indices.
inline uint32_t vector_count(int64_t rows, int64_t C, int vec) {
  if (rows < 1 || C < 1 || C % vec != 0) return 0;
  const int64_t n = rows * (C / vec);
  return n < (int64_t{1} << 31) ? static_cast<uint32_t>(n) : 0;
}

// Blocks of `threads` covering n threads.
inline unsigned blocks_for(uint32_t n, int threads) { return (n + threads - 1) / threads; }

}  // namespace nablagfn::kernels
