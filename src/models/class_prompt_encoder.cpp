// Learned class-name conditioning: see class_prompt_encoder.h.
#include "models/class_prompt_encoder.h"

#include <ATen/ATen.h>
#include <ATen/core/grad_mode.h>

#include <algorithm>

#include "core/error.h"
#include "core/strings.h"
#include "io/safetensors.h"
#include "models/state_dict.h"

namespace nablagfn {

ClassEmbeddingImpl::ClassEmbeddingImpl(int64_t n_classes, int64_t n_tokens, int64_t dim)
    : n_classes_(n_classes), n_tokens_(n_tokens), dim_(dim) {
  TORCH_CHECK(n_classes >= 1 && n_tokens >= 1 && dim >= 1, "ClassEmbedding: sizes must be positive");
  table = register_module("table", torch::nn::Embedding(n_classes + 1, n_tokens * dim));
}

at::Tensor ClassEmbeddingImpl::forward(const at::Tensor& class_ids) {
  return table->forward(class_ids).view({class_ids.size(0), n_tokens_, dim_});  // [B, L*D] -> [B, L, D]
}

ClassPromptEncoder::ClassPromptEncoder(std::vector<std::string> class_names, ClassEmbedding embedding,
                                       c10::Device device)
    : class_names_(std::move(class_names)), embedding_(std::move(embedding)), device_(device) {
  TORCH_CHECK(static_cast<int64_t>(class_names_.size()) == embedding_->n_classes(),
              "ClassPromptEncoder: one embedding row per class name");
  embedding_->to(device);
  embedding_->eval();
  for (auto& p : embedding_->parameters()) p.set_requires_grad(false);
}

ClassPromptEncoder ClassPromptEncoder::from_file(const std::string& path, std::vector<std::string> class_names,
                                                 c10::Device device) {
  SafeTensors file(path);
  auto meta = [&](const std::string& key) {
    auto it = file.metadata().find(key);
    require(it != file.metadata().end(), "'" + path + "' lacks the metadata entry '" + key + "'",
            "write it with `nablagfn pretrain` (save_class_embedding)");
    return std::stoll(it->second);
  };
  const int64_t n_tokens = meta("n_tokens"), dim = meta("dim");
  ClassEmbedding embedding(static_cast<int64_t>(class_names.size()), n_tokens, dim);
  load_state_dict(*embedding, load_safetensors(path), path,
                  LoadOptions{"", {}, "the file must hold one row per class name plus one for the empty prompt"});
  return ClassPromptEncoder(std::move(class_names), std::move(embedding), device);
}

at::Tensor ClassPromptEncoder::class_ids(const std::vector<std::string>& prompts) const {
  std::vector<int64_t> ids;
  for (const auto& p : prompts) {
    if (p.empty()) {
      ids.push_back(static_cast<int64_t>(class_names_.size()));
      continue;
    }
    auto it = std::find(class_names_.begin(), class_names_.end(), p);
    require(it != class_names_.end(), "prompt '" + p + "' is not a class of this model",
            "use one of: " + join(class_names_, ", "));
    ids.push_back(it - class_names_.begin());
  }
  return at::tensor(ids, at::kLong);  // [B]
}

at::Tensor ClassPromptEncoder::encode(const std::vector<std::string>& prompts) {
  at::NoGradGuard no_grad;
  return embedding_->forward(class_ids(prompts).to(device_));  // [B, L, D]
}

void save_class_embedding(const std::string& path, ClassEmbedding& embedding) {
  save_safetensors(path,
                   std::vector<std::pair<std::string, at::Tensor>>{{"table.weight", embedding->table->weight.detach()}},
                   {{"n_tokens", std::to_string(embedding->n_tokens())}, {"dim", std::to_string(embedding->dim())}});
}

}  // namespace nablagfn
