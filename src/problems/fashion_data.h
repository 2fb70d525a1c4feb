#pragma once
// Fashion-MNIST (Xiao, Rasul & Vollgraf 2017) as tensors: 28×28 grayscale articles of clothing in ten
// classes, padded to the 32×32 of the embedded model, read from Debian's dataset-fashion-mnist IDX files.
// Legend: N images.
#include <string>
#include <vector>

#include <ATen/core/Tensor.h>

namespace nablagfn {

// The ten class names in label order; they are the embedded model's prompts.
const std::vector<std::string>& fashion_class_names();

struct FashionMNIST {
  at::Tensor images;  // [N, 1, 32, 32] float32 in [0, 1], the 28×28 image centred on a 2-pixel 0 border
  at::Tensor labels;  // [N] int64 in [0, 10)
};

// split "train" (60 000) or "t10k" (10 000) from dir/<split>-images-idx3-ubyte.gz and
// dir/<split>-labels-idx1-ubyte.gz. Error on a missing or corrupt file, images that are not N×28×28, or
// labels that do not match the images in count or range.
FashionMNIST load_fashion_mnist(const std::string& dir, const std::string& split);

}  // namespace nablagfn
