// Fashion-MNIST tensors: see fashion_data.h.
#include "problems/fashion_data.h"

#include <ATen/ATen.h>

#include "core/error.h"
#include "io/idx.h"

namespace nablagfn {

const std::vector<std::string>& fashion_class_names() {
  static const std::vector<std::string> names = {"t-shirt/top", "trouser", "pullover", "dress", "coat",
                                                 "sandal",      "shirt",   "sneaker",  "bag",   "ankle boot"};
  return names;
}

FashionMNIST load_fashion_mnist(const std::string& dir, const std::string& split) {
  require(split == "train" || split == "t10k", "unknown Fashion-MNIST split '" + split + "'", "use train or t10k");
  const std::string images_path = dir + "/" + split + "-images-idx3-ubyte.gz";
  const std::string labels_path = dir + "/" + split + "-labels-idx1-ubyte.gz";
  IdxArray images = read_idx(images_path);
  IdxArray labels = read_idx(labels_path);
  require(images.shape.size() == 3 && images.shape[1] == 28 && images.shape[2] == 28,
          "'" + images_path + "' does not hold N x 28 x 28 images", "is it an images file of Fashion-MNIST?");
  require(labels.shape.size() == 1 && labels.shape[0] == images.shape[0],
          "'" + labels_path + "' holds " + std::to_string(labels.shape[0]) + " labels for " +
              std::to_string(images.shape[0]) + " images",
          "the images and labels files must come from the same split");
  const int64_t n_classes = static_cast<int64_t>(fashion_class_names().size());
  for (uint8_t l : labels.data)
    if (l >= n_classes)
      throw Error("'" + labels_path + "' holds label " + std::to_string(l) + " (classes are 0 to 9)",
                  "is it a labels file of Fashion-MNIST?");
  const int64_t n = images.shape[0];
  FashionMNIST out;
  at::Tensor raw = at::from_blob(images.data.data(), {n, 1, 28, 28}, at::kByte).to(at::kFloat) / 255.0;
  out.images = at::constant_pad_nd(raw, {2, 2, 2, 2}, 0.0);  // [N, 1, 28, 28] -> [N, 1, 32, 32]
  out.labels = at::from_blob(labels.data.data(), {n}, at::kByte).to(at::kLong);
  return out;
}

}  // namespace nablagfn
