// Fashion-MNIST classifier CNN: see fashion_classifier.h.
#include "models/fashion_classifier.h"

#include <ATen/ATen.h>

#include "io/tensor_io.h"
#include "models/state_dict.h"

namespace nablagfn {

namespace {
torch::nn::Conv2dOptions conv3x3(int64_t in, int64_t out) { return torch::nn::Conv2dOptions(in, out, 3).padding(1); }
}  // namespace

FashionClassifierImpl::FashionClassifierImpl(int64_t n_classes, int64_t feature_dim) : feature_dim_(feature_dim) {
  conv1 = register_module("conv1", torch::nn::Conv2d(conv3x3(1, 32)));
  conv2 = register_module("conv2", torch::nn::Conv2d(conv3x3(32, 64)));
  conv3 = register_module("conv3", torch::nn::Conv2d(conv3x3(64, 64)));
  fc = register_module("fc", torch::nn::Linear(64 * 4 * 4, feature_dim));
  head = register_module("head", torch::nn::Linear(feature_dim, n_classes));
}

at::Tensor FashionClassifierImpl::features(const at::Tensor& images) {
  TORCH_CHECK(images.dim() == 4 && images.size(1) == 1 && images.size(2) == 32 && images.size(3) == 32,
              "FashionClassifier: images must be [B, 1, 32, 32]");
  at::Tensor h = images * 2.0 - 1.0;
  h = at::max_pool2d(at::relu(conv1->forward(h)), {2, 2});  // [B, 32, 16, 16]
  h = at::max_pool2d(at::relu(conv2->forward(h)), {2, 2});  // [B, 64, 8, 8]
  h = at::max_pool2d(at::relu(conv3->forward(h)), {2, 2});  // [B, 64, 4, 4]
  return at::relu(fc->forward(h.flatten(1)));               // [B, 1024] -> [B, D]
}

at::Tensor FashionClassifierImpl::logits(const at::Tensor& images) { return head->forward(features(images)); }

FashionClassifier load_fashion_classifier(const std::string& path) {
  FashionClassifier classifier;
  load_state_dict(*classifier, load_safetensors(path), path,
                  LoadOptions{"", {}, "write the classifier with `nablagfn pretrain`"});
  classifier->eval();
  for (auto& p : classifier->parameters()) p.set_requires_grad(false);
  return classifier;
}

void save_fashion_classifier(const std::string& path, FashionClassifier& classifier) {
  std::vector<std::pair<std::string, at::Tensor>> tensors;
  for (const auto& item : classifier->named_parameters()) tensors.emplace_back(item.key(), item.value().detach());
  save_safetensors(path, tensors);
}

}  // namespace nablagfn
