#pragma once
// Per-mode masses of 2-D samples (nearest mean) and their total variation to exact masses: the toy
// problem's measure of whether a sampler lands on p·exp(βr) (issue 2).
#include <vector>

#include <ATen/core/Tensor.h>

namespace nablagfn {

// samples [N, D], means [M, D] -> masses [M] float64 (fraction of samples nearest to each mean).
at::Tensor mode_masses(const at::Tensor& samples, const at::Tensor& means);
// ½ Σ |p − q| of two mass vectors [M].
double total_variation(const at::Tensor& p, const at::Tensor& q);

}  // namespace nablagfn
