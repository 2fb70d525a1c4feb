// FlatFeatures; see features.h.
#include "metrics/features.h"

#include <ATen/ATen.h>

namespace nablagfn {

at::Tensor FlatFeatures::features(const at::Tensor& samples) {
  return samples.detach().reshape({samples.size(0), -1}).to(at::kFloat).cpu();  // [N, ...] -> [N, F]
}

}  // namespace nablagfn
