#pragma once
// Tensors to and from safetensors files. Loading keeps each tensor's stored dtype (no silent casts).
#include <map>
#include <string>
#include <utility>
#include <vector>

#include <ATen/core/Tensor.h>

namespace nablagfn {

using TensorMap = std::map<std::string, at::Tensor>;

// All tensors of a safetensors file, as contiguous CPU tensors of the stored dtype.
TensorMap load_safetensors(const std::string& path);
// Writes CPU copies of the tensors atomically, in the given order. Supported dtypes: see DType.
void save_safetensors(const std::string& path, const std::vector<std::pair<std::string, at::Tensor>>& tensors,
                      const std::map<std::string, std::string>& metadata = {});
void save_safetensors(const std::string& path, const TensorMap& tensors,
                      const std::map<std::string, std::string>& metadata = {});

}  // namespace nablagfn
