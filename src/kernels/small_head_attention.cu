// fp32 attention for head widths 8 / 16 / 32 (see attention_kernels.h): flash-attention's recurrence
// with one thread per row. The forward keeps a query's running max m, sum l and output accumulator in
// registers and streams the keys and values through shared memory, kTile at a time; scores are in base-2
// units (q pre-multiplied by scale · log2 e) so every exponential is one exp2f. The backward recomputes the
// probabilities p = exp2(s − lse) twice: a key-parallel kernel accumulates dK and dV over all queries, a
// query-parallel one dQ over all keys (no atomics), with ds = p · (dp − delta), dp = d_out · v.
#include <math_constants.h>

#include <type_traits>

#include "kernels/attention_kernels.h"
#include "kernels/device_utils.cuh"

namespace nablagfn::kernels {

namespace {

constexpr int kThreads = 128;  // rows per block
constexpr int kTile = 32;      // rows of the other side staged in shared memory per step
constexpr float kLog2e = 1.4426950408889634f;

template <int D>
struct Row {
  float v[D];
};

template <int D>
__device__ __forceinline__ Row<D> load_row(const float* base, int64_t offset, bool valid, float factor) {
  Row<D> r;
#pragma unroll
  for (int c = 0; c < D; c += 4) {
    const float4 x = valid ? *reinterpret_cast<const float4*>(base + offset + c) : make_float4(0.f, 0.f, 0.f, 0.f);
    r.v[c] = x.x * factor;
    r.v[c + 1] = x.y * factor;
    r.v[c + 2] = x.z * factor;
    r.v[c + 3] = x.w * factor;
  }
  return r;
}

template <int D>
__device__ __forceinline__ void store_row(float* base, int64_t offset, const Row<D>& r, float factor) {
#pragma unroll
  for (int c = 0; c < D; c += 4) {
    *reinterpret_cast<float4*>(base + offset + c) =
        make_float4(r.v[c] * factor, r.v[c + 1] * factor, r.v[c + 2] * factor, r.v[c + 3] * factor);
  }
}

template <int D>
__device__ __forceinline__ float dot(const Row<D>& a, const float* b) {
  float s = 0.f;
#pragma unroll
  for (int c = 0; c < D; ++c) s = fmaf(a.v[c], b[c], s);
  return s;
}

template <int D>
__device__ __forceinline__ void axpy(Row<D>& acc, float a, const float* x) {
#pragma unroll
  for (int c = 0; c < D; ++c) acc.v[c] = fmaf(a, x[c], acc.v[c]);
}

template <typename T>
__device__ __forceinline__ int64_t row_offset(const AttentionTensor<T>& o, int64_t b, int64_t h, int64_t n) {
  return b * o.stride_b + h * o.stride_h + n * o.stride_n;
}

// A thread's row: (b, h) from blockIdx.y, row index from blockIdx.x and threadIdx.x, valid below n_rows.
struct RowThread {
  int64_t bh, b, h, row;
  bool valid;
  __device__ RowThread(const AttentionSizes& s, int64_t n_rows)
      : bh(blockIdx.y),
        b(bh / s.H),
        h(bh % s.H),
        row(static_cast<int64_t>(blockIdx.x) * kThreads + threadIdx.x),
        valid(row < n_rows) {}
};

// Rows [r0, r0 + kTile) of up to two operands (b, h) into shared memory, zeros past n_rows.
template <int D>
__device__ __forceinline__ void stage_rows(const AttentionOperand& a, const AttentionOperand& b_op, int64_t b,
                                           int64_t h, int64_t r0, int64_t n_rows, float (*sa)[D], float (*sb)[D]) {
  constexpr int kVectors = kTile * D / 4;
  for (int e = threadIdx.x; e < 2 * kVectors; e += kThreads) {
    const bool second = e >= kVectors;
    const int idx = second ? e - kVectors : e;
    const int r = idx / (D / 4), c = (idx % (D / 4)) * 4;
    const float* base = second ? b_op.data : a.data;
    const int64_t offset = second ? row_offset(b_op, b, h, r0 + r) : row_offset(a, b, h, r0 + r);
    float4 x = make_float4(0.f, 0.f, 0.f, 0.f);
    if (r0 + r < n_rows) x = *reinterpret_cast<const float4*>(base + offset + c);
    *reinterpret_cast<float4*>(&(second ? sb : sa)[r][c]) = x;
  }
}

template <int D>
__global__ void __launch_bounds__(kThreads)
    forward_kernel(AttentionOperand q, AttentionOperand k, AttentionOperand v, AttentionOutput out,
                   float* __restrict__ lse, AttentionSizes s, float scale_log2) {
  __shared__ __align__(16) float ks[kTile][D];
  __shared__ __align__(16) float vs[kTile][D];
  const RowThread t(s, s.Nq);
  const Row<D> qi = load_row<D>(q.data, row_offset(q, t.b, t.h, t.row), t.valid, scale_log2);
  Row<D> acc{};
  float m = -CUDART_INF_F, l = 0.f;
  for (int64_t j0 = 0; j0 < s.Nk; j0 += kTile) {
    __syncthreads();
    stage_rows<D>(k, v, t.b, t.h, j0, s.Nk, ks, vs);
    __syncthreads();
    const int64_t n = s.Nk - j0;
    float sc[kTile];
    float tile_max = -CUDART_INF_F;
#pragma unroll
    for (int r = 0; r < kTile; ++r) {
      sc[r] = r < n ? dot(qi, ks[r]) : -CUDART_INF_F;
      tile_max = fmaxf(tile_max, sc[r]);
    }
    const float m_new = fmaxf(m, tile_max);
    const float correction = exp2f(m - m_new);  // 0 on the first tile (m = −inf)
    l *= correction;
#pragma unroll
    for (int c = 0; c < D; ++c) acc.v[c] *= correction;
#pragma unroll
    for (int r = 0; r < kTile; ++r) {
      const float p = exp2f(sc[r] - m_new);
      l += p;
      axpy(acc, p, vs[r]);
    }
    m = m_new;
  }
  if (!t.valid) return;
  store_row<D>(out.data, row_offset(out, t.b, t.h, t.row), acc, 1.f / l);
  if (lse != nullptr) lse[t.bh * s.Nq + t.row] = m + log2f(l);
}

// dK, dV: thread j owns key j and walks every query.
template <int D>
__global__ void __launch_bounds__(kThreads)
    backward_kv_kernel(AttentionOperand q, AttentionOperand k, AttentionOperand v, AttentionOperand d_out,
                       const float* __restrict__ lse, const float* __restrict__ delta, AttentionOutput dk,
                       AttentionOutput dv, AttentionSizes s, float scale, float scale_log2) {
  __shared__ __align__(16) float qs[kTile][D];
  __shared__ __align__(16) float dos[kTile][D];
  __shared__ float lses[kTile], deltas[kTile];
  const RowThread t(s, s.Nk);
  const Row<D> kj = load_row<D>(k.data, row_offset(k, t.b, t.h, t.row), t.valid, scale_log2);
  const Row<D> vj = load_row<D>(v.data, row_offset(v, t.b, t.h, t.row), t.valid, 1.f);
  Row<D> dkj{}, dvj{};
  for (int64_t i0 = 0; i0 < s.Nq; i0 += kTile) {
    __syncthreads();
    stage_rows<D>(q, d_out, t.b, t.h, i0, s.Nq, qs, dos);
    if (threadIdx.x < kTile) {
      const int64_t i = i0 + threadIdx.x;
      // Rows past Nq: lse = +inf makes p = 0, and delta 0 keeps ds = 0.
      lses[threadIdx.x] = i < s.Nq ? lse[t.bh * s.Nq + i] : CUDART_INF_F;
      deltas[threadIdx.x] = i < s.Nq ? delta[t.bh * s.Nq + i] : 0.f;
    }
    __syncthreads();
#pragma unroll 8
    for (int r = 0; r < kTile; ++r) {
      const float p = exp2f(dot(kj, qs[r]) - lses[r]);
      axpy(dvj, p, dos[r]);
      const float ds = p * (dot(vj, dos[r]) - deltas[r]);
      axpy(dkj, ds, qs[r]);
    }
  }
  if (!t.valid) return;
  store_row<D>(dk.data, row_offset(dk, t.b, t.h, t.row), dkj, scale);
  store_row<D>(dv.data, row_offset(dv, t.b, t.h, t.row), dvj, 1.f);
}

// dQ: thread i owns query i and walks every key.
template <int D>
__global__ void __launch_bounds__(kThreads)
    backward_q_kernel(AttentionOperand q, AttentionOperand k, AttentionOperand v, AttentionOperand d_out,
                      const float* __restrict__ lse, const float* __restrict__ delta, AttentionOutput dq,
                      AttentionSizes s, float scale, float scale_log2) {
  __shared__ __align__(16) float ks[kTile][D];
  __shared__ __align__(16) float vs[kTile][D];
  const RowThread t(s, s.Nq);
  const Row<D> qi = load_row<D>(q.data, row_offset(q, t.b, t.h, t.row), t.valid, scale_log2);
  const Row<D> doi = load_row<D>(d_out.data, row_offset(d_out, t.b, t.h, t.row), t.valid, 1.f);
  const float lse_i = t.valid ? lse[t.bh * s.Nq + t.row] : CUDART_INF_F;
  const float delta_i = t.valid ? delta[t.bh * s.Nq + t.row] : 0.f;
  Row<D> dqi{};
  for (int64_t j0 = 0; j0 < s.Nk; j0 += kTile) {
    __syncthreads();
    stage_rows<D>(k, v, t.b, t.h, j0, s.Nk, ks, vs);
    __syncthreads();
    // Keys past Nk are zero rows: their ds multiplies k = 0.
#pragma unroll 8
    for (int r = 0; r < kTile; ++r) {
      const float p = exp2f(dot(qi, ks[r]) - lse_i);
      const float ds = p * (dot(doi, vs[r]) - delta_i);
      axpy(dqi, ds, ks[r]);
    }
  }
  if (!t.valid) return;
  store_row<D>(dq.data, row_offset(dq, t.b, t.h, t.row), dqi, scale);
}

// Calls f(std::integral_constant<int, d>{}) for a supported head width d.
template <typename F>
bool dispatch_width(int64_t d, F&& f) {
  switch (d) {
    case 8: return f(std::integral_constant<int, 8>{});
    case 16: return f(std::integral_constant<int, 16>{});
    case 32: return f(std::integral_constant<int, 32>{});
  }
  return false;
}

dim3 grid_for(int64_t rows, const AttentionSizes& s) {
  return dim3(static_cast<unsigned>((rows + kThreads - 1) / kThreads), static_cast<unsigned>(s.B * s.H));
}

}  // namespace

bool small_head_attention_supported(const AttentionSizes& s) {
  const bool width = s.d == 8 || s.d == 16 || s.d == 32;
  return width && s.B > 0 && s.H > 0 && s.Nq > 0 && s.Nk > 0 && s.B * s.H < 65536 &&
         (s.Nq + kThreads - 1) / kThreads < (int64_t{1} << 31) && (s.Nk + kThreads - 1) / kThreads < (int64_t{1} << 31);
}

bool small_head_attention_forward(const AttentionOperand& q, const AttentionOperand& k, const AttentionOperand& v,
                                  const AttentionOutput& out, float* lse, const AttentionSizes& s, float scale,
                                  void* stream) {
  if (!small_head_attention_supported(s) || !attention_layout_ok(q) || !attention_layout_ok(k) ||
      !attention_layout_ok(v) || !attention_layout_ok(out))
    return false;
  return dispatch_width(s.d, [&](auto width) {
    constexpr int D = decltype(width)::value;
    forward_kernel<D>
        <<<grid_for(s.Nq, s), kThreads, 0, static_cast<cudaStream_t>(stream)>>>(q, k, v, out, lse, s, scale * kLog2e);
    return true;
  });
}

bool small_head_attention_backward(const AttentionOperand& q, const AttentionOperand& k, const AttentionOperand& v,
                                   const AttentionOperand& d_out, const float* lse, const float* delta,
                                   const AttentionOutput& dq, const AttentionOutput& dk, const AttentionOutput& dv,
                                   const AttentionSizes& s, float scale, void* stream) {
  if (!small_head_attention_supported(s) || lse == nullptr || delta == nullptr || !attention_layout_ok(q) ||
      !attention_layout_ok(k) || !attention_layout_ok(v) || !attention_layout_ok(d_out) || !attention_layout_ok(dq) ||
      !attention_layout_ok(dk) || !attention_layout_ok(dv)) {
    return false;
  }
  return dispatch_width(s.d, [&](auto width) {
    constexpr int D = decltype(width)::value;
    const auto st = static_cast<cudaStream_t>(stream);
    backward_kv_kernel<D>
        <<<grid_for(s.Nk, s), kThreads, 0, st>>>(q, k, v, d_out, lse, delta, dk, dv, s, scale, scale * kLog2e);
    backward_q_kernel<D>
        <<<grid_for(s.Nq, s), kThreads, 0, st>>>(q, k, v, d_out, lse, delta, dq, s, scale, scale * kLog2e);
    return true;
  });
}

}  // namespace nablagfn::kernels
