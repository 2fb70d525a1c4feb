// Residual add + LayerNorm over token rows (see nhwc_kernels.h): BasicTransformerBlock's
// `h = h + attn(...); norm(h)` as one read of both inputs and one write of h and of the norm, where ATen
// runs the add and the norm as two passes; h may also take a bias owed to it (the FeedForward's output
// bias, whose GEMM then accumulates into h). One warp per row; the row stays in registers (VPL 16-byte
// vectors per lane), so mean and variance are exact two-pass sums over the rounded h.
#include <type_traits>

#include "kernels/device_utils.cuh"

namespace nablagfn::kernels {

namespace {

constexpr int kThreads = 256;
constexpr int kMaxVectorsPerLane = 16;

// kWriteH: r or h_bias is given, so h_out is written.
template <typename T, int VPL, bool kWriteH>
__global__ void add_layer_norm_kernel(const T* __restrict__ x, const T* __restrict__ r, const T* __restrict__ gamma,
                                      const T* __restrict__ beta, const T* __restrict__ h_bias, T* __restrict__ h_out,
                                      T* __restrict__ y, int64_t M, int C, float eps) {
  constexpr int VEC = Pack<T>::kSize;
  const int lane = threadIdx.x % 32;
  const int64_t row = static_cast<int64_t>(blockIdx.x) * (blockDim.x / 32) + threadIdx.x / 32;
  if (row >= M) return;  // whole warps
  const int64_t offset = row * C;

  float v[VPL][VEC];
  float sum = 0.0f;
#pragma unroll
  for (int k = 0; k < VPL; ++k) {
    const int c = (lane + k * 32) * VEC;
    if (c >= C) {
#pragma unroll
      for (int i = 0; i < VEC; ++i) v[k][i] = 0.0f;
      continue;
    }
    Pack<T> h = load_pack(x + offset + c);
    if (kWriteH && r != nullptr) {
      const Pack<T> add = load_pack(r + offset + c);
#pragma unroll
      for (int i = 0; i < VEC; ++i) h.v[i] = from_float<T>(to_float(h.v[i]) + to_float(add.v[i]));
    }
#pragma unroll
    for (int i = 0; i < VEC; ++i) {
      v[k][i] = to_float(h.v[i]);
      sum += v[k][i];
    }
    if (kWriteH) {
      float bias[VEC];
      load_floats(h_bias == nullptr ? nullptr : h_bias + c, 0.0f, bias);
#pragma unroll
      for (int i = 0; i < VEC; ++i) h.v[i] = from_float<T>(v[k][i] + bias[i]);
      store_pack(h_out + offset + c, h);
    }
  }
  const float mean = warp_sum(sum) / C;
  float sq = 0.0f;
#pragma unroll
  for (int k = 0; k < VPL; ++k) {
    if ((lane + k * 32) * VEC >= C) continue;
#pragma unroll
    for (int i = 0; i < VEC; ++i) {
      const float d = v[k][i] - mean;
      sq += d * d;
    }
  }
  const float rstd = rsqrtf(warp_sum(sq) / C + eps);
#pragma unroll
  for (int k = 0; k < VPL; ++k) {
    const int c = (lane + k * 32) * VEC;
    if (c >= C) continue;
    float g[VEC], b[VEC];
    load_floats(gamma == nullptr ? nullptr : gamma + c, 1.0f, g);
    load_floats(beta == nullptr ? nullptr : beta + c, 0.0f, b);
    Pack<T> out;
#pragma unroll
    for (int i = 0; i < VEC; ++i) out.v[i] = from_float<T>((v[k][i] - mean) * rstd * g[i] + b[i]);
    store_pack(y + offset + c, out);
  }
}

template <typename T, int VPL>
void launch(const T* x, const T* r, const T* gamma, const T* beta, const T* h_bias, T* h_out, T* y, int64_t M, int C,
            float eps, cudaStream_t stream) {
  constexpr int kRowsPerBlock = kThreads / 32;
  const unsigned grid = static_cast<unsigned>((M + kRowsPerBlock - 1) / kRowsPerBlock);
  auto kernel =
      r != nullptr || h_bias != nullptr ? add_layer_norm_kernel<T, VPL, true> : add_layer_norm_kernel<T, VPL, false>;
  kernel<<<grid, kThreads, 0, stream>>>(x, r, gamma, beta, h_bias, h_out, y, M, C, eps);
}

}  // namespace

bool add_layer_norm(const void* x, const void* r, const void* gamma, const void* beta, const void* h_bias, void* h_out,
                    void* y, int64_t M, int64_t C, float eps, DType dtype, void* stream) {
  const int vec = vector_width(dtype);
  if (M < 1 || C < 1 || C % vec != 0 || (M + 7) / 8 >= (int64_t{1} << 31)) return false;
  const int64_t vectors_per_lane = (C / vec + 31) / 32;
  if (vectors_per_lane > kMaxVectorsPerLane) return false;
  for (const void* p : {x, r, gamma, beta, h_bias, static_cast<const void*>(h_out), static_cast<const void*>(y)}) {
    if (!aligned16(p)) return false;
  }
  auto s = static_cast<cudaStream_t>(stream);
  return dispatch_dtype(dtype, [&](auto tag) {
    using T = decltype(tag);
    auto args = [&](auto vpl) {
      launch<T, decltype(vpl)::value>(static_cast<const T*>(x), static_cast<const T*>(r), static_cast<const T*>(gamma),
                                      static_cast<const T*>(beta), static_cast<const T*>(h_bias),
                                      static_cast<T*>(h_out), static_cast<T*>(y), M, static_cast<int>(C), eps, s);
      return true;
    };
    // The smallest instantiated vectors-per-lane that covers the row.
    if (vectors_per_lane <= 1) return args(std::integral_constant<int, 1>{});
    if (vectors_per_lane <= 2) return args(std::integral_constant<int, 2>{});
    if (vectors_per_lane <= 3) return args(std::integral_constant<int, 3>{});
    if (vectors_per_lane <= 5) return args(std::integral_constant<int, 5>{});
    if (vectors_per_lane <= 8) return args(std::integral_constant<int, 8>{});
    if (vectors_per_lane <= 10) return args(std::integral_constant<int, 10>{});
    return args(std::integral_constant<int, kMaxVectorsPerLane>{});
  });
}

}  // namespace nablagfn::kernels
