#pragma once
// Class-name conditioning of the embedded Fashion-MNIST model: a learned table of L context tokens of
// width D per class name, plus one row for the empty prompt, the unconditional context of
// classifier-free guidance. It stands where SD's CLIP text encoder stands (the PromptEncoder interface,
// cross-attention context [B, L, D]), so the finetuning code path is SD's; a closed set of ten prompts
// needs no tokenizer.
// Legend: B batch, L context tokens, D context width, N class names.
#include <cstdint>
#include <string>
#include <vector>

#include <c10/core/Device.h>
#include <torch/nn/module.h>
#include <torch/nn/modules/embedding.h>

#include "io/tensor_io.h"
#include "models/pipeline_parts.h"

namespace nablagfn {

class ClassEmbeddingImpl : public torch::nn::Module {
 public:
  // n_classes rows for the class names, row n_classes for the empty prompt.
  ClassEmbeddingImpl(int64_t n_classes, int64_t n_tokens, int64_t dim);
  // class_ids [B] int64 in [0, n_classes] -> [B, L, D], with a graph to the table when grad is on.
  at::Tensor forward(const at::Tensor& class_ids);

  int64_t n_classes() const { return n_classes_; }
  int64_t n_tokens() const { return n_tokens_; }
  int64_t dim() const { return dim_; }

  torch::nn::Embedding table{nullptr};  // [N + 1, L * D]

 private:
  int64_t n_classes_, n_tokens_, dim_;
};
TORCH_MODULE(ClassEmbedding);

class ClassPromptEncoder : public PromptEncoder {
 public:
  // The embedding's weights move to device and stop requiring grad.
  ClassPromptEncoder(std::vector<std::string> class_names, ClassEmbedding embedding, c10::Device device);
  // A file written by save_class_embedding; Error if its row count disagrees with class_names.
  static ClassPromptEncoder from_file(const std::string& path, std::vector<std::string> class_names,
                                      c10::Device device);

  // prompts -> [B] int64 class ids ("" -> the unconditional row); Error naming an unknown prompt.
  at::Tensor class_ids(const std::vector<std::string>& prompts) const;
  // prompts (B) -> [B, L, D] float32 on device, no graph.
  at::Tensor encode(const std::vector<std::string>& prompts) override;

  const std::vector<std::string>& class_names() const { return class_names_; }

 private:
  std::vector<std::string> class_names_;
  ClassEmbedding embedding_;
  c10::Device device_;
};

// Writes the table as "table.weight" [N + 1, L * D] with n_tokens / dim in the metadata.
void save_class_embedding(const std::string& path, ClassEmbedding& embedding);

}  // namespace nablagfn
