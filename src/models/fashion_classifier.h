#pragma once
// The small CNN that classifies 32×32 Fashion-MNIST images (28×28 padded by 2): it measures whether
// finetuned samples still show the prompted class (class_agreement), and its penultimate activations
// are the image embeddings of the default model's diversity and prior-drift metrics.
// Three 3×3 conv + ReLU + 2×2 max-pool stages (32 -> 16 -> 8 -> 4), a ReLU linear layer (the features),
// a linear head (the logits).
// Legend: B batch, D feature width (128), N classes (10).
#include <cstdint>
#include <string>

#include <torch/nn/module.h>
#include <torch/nn/modules/conv.h>
#include <torch/nn/modules/linear.h>

namespace nablagfn {

class FashionClassifierImpl : public torch::nn::Module {
 public:
  explicit FashionClassifierImpl(int64_t n_classes = 10, int64_t feature_dim = 128);
  // images [B, 1, 32, 32] float32 in [0, 1] -> [B, D] (after ReLU); a graph to images when they require grad.
  at::Tensor features(const at::Tensor& images);
  // images as above -> [B, N] unnormalised class scores.
  at::Tensor logits(const at::Tensor& images);

  int64_t feature_dim() const { return feature_dim_; }

  torch::nn::Conv2d conv1{nullptr}, conv2{nullptr}, conv3{nullptr};
  torch::nn::Linear fc{nullptr}, head{nullptr};

 private:
  int64_t feature_dim_;
};
TORCH_MODULE(FashionClassifier);

// A classifier file written by save_classifier, loaded strictly, in eval mode without gradients.
FashionClassifier load_fashion_classifier(const std::string& path);
void save_fashion_classifier(const std::string& path, FashionClassifier& classifier);

}  // namespace nablagfn
