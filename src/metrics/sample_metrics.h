#pragma once
// Sample-set metrics of issue 11, on feature embeddings (metrics/features.h):
//  - diversity: mean pairwise cosine distance 1 − cos(f_i, f_j) over the N samples of one prompt, averaged
//    over prompts (the ∇-GFlowNet paper's DreamSim protocol, with the problem's own embedding);
//  - prior drift: Fréchet distance between Gaussian fits of the pretrained and the finetuned samples'
//    features of one prompt, averaged over prompts (the paper's prompt-averaged FID; Heusel et al. 2017,
//    the formula of pytorch-fid `calculate_frechet_distance`).
// What changed from pytorch-fid: the matrix square root goes through two symmetric eigendecompositions in
// float64 (Tr √(Σ1 Σ2) = Tr √(Σ1^½ Σ2 Σ1^½)) instead of scipy's sqrtm, so it is real and stable for the
// singular covariances of few samples in many dimensions.
// Sizes: N samples, F feature width.
#include <map>
#include <string>
#include <vector>

#include <ATen/core/Tensor.h>

namespace nablagfn {

// features [N, F] (N >= 2) -> mean over i != j of 1 − cos(f_i, f_j), in O(N F) through
// Σ_{i≠j} u_i·u_j = |Σ u_i|² − Σ |u_i|² with u_i = f_i / |f_i| (a zero row has cos 0 to everything).
double mean_pairwise_cosine_distance(const at::Tensor& features);

// Fréchet distance |μ1 − μ2|² + Tr(Σ1 + Σ2 − 2 √(Σ1 Σ2)) between Gaussians (means [F], covariances [F, F]),
// in float64; clamped at 0 (rounding can make it a tiny negative number).
double frechet_distance(const at::Tensor& mu1, const at::Tensor& sigma1, const at::Tensor& mu2,
                        const at::Tensor& sigma2);
// The same between the Gaussian fits (mean, unbiased covariance) of two sample sets a [Na, F], b [Nb, F],
// Na, Nb >= 2. With fewer samples than features it works on the [Na, Nb] cross-Gram matrix instead of
// F x F covariances (the same value, a few samples of 768-d CLIP embeddings per prompt cost microseconds).
double frechet_distance_of(const at::Tensor& a, const at::Tensor& b);

// {"diversity", "prior_fid"} of evaluation features [N, F] against the pretrained model's reference
// features [N, F] of the same seeds, prompt_index[i] the prompt of sample i (size N). Each metric is the
// mean over the prompts with at least 2 samples; Error when no prompt has 2.
std::map<std::string, double> diversity_and_prior_drift(const at::Tensor& features, const at::Tensor& reference,
                                                        const std::vector<int64_t>& prompt_index);

}  // namespace nablagfn
