// Layout copies of the UNet's up path on channels-last images (see nhwc_kernels.h): the channel concat of
// the skip connections and the nearest x2 upsampling. ATen runs both below half the copy bandwidth on
// NHWC (a generic strided concat; an upsampling kernel with per-element index arithmetic); here every
// thread moves 16-byte vectors.
#include "kernels/device_utils.cuh"

namespace nablagfn::kernels {

namespace {

constexpr int kThreads = 256;

// One thread per output vector; a_cols / cols vectors of a / out per row.
template <typename T>
__global__ void concat_channels_kernel(const T* __restrict__ a, const T* __restrict__ b, T* __restrict__ out,
                                       uint32_t n_vec, uint32_t a_cols, uint32_t cols) {
  constexpr int VEC = Pack<T>::kSize;
  const uint32_t i = blockIdx.x * blockDim.x + threadIdx.x;
  if (i >= n_vec) return;
  const uint32_t m = i / cols, c = i % cols, b_cols = cols - a_cols;
  const T* src = c < a_cols ? a + (static_cast<int64_t>(m) * a_cols + c) * VEC
                            : b + (static_cast<int64_t>(m) * b_cols + c - a_cols) * VEC;
  store_pack(out + static_cast<int64_t>(i) * VEC, load_pack(src));
}

// One thread per input vector, written to the 2x2 output pixels it covers.
template <typename T>
__global__ void upsample_nearest2x_kernel(const T* __restrict__ x, T* __restrict__ y, uint32_t n_vec, uint32_t cols,
                                          uint32_t H, uint32_t W) {
  constexpr int VEC = Pack<T>::kSize;
  const uint32_t i = blockIdx.x * blockDim.x + threadIdx.x;
  if (i >= n_vec) return;
  const uint32_t pixel = i / cols, c = i % cols;
  const uint32_t w = pixel % W, h = (pixel / W) % H, n = pixel / (W * H);
  const Pack<T> v = load_pack(x + static_cast<int64_t>(i) * VEC);
  const int64_t row = static_cast<int64_t>(cols) * VEC,
                top = ((static_cast<int64_t>(n) * 2 * H + 2 * h) * 2 * W + 2 * w) * row;
  T* out = y + top + static_cast<int64_t>(c) * VEC;
  store_pack(out, v);
  store_pack(out + row, v);
  store_pack(out + 2 * W * row, v);
  store_pack(out + 2 * W * row + row, v);
}

}  // namespace

bool concat_channels(const void* a, const void* b, void* out, int64_t M, int64_t Ca, int64_t Cb, DType dtype,
                     void* stream) {
  const int vec = vector_width(dtype);
  const uint32_t n_vec = vector_count(M, Ca + Cb, vec);
  if (n_vec == 0 || Ca % vec != 0 || !aligned16(a) || !aligned16(b) || !aligned16(out)) return false;
  return dispatch_dtype(dtype, [&](auto tag) {
    using T = decltype(tag);
    concat_channels_kernel<T><<<blocks_for(n_vec, kThreads), kThreads, 0, static_cast<cudaStream_t>(stream)>>>(
        static_cast<const T*>(a), static_cast<const T*>(b), static_cast<T*>(out), n_vec,
        static_cast<uint32_t>(Ca / vec), static_cast<uint32_t>((Ca + Cb) / vec));
    return true;
  });
}

bool upsample_nearest2x(const void* x, void* y, int64_t N, int64_t H, int64_t W, int64_t C, DType dtype, void* stream) {
  const int vec = vector_width(dtype);
  const uint32_t n_vec = vector_count(N * H * W, C, vec);
  // The output's 4x the vectors must fit the 32-bit indices too.
  if (n_vec == 0 || vector_count(4 * N * H * W, C, vec) == 0 || !aligned16(x) || !aligned16(y)) return false;
  return dispatch_dtype(dtype, [&](auto tag) {
    using T = decltype(tag);
    upsample_nearest2x_kernel<T><<<blocks_for(n_vec, kThreads), kThreads, 0, static_cast<cudaStream_t>(stream)>>>(
        static_cast<const T*>(x), static_cast<T*>(y), n_vec, static_cast<uint32_t>(C / vec), static_cast<uint32_t>(H),
        static_cast<uint32_t>(W));
    return true;
  });
}

}  // namespace nablagfn::kernels
