// Diversity and prior drift of sample sets; see sample_metrics.h for the protocol and the references.
#include "metrics/sample_metrics.h"

#include <ATen/ATen.h>

#include <algorithm>
#include <cmath>

#include "core/error.h"

namespace nablagfn {

namespace {
// √ of a symmetric positive semi-definite matrix [F, F] (float64) through its eigendecomposition;
// eigenvalues below 0 (rounding) count as 0.
at::Tensor sqrt_psd(const at::Tensor& m) {
  auto [values, vectors] = at::linalg_eigh(m);                  // [F], [F, F]
  return (vectors * values.clamp_min(0).sqrt()).matmul(vectors.transpose(0, 1));  // V diag(√λ) Vᵀ
}

// Mean [F] and unbiased covariance [F, F] of x [N, F], float64.
std::pair<at::Tensor, at::Tensor> gaussian_fit(const at::Tensor& x) {
  at::Tensor xd = x.to(at::kDouble);
  at::Tensor mu = xd.mean(0);                                    // [F]
  at::Tensor centred = xd - mu;                                  // [N, F]
  return {mu, centred.transpose(0, 1).matmul(centred) / static_cast<double>(x.size(0) - 1)};  // [F, F]
}
}  // namespace

double mean_pairwise_cosine_distance(const at::Tensor& features) {
  TORCH_CHECK(features.dim() == 2 && features.size(0) >= 2, "mean_pairwise_cosine_distance needs [N >= 2, F], got ",
              features.sizes());
  const double n = static_cast<double>(features.size(0));
  at::Tensor f = features.to(at::kDouble);
  at::Tensor u = f / f.norm(2, 1, /*keepdim=*/true).clamp_min(1e-12);  // [N, F] unit rows (zero rows stay 0)
  const double sum_all = u.sum(0).pow(2).sum().item<double>();         // |Σ u_i|² = Σ_ij u_i·u_j
  const double sum_diag = u.pow(2).sum().item<double>();               // Σ |u_i|²
  return 1.0 - (sum_all - sum_diag) / (n * (n - 1));
}

double frechet_distance(const at::Tensor& mu1, const at::Tensor& sigma1, const at::Tensor& mu2,
                        const at::Tensor& sigma2) {
  at::Tensor s1 = sigma1.to(at::kDouble), s2 = sigma2.to(at::kDouble);
  TORCH_CHECK(s1.dim() == 2 && s1.sizes() == s2.sizes() && mu1.numel() == s1.size(0) && mu2.numel() == s1.size(0),
              "frechet_distance: means [F] and covariances [F, F] of one F");
  at::Tensor root1 = sqrt_psd(s1);                     // Σ1^½
  at::Tensor inner = root1.matmul(s2).matmul(root1);   // Σ1^½ Σ2 Σ1^½, symmetric PSD, same spectrum as Σ1 Σ2
  inner = 0.5 * (inner + inner.transpose(0, 1));       // symmetric up to rounding; eigh reads one triangle
  const double tr_sqrt = at::linalg_eigvalsh(inner).clamp_min(0).sqrt().sum().item<double>();
  const double mean_term = (mu1.to(at::kDouble) - mu2.to(at::kDouble)).pow(2).sum().item<double>();
  const double d = mean_term + s1.trace().item<double>() + s2.trace().item<double>() - 2.0 * tr_sqrt;
  return std::max(d, 0.0);
}

double frechet_distance_of(const at::Tensor& a, const at::Tensor& b) {
  TORCH_CHECK(a.dim() == 2 && b.dim() == 2 && a.size(1) == b.size(1) && a.size(0) >= 2 && b.size(0) >= 2,
              "frechet_distance_of needs [Na >= 2, F] and [Nb >= 2, F], got ", a.sizes(), " and ", b.sizes());
  const int64_t na = a.size(0), nb = b.size(0), F = a.size(1);
  if (std::max(na, nb) >= F) {
    auto [mu_a, sigma_a] = gaussian_fit(a);
    auto [mu_b, sigma_b] = gaussian_fit(b);
    return frechet_distance(mu_a, sigma_a, mu_b, sigma_b);
  }
  // Fewer samples than features (CLIP embeddings of a few samples per prompt): with centred samples
  // A [Na, F], B [Nb, F], Σa = AᵀA / (Na − 1), and the non-zero eigenvalues of Σa Σb are those of
  // M Mᵀ / ((Na − 1)(Nb − 1)) with M = A Bᵀ [Na, Nb], so Tr √(Σa Σb) = Σ √eig(M Mᵀ) / √((Na − 1)(Nb − 1))
  // without any F x F matrix.
  at::Tensor ad = a.to(at::kDouble), bd = b.to(at::kDouble);
  at::Tensor mu_a = ad.mean(0), mu_b = bd.mean(0);  // [F]
  at::Tensor A = ad - mu_a, B = bd - mu_b;          // [Na, F], [Nb, F]
  at::Tensor M = A.matmul(B.transpose(0, 1));       // [Na, Nb]
  at::Tensor gram = na <= nb ? M.matmul(M.transpose(0, 1)) : M.transpose(0, 1).matmul(M);  // the smaller side
  const double tr_sqrt = at::linalg_eigvalsh(gram).clamp_min(0).sqrt().sum().item<double>() /
                         std::sqrt(static_cast<double>((na - 1) * (nb - 1)));
  const double tr_a = A.pow(2).sum().item<double>() / (na - 1), tr_b = B.pow(2).sum().item<double>() / (nb - 1);
  const double d = (mu_a - mu_b).pow(2).sum().item<double>() + tr_a + tr_b - 2.0 * tr_sqrt;
  return std::max(d, 0.0);
}

std::map<std::string, double> diversity_and_prior_drift(const at::Tensor& features, const at::Tensor& reference,
                                                        const std::vector<int64_t>& prompt_index) {
  TORCH_CHECK(features.dim() == 2 && features.sizes() == reference.sizes() &&
                  features.size(0) == static_cast<int64_t>(prompt_index.size()),
              "diversity_and_prior_drift: features and reference [N, F] with N prompt indices");
  std::map<int64_t, std::vector<int64_t>> rows;  // prompt -> its sample rows
  for (size_t i = 0; i < prompt_index.size(); ++i) rows[prompt_index[i]].push_back(static_cast<int64_t>(i));
  double diversity = 0, drift = 0;
  int n_prompts = 0;
  for (const auto& [prompt, idx] : rows) {
    if (idx.size() < 2) continue;
    at::Tensor sel = at::tensor(idx, at::kLong);
    at::Tensor f = features.index_select(0, sel), r = reference.index_select(0, sel);  // [n_p, F]
    diversity += mean_pairwise_cosine_distance(f);
    drift += frechet_distance_of(r, f);
    ++n_prompts;
  }
  require(n_prompts > 0, "diversity and prior drift need at least 2 evaluation samples of one prompt",
          "raise eval.n_samples to at least twice the number of prompts");
  return {{"diversity", diversity / n_prompts}, {"prior_fid", drift / n_prompts}};
}

}  // namespace nablagfn
