#pragma once
// Launchers of the hand-written CUDA kernels (src/kernels/*.cu). Torch-free and CUDA-header-free: raw
// device pointers, sizes, and the stream as void* (a cudaStream_t). Built only where CMake finds nvcc
// (NABLAGFN_WITH_CUDA_KERNELS); model code calls the tensor-level kernels/fused_ops.h instead.
// Every array is dense with its rows innermost: [M, C] with C contiguous, which is NHWC for an image
// ([N, P, C], P = H·W pixels) and [B·L, C] for tokens. Pointers must be 16-byte aligned and C a multiple
// of vector_width(dtype). Arithmetic is fp32 whatever the element type; each output is rounded once.
// A launcher returns false, launching nothing, when the sizes are outside what its kernel handles; it
// never synchronises, and the caller checks cudaGetLastError.
// Legend: N batch, P pixels per image, C channels, G groups, M rows, D GEGLU output width.
#include <cstdint>

namespace nablagfn::kernels {

enum class DType { Float32, BFloat16, Float16 };

// Elements in 16 bytes: 4 (fp32) or 8 (bf16 / fp16).
inline int vector_width(DType dtype) { return dtype == DType::Float32 ? 4 : 8; }

// Floats of workspace group_norm_nhwc needs, or -1 when it does not handle these sizes.
int64_t group_norm_workspace_floats(int64_t N, int64_t P, int64_t C, int64_t G, DType dtype);

// GroupNorm of x [N, P, C] into y [N, P, C]:
//   v = x + shift[n, c];  y = act((v − μ[n, g]) · rsqrt(σ²[n, g] + eps) · gamma[c] + beta[c])
// with μ, σ² the biased mean and variance of v over the P · C/G values of group g of sample n (fp32 sums
// of v − K_g, K_g one value of the group, so no cancellation when |μ| ≫ σ). shift: row n
// at shift + n · shift_stride (stride 0: one row for all samples), or null; gamma / beta [C] or null
// (1 / 0); act = SiLU when silu, else identity.
// After the call the workspace's last N · G · 2 floats hold (μ, rsqrt(σ² + eps)) per (n, g): the statistics
// the backward takes.
bool group_norm_nhwc(const void* x, const void* shift, int64_t shift_stride, const void* gamma, const void* beta,
                     void* y, float* workspace, int64_t N, int64_t P, int64_t C, int64_t G, float eps, bool silu,
                     DType dtype, void* stream);

// dx [N, P, C] of the GroupNorm above from dy [N, P, C], the same x, shift, gamma, beta and silu, and the
// forward's statistics stats [N, G, 2]; gamma, beta and shift get no gradient. The workspace is sized as
// for the forward (group_norm_workspace_floats), a fresh one (the forward's holds stats).
bool group_norm_nhwc_backward(const void* x, const void* shift, int64_t shift_stride, const void* gamma,
                              const void* beta, const float* stats, const void* dy, void* dx, float* workspace,
                              int64_t N, int64_t P, int64_t C, int64_t G, bool silu, DType dtype, void* stream);

// out [M, C] = ((a + a_bias[c]) + (b + b_bias[c])) / divisor; b, a_bias and b_bias may be null.
bool add_bias_residual(const void* a, const void* a_bias, const void* b, const void* b_bias, void* out, int64_t M,
                       int64_t C, float divisor, DType dtype, void* stream);

// out [M, D] = h · GELU(gate) with GELU(g) = g/2 · (1 + erf(g/√2)), where row m of hg [M, 2D] is [h | gate].
bool geglu(const void* hg, void* out, int64_t M, int64_t D, DType dtype, void* stream);

// h = x + r rounded to the element type (r null: h = x), y = LayerNorm(h) over each row of C:
// (h − mean) · rsqrt(var + eps) · gamma + beta, and h_out = h + h_bias (rounded), written unless r and
// h_bias are both null. gamma, beta, h_bias [C] or null.
bool add_layer_norm(const void* x, const void* r, const void* gamma, const void* beta, const void* h_bias, void* h_out,
                    void* y, int64_t M, int64_t C, float eps, DType dtype, void* stream);

// out [M, Ca + Cb] = [a | b] per row, a [M, Ca], b [M, Cb] (Ca and Cb whole vectors).
bool concat_channels(const void* a, const void* b, void* out, int64_t M, int64_t Ca, int64_t Cb, DType dtype,
                     void* stream);

// Nearest x2 upsampling of x [N, H, W, C] into y [N, 2H, 2W, C].
bool upsample_nearest2x(const void* x, void* y, int64_t N, int64_t H, int64_t W, int64_t C, DType dtype, void* stream);

}  // namespace nablagfn::kernels
