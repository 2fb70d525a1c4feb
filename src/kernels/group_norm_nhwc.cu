// GroupNorm on channels-last (NHWC) images with an optional per-(sample, channel) shift added before the
// norm and an optional SiLU after it: see nhwc_kernels.h. ATen's CUDA GroupNorm has no NHWC kernel (it
// copies channels-last inputs to NCHW), and SD's ResnetBlock2D follows it with a SiLU and precedes it
// with a broadcast add (conv bias + time embedding); here that is one read for the statistics and one
// read + write for the output.
// The backward (input gradient only) recomputes x̂ and act'(z) from x and the saved statistics, in the same
// three-launch shape. Forward, three launches:
//  1. partial: block (chunk of pixels, sample n), one 16-byte channel vector per thread and `rows` pixels
//     at a time, sums d = v − K_g and d² per group (shared-memory atomics), K_g = v at pixel 0 of the
//     group's first channel: sums relative to a sample of the group keep fp32 exact enough while
//     |μ − K_g| is a few σ, where E[v²] − μ² would cancel when |μ| ≫ σ;
//  2. finalize: per (n, g), the chunks' sums into mean and rsqrt(var + eps);
//  3. apply: y = act(x · a_c + b_c) with a_c = rstd·gamma_c, b_c = beta_c + (shift_c − mean)·a_c, blocks in
//     the reverse order of the partial pass, so the first ones read pixels still in L2.
#include <algorithm>

#include "kernels/device_utils.cuh"

namespace nablagfn::kernels {

namespace {

constexpr int kThreadsTarget = 256;  // threads per block, rounded to whole rows of channel vectors
constexpr int kPixelsPerThread = 16;
constexpr int kUnroll = 4;  // pixel loads in flight per thread

struct Plan {
  int cols = 0;          // 16-byte channel vectors per pixel
  int rows = 0;          // pixels a block handles at a time
  int threads = 0;       // rows · cols rounded up to whole warps
  int chunk_pixels = 0;  // pixels per block
  int n_chunks = 0;      // blocks per sample
};

bool make_plan(int64_t N, int64_t P, int64_t C, int64_t G, int vec, Plan& plan) {
  if (N < 1 || N > 65535 || P < 1 || P > (int64_t{1} << 30) || C < 1 || G < 1 || G > 4096 || C % G != 0 ||
      C % vec != 0) {
    return false;
  }
  plan.cols = static_cast<int>(C / vec);
  if (plan.cols > 1024) return false;
  plan.rows = std::max(1, kThreadsTarget / plan.cols);
  plan.threads = (plan.rows * plan.cols + 31) / 32 * 32;
  if (plan.threads > 1024) return false;
  plan.chunk_pixels = plan.rows * kPixelsPerThread;
  plan.n_chunks = static_cast<int>((P + plan.chunk_pixels - 1) / plan.chunk_pixels);
  return true;
}

// Shift of the channel vector at c0 for sample n, or zeros.
template <typename T>
__device__ __forceinline__ void load_shift(const T* shift, int64_t shift_stride, int n, int c0,
                                           float (&s)[Pack<T>::kSize]) {
  load_floats(shift == nullptr ? nullptr : shift + n * shift_stride + c0, 0.0f, s);
}

// K_g of the group holding channel c: v at pixel 0 of the group's first channel.
template <typename T>
__device__ __forceinline__ float group_reference(const T* x, const T* shift, int64_t shift_stride, int n, int P, int C,
                                                 int c_first) {
  const float s = shift == nullptr ? 0.0f : to_float(shift[n * shift_stride + c_first]);
  return to_float(x[static_cast<int64_t>(n) * P * C + c_first]) + s;
}

// The thread's per-channel sums s1, s2 into the block's per-group sums s_sums [G, 2]: runs of channels of
// one group leave the thread as one pair of shared-memory atomics.
template <int VEC>
__device__ __forceinline__ void add_group_sums(const float (&s1)[VEC], const float (&s2)[VEC], int col, int Cg,
                                               float* s_sums) {
  int g = col * VEC / Cg;
  float r1 = 0.0f, r2 = 0.0f;
#pragma unroll
  for (int i = 0; i < VEC; ++i) {
    const int gi = (col * VEC + i) / Cg;
    if (gi != g) {
      atomicAdd(&s_sums[2 * g], r1);
      atomicAdd(&s_sums[2 * g + 1], r2);
      g = gi;
      r1 = r2 = 0.0f;
    }
    r1 += s1[i];
    r2 += s2[i];
  }
  atomicAdd(&s_sums[2 * g], r1);
  atomicAdd(&s_sums[2 * g + 1], r2);
}

// The block's per-group sums [G, 2] to zero, seen by every thread.
__device__ __forceinline__ void clear_group_sums(float* s_sums, int G) {
  for (int i = threadIdx.x; i < 2 * G; i += blockDim.x) s_sums[i] = 0.0f;
  __syncthreads();
}

// After the block's sums are complete: its row of partial [N, n_chunks, G, 2].
__device__ __forceinline__ void write_partial(const float* s_sums, float* partial, int n, int chunk, int G) {
  __syncthreads();
  float* out = partial + (static_cast<int64_t>(n) * gridDim.x + chunk) * G * 2;
  for (int i = threadIdx.x; i < 2 * G; i += blockDim.x) out[i] = s_sums[i];
}

// A thread's place in the partial and apply grids (block = chunk of pixels, sample n): its 16-byte channel
// vector col, its first pixel row, and the end p_end of the block's chunk. reversed: blocks in the reverse
// order (the apply passes, so the first ones read pixels the partial pass left in L2).
struct ChunkThread {
  int col, row, chunk, n, p_end;
  __device__ ChunkThread(int P, int cols, int chunk_pixels, bool reversed)
      : col(threadIdx.x % cols),
        row(threadIdx.x / cols),
        chunk(reversed ? gridDim.x - 1 - blockIdx.x : blockIdx.x),
        n(reversed ? gridDim.y - 1 - blockIdx.y : blockIdx.y),
        p_end(min(P, (chunk + 1) * chunk_pixels)) {}
};

// kUnroll pixels of src [., P, C] from pixel p on, `rows` apart (those before p_end), at offset.
template <typename T>
__device__ __forceinline__ void load_pixels(const T* src, int64_t offset, int p, int rows, int p_end, int C,
                                            Pack<T> (&v)[kUnroll]) {
#pragma unroll
  for (int u = 0; u < kUnroll; ++u) {
    if (p + u * rows < p_end) v[u] = load_pack(src + offset + static_cast<int64_t>(p + u * rows) * C);
  }
}

// Per channel of the vector at col: the (first, second) pair of its group in table [N, G, 2].
template <int VEC>
__device__ __forceinline__ void load_group_pairs(const float* table, int n, int G, int col, int Cg, float (&first)[VEC],
                                                 float (&second)[VEC]) {
#pragma unroll
  for (int i = 0; i < VEC; ++i) {
    const float* pair = table + (static_cast<int64_t>(n) * G + (col * VEC + i) / Cg) * 2;
    first[i] = pair[0];
    second[i] = pair[1];
  }
}

// Σ over the chunks of sample n of group g's two partial sums, in every lane of the calling warp.
__device__ __forceinline__ void sum_chunks(const float* partial, int n, int n_chunks, int G, int g, float& s1,
                                           float& s2) {
  const int lane = threadIdx.x % 32;
  const float* base = partial + static_cast<int64_t>(n) * n_chunks * G * 2;
  s1 = s2 = 0.0f;
  for (int j = lane; j < n_chunks; j += 32) {
    s1 += base[(static_cast<int64_t>(j) * G + g) * 2];
    s2 += base[(static_cast<int64_t>(j) * G + g) * 2 + 1];
  }
  s1 = warp_sum(s1);
  s2 = warp_sum(s2);
}

// partial [N, n_chunks, G, 2]: Σ d and Σ d² of group g over chunk j of sample n, d = v − K_g.
// Dynamic shared memory: G · 2 floats.
template <typename T>
__global__ void group_norm_partial_kernel(const T* __restrict__ x, const T* __restrict__ shift, int64_t shift_stride,
                                          float* __restrict__ partial, int P, int C, int G, int rows,
                                          int chunk_pixels) {
  constexpr int VEC = Pack<T>::kSize;
  const int Cg = C / G;
  const ChunkThread th(P, C / VEC, chunk_pixels, /*reversed=*/false);
  const int col = th.col, row = th.row, chunk = th.chunk, n = th.n, p_end = th.p_end;
  extern __shared__ float s_sums[];
  clear_group_sums(s_sums, G);

  if (row < rows) {
    // d = x − (K_g − shift_c) per channel of the thread's vector.
    float k[VEC], s1[VEC], s2[VEC];
    load_shift(shift, shift_stride, n, col * VEC, k);
#pragma unroll
    for (int i = 0; i < VEC; ++i) {
      const int c_first = (col * VEC + i) / Cg * Cg;
      k[i] = group_reference(x, shift, shift_stride, n, P, C, c_first) - k[i];
      s1[i] = s2[i] = 0.0f;
    }
    const int64_t offset = static_cast<int64_t>(n) * P * C + col * VEC;
    for (int p = chunk * chunk_pixels + row; p < p_end; p += kUnroll * rows) {
      Pack<T> v[kUnroll];
      load_pixels(x, offset, p, rows, p_end, C, v);
#pragma unroll
      for (int u = 0; u < kUnroll; ++u) {
        if (p + u * rows >= p_end) break;
#pragma unroll
        for (int i = 0; i < VEC; ++i) {
          const float d = to_float(v[u].v[i]) - k[i];
          s1[i] += d;
          s2[i] += d * d;
        }
      }
    }
    add_group_sums<VEC>(s1, s2, col, Cg, s_sums);
  }
  write_partial(s_sums, partial, n, chunk, G);
}

// stats [N, G, 2]: (mean, rsqrt(var + eps)) from the chunks' sums. Grid N, one warp per group.
template <typename T>
__global__ void group_norm_finalize_kernel(const T* __restrict__ x, const T* __restrict__ shift, int64_t shift_stride,
                                           const float* __restrict__ partial, float* __restrict__ stats, int P, int C,
                                           int G, int n_chunks, float eps) {
  const int n = blockIdx.x, lane = threadIdx.x % 32, Cg = C / G;
  const float count = static_cast<float>(P) * Cg;
  for (int g = threadIdx.x / 32; g < G; g += blockDim.x / 32) {
    float s1, s2;
    sum_chunks(partial, n, n_chunks, G, g, s1, s2);
    s1 /= count;
    s2 /= count;
    if (lane == 0) {
      float* out = stats + (static_cast<int64_t>(n) * G + g) * 2;
      out[0] = group_reference(x, shift, shift_stride, n, P, C, g * Cg) + s1;
      out[1] = rsqrtf(fmaxf(s2 - s1 * s1, 0.0f) + eps);
    }
  }
}

template <typename T, bool kSilu>
__global__ void group_norm_apply_kernel(const T* __restrict__ x, const T* __restrict__ shift, int64_t shift_stride,
                                        const T* __restrict__ gamma, const T* __restrict__ beta,
                                        const float* __restrict__ stats, T* __restrict__ y, int P, int C, int G,
                                        int rows, int chunk_pixels) {
  constexpr int VEC = Pack<T>::kSize;
  const ChunkThread th(P, C / VEC, chunk_pixels, /*reversed=*/true);
  const int col = th.col, row = th.row, chunk = th.chunk, n = th.n, p_end = th.p_end;
  if (row >= rows) return;

  // y = x · a + b per channel.
  float a[VEC], b[VEC], s[VEC], mean[VEC], rstd[VEC];
  load_floats(gamma == nullptr ? nullptr : gamma + col * VEC, 1.0f, a);
  load_floats(beta == nullptr ? nullptr : beta + col * VEC, 0.0f, b);
  load_shift(shift, shift_stride, n, col * VEC, s);
  load_group_pairs<VEC>(stats, n, G, col, C / G, mean, rstd);
#pragma unroll
  for (int i = 0; i < VEC; ++i) {
    a[i] *= rstd[i];
    b[i] += (s[i] - mean[i]) * a[i];
  }

  const int64_t offset = static_cast<int64_t>(n) * P * C + col * VEC;
  for (int p = chunk * chunk_pixels + row; p < p_end; p += kUnroll * rows) {
    Pack<T> v[kUnroll];
    load_pixels(x, offset, p, rows, p_end, C, v);
#pragma unroll
    for (int u = 0; u < kUnroll; ++u) {
      if (p + u * rows >= p_end) break;
      Pack<T> out;
#pragma unroll
      for (int i = 0; i < VEC; ++i) {
        float val = to_float(v[u].v[i]) * a[i] + b[i];
        if (kSilu) val = silu(val);
        out.v[i] = from_float<T>(val);
      }
      store_pack(y + offset + static_cast<int64_t>(p + u * rows) * C, out);
    }
  }
}

// Backward, input gradient only (gamma, beta and shift are constants). With v = x + shift,
// x̂ = (v − μ)·rstd, z = x̂·γ + β, y = act(z) and dx̂ = dy · act'(z) · γ:
//   dx = rstd · (dx̂ − mean_g(dx̂) − x̂ · mean_g(dx̂ · x̂)).
// partial [N, n_chunks, G, 2]: Σ dx̂ and Σ dx̂·x̂ of group g over chunk j of sample n.
template <typename T, bool kSilu>
struct BackwardTerms {
  static constexpr int VEC = Pack<T>::kSize;
  float gamma[VEC], beta[VEC], shift[VEC], mean[VEC], rstd[VEC];

  __device__ BackwardTerms(const T* g, const T* b, const T* s, int64_t shift_stride, const float* stats, int n, int col,
                           int G, int Cg) {
    load_floats(g == nullptr ? nullptr : g + col * VEC, 1.0f, gamma);
    load_floats(b == nullptr ? nullptr : b + col * VEC, 0.0f, beta);
    load_shift(s, shift_stride, n, col * VEC, shift);
    load_group_pairs<VEC>(stats, n, G, col, Cg, mean, rstd);
  }
  // x̂ and dx̂ of channel i from x and dy.
  __device__ __forceinline__ void at(int i, float xv, float dyv, float& xh, float& dxh) const {
    xh = (xv + shift[i] - mean[i]) * rstd[i];
    float dz = dyv;
    if (kSilu) {
      const float z = xh * gamma[i] + beta[i];
      const float sig = 1.0f / (1.0f + __expf(-z));
      dz *= sig * (1.0f + z * (1.0f - sig));
    }
    dxh = dz * gamma[i];
  }
};

template <typename T, bool kSilu>
__global__ void group_norm_backward_partial_kernel(const T* __restrict__ x, const T* __restrict__ shift,
                                                   int64_t shift_stride, const T* __restrict__ gamma,
                                                   const T* __restrict__ beta, const float* __restrict__ stats,
                                                   const T* __restrict__ dy, float* __restrict__ partial, int P, int C,
                                                   int G, int rows, int chunk_pixels) {
  constexpr int VEC = Pack<T>::kSize;
  const int Cg = C / G;
  const ChunkThread th(P, C / VEC, chunk_pixels, /*reversed=*/false);
  const int col = th.col, row = th.row, chunk = th.chunk, n = th.n, p_end = th.p_end;
  extern __shared__ float s_sums[];
  clear_group_sums(s_sums, G);

  if (row < rows) {
    const BackwardTerms<T, kSilu> t(gamma, beta, shift, shift_stride, stats, n, col, G, Cg);
    float s1[VEC], s2[VEC];
#pragma unroll
    for (int i = 0; i < VEC; ++i) s1[i] = s2[i] = 0.0f;
    const int64_t offset = static_cast<int64_t>(n) * P * C + col * VEC;
    for (int p = chunk * chunk_pixels + row; p < p_end; p += kUnroll * rows) {
      Pack<T> v[kUnroll], d[kUnroll];
      load_pixels(x, offset, p, rows, p_end, C, v);
      load_pixels(dy, offset, p, rows, p_end, C, d);
#pragma unroll
      for (int u = 0; u < kUnroll; ++u) {
        if (p + u * rows >= p_end) break;
#pragma unroll
        for (int i = 0; i < VEC; ++i) {
          float xh, dxh;
          t.at(i, to_float(v[u].v[i]), to_float(d[u].v[i]), xh, dxh);
          s1[i] += dxh;
          s2[i] += dxh * xh;
        }
      }
    }
    add_group_sums<VEC>(s1, s2, col, Cg, s_sums);
  }
  write_partial(s_sums, partial, n, chunk, G);
}

// coef [N, G, 2]: (mean_g(dx̂), mean_g(dx̂·x̂)) from the chunks' sums. Grid N, one warp per group.
__global__ void group_norm_backward_finalize_kernel(const float* __restrict__ partial, float* __restrict__ coef, int P,
                                                    int C, int G, int n_chunks) {
  const int n = blockIdx.x, lane = threadIdx.x % 32;
  const float count = static_cast<float>(P) * (C / G);
  for (int g = threadIdx.x / 32; g < G; g += blockDim.x / 32) {
    float s1, s2;
    sum_chunks(partial, n, n_chunks, G, g, s1, s2);
    if (lane == 0) {
      float* out = coef + (static_cast<int64_t>(n) * G + g) * 2;
      out[0] = s1 / count;
      out[1] = s2 / count;
    }
  }
}

template <typename T, bool kSilu>
__global__ void group_norm_backward_apply_kernel(const T* __restrict__ x, const T* __restrict__ shift,
                                                 int64_t shift_stride, const T* __restrict__ gamma,
                                                 const T* __restrict__ beta, const float* __restrict__ stats,
                                                 const float* __restrict__ coef, const T* __restrict__ dy,
                                                 T* __restrict__ dx, int P, int C, int G, int rows, int chunk_pixels) {
  constexpr int VEC = Pack<T>::kSize;
  const int Cg = C / G;
  const ChunkThread th(P, C / VEC, chunk_pixels, /*reversed=*/true);
  const int col = th.col, row = th.row, chunk = th.chunk, n = th.n, p_end = th.p_end;
  if (row >= rows) return;
  const BackwardTerms<T, kSilu> t(gamma, beta, shift, shift_stride, stats, n, col, G, Cg);
  float c1[VEC], c2[VEC];
  load_group_pairs<VEC>(coef, n, G, col, Cg, c1, c2);
  const int64_t offset = static_cast<int64_t>(n) * P * C + col * VEC;
  for (int p = chunk * chunk_pixels + row; p < p_end; p += kUnroll * rows) {
    Pack<T> v[kUnroll], d[kUnroll];
    load_pixels(x, offset, p, rows, p_end, C, v);
    load_pixels(dy, offset, p, rows, p_end, C, d);
#pragma unroll
    for (int u = 0; u < kUnroll; ++u) {
      if (p + u * rows >= p_end) break;
      Pack<T> out;
#pragma unroll
      for (int i = 0; i < VEC; ++i) {
        float xh, dxh;
        t.at(i, to_float(v[u].v[i]), to_float(d[u].v[i]), xh, dxh);
        out.v[i] = from_float<T>(t.rstd[i] * (dxh - c1[i] - xh * c2[i]));
      }
      store_pack(dx + offset + static_cast<int64_t>(p + u * rows) * C, out);
    }
  }
}

}  // namespace

int64_t group_norm_workspace_floats(int64_t N, int64_t P, int64_t C, int64_t G, DType dtype) {
  Plan plan;
  if (!make_plan(N, P, C, G, vector_width(dtype), plan)) return -1;
  return N * plan.n_chunks * G * 2 + N * G * 2;
}

bool group_norm_nhwc(const void* x, const void* shift, int64_t shift_stride, const void* gamma, const void* beta,
                     void* y, float* workspace, int64_t N, int64_t P, int64_t C, int64_t G, float eps, bool silu,
                     DType dtype, void* stream) {
  Plan plan;
  if (!make_plan(N, P, C, G, vector_width(dtype), plan)) return false;
  for (const void* p : {x, shift, gamma, beta, static_cast<const void*>(y)}) {
    if (!aligned16(p)) return false;
  }
  auto s = static_cast<cudaStream_t>(stream);
  float* partial = workspace;
  float* stats = workspace + N * plan.n_chunks * G * 2;
  const dim3 grid(plan.n_chunks, static_cast<unsigned>(N));
  const size_t sums_smem = 2 * static_cast<size_t>(G) * sizeof(float);
  return dispatch_dtype(dtype, [&](auto tag) {
    using T = decltype(tag);
    const T* xt = static_cast<const T*>(x);
    const T* st = static_cast<const T*>(shift);
    const int Pi = static_cast<int>(P), Ci = static_cast<int>(C), Gi = static_cast<int>(G);
    group_norm_partial_kernel<T>
        <<<grid, plan.threads, sums_smem, s>>>(xt, st, shift_stride, partial, Pi, Ci, Gi, plan.rows, plan.chunk_pixels);
    group_norm_finalize_kernel<T>
        <<<static_cast<unsigned>(N), 256, 0, s>>>(xt, st, shift_stride, partial, stats, Pi, Ci, Gi, plan.n_chunks, eps);
    auto apply = silu ? group_norm_apply_kernel<T, true> : group_norm_apply_kernel<T, false>;
    apply<<<grid, plan.threads, 0, s>>>(xt, st, shift_stride, static_cast<const T*>(gamma), static_cast<const T*>(beta),
                                        stats, static_cast<T*>(y), Pi, Ci, Gi, plan.rows, plan.chunk_pixels);
    return true;
  });
}

bool group_norm_nhwc_backward(const void* x, const void* shift, int64_t shift_stride, const void* gamma,
                              const void* beta, const float* stats, const void* dy, void* dx, float* workspace,
                              int64_t N, int64_t P, int64_t C, int64_t G, bool silu, DType dtype, void* stream) {
  Plan plan;
  if (!make_plan(N, P, C, G, vector_width(dtype), plan)) return false;
  for (const void* p : {x, shift, gamma, beta, dy, static_cast<const void*>(dx)}) {
    if (!aligned16(p)) return false;
  }
  auto s = static_cast<cudaStream_t>(stream);
  float* partial = workspace;
  float* coef = workspace + N * plan.n_chunks * G * 2;
  const dim3 grid(plan.n_chunks, static_cast<unsigned>(N));
  const size_t sums_smem = 2 * static_cast<size_t>(G) * sizeof(float);
  return dispatch_dtype(dtype, [&](auto tag) {
    using T = decltype(tag);
    const T *xt = static_cast<const T*>(x), *st = static_cast<const T*>(shift), *gt = static_cast<const T*>(gamma),
            *bt = static_cast<const T*>(beta), *dyt = static_cast<const T*>(dy);
    const int Pi = static_cast<int>(P), Ci = static_cast<int>(C), Gi = static_cast<int>(G);
    auto partial_kernel =
        silu ? group_norm_backward_partial_kernel<T, true> : group_norm_backward_partial_kernel<T, false>;
    partial_kernel<<<grid, plan.threads, sums_smem, s>>>(xt, st, shift_stride, gt, bt, stats, dyt, partial, Pi, Ci, Gi,
                                                         plan.rows, plan.chunk_pixels);
    group_norm_backward_finalize_kernel<<<static_cast<unsigned>(N), 256, 0, s>>>(partial, coef, Pi, Ci, Gi,
                                                                                 plan.n_chunks);
    auto apply = silu ? group_norm_backward_apply_kernel<T, true> : group_norm_backward_apply_kernel<T, false>;
    apply<<<grid, plan.threads, 0, s>>>(xt, st, shift_stride, gt, bt, stats, coef, dyt, static_cast<T*>(dx), Pi, Ci, Gi,
                                        plan.rows, plan.chunk_pixels);
    return true;
  });
}

}  // namespace nablagfn::kernels
