#include "io/tensor_io.h"

#include <ATen/ATen.h>

#include "core/error.h"
#include "io/safetensors.h"

namespace nablagfn {

namespace {
at::ScalarType to_scalar_type(DType d) {
  switch (d) {
    case DType::F64: return at::kDouble;
    case DType::F32: return at::kFloat;
    case DType::F16: return at::kHalf;
    case DType::BF16: return at::kBFloat16;
    case DType::I64: return at::kLong;
    case DType::I32: return at::kInt;
    case DType::I16: return at::kShort;
    case DType::I8: return at::kChar;
    case DType::U8: return at::kByte;
    case DType::Bool: return at::kBool;
  }
  return at::kFloat;
}

DType to_dtype(at::ScalarType s, const std::string& name) {
  switch (s) {
    case at::kDouble: return DType::F64;
    case at::kFloat: return DType::F32;
    case at::kHalf: return DType::F16;
    case at::kBFloat16: return DType::BF16;
    case at::kLong: return DType::I64;
    case at::kInt: return DType::I32;
    case at::kShort: return DType::I16;
    case at::kChar: return DType::I8;
    case at::kByte: return DType::U8;
    case at::kBool: return DType::Bool;
    default: break;
  }
  throw Error("tensor '" + name + "' has dtype " + std::string(c10::toString(s)) + ", which safetensors cannot hold",
              "convert it to float32 first");
}
}  // namespace

TensorMap load_safetensors(const std::string& path) {
  SafeTensors file(path);
  TensorMap out;
  for (const auto& name : file.names()) {
    const TensorView& v = file.at(name);
    at::Tensor t = at::empty(v.shape, at::TensorOptions().dtype(to_scalar_type(v.dtype)));
    if (v.nbytes > 0) std::memcpy(t.data_ptr(), v.data, v.nbytes);
    out.emplace(name, std::move(t));
  }
  return out;
}

void save_safetensors(const std::string& path, const std::vector<std::pair<std::string, at::Tensor>>& tensors,
                      const std::map<std::string, std::string>& metadata) {
  std::vector<at::Tensor> keep;
  std::vector<TensorEntry> entries;
  for (const auto& [name, tensor] : tensors) {
    at::Tensor t = tensor.detach().to(at::kCPU).contiguous();
    keep.push_back(t);
    entries.push_back({name, to_dtype(t.scalar_type(), name), t.sizes().vec(), t.data_ptr(),
                       static_cast<size_t>(t.numel()) * t.element_size()});
  }
  write_safetensors(path, entries, metadata);
}

void save_safetensors(const std::string& path, const TensorMap& tensors,
                      const std::map<std::string, std::string>& metadata) {
  save_safetensors(path, std::vector<std::pair<std::string, at::Tensor>>(tensors.begin(), tensors.end()), metadata);
}

}  // namespace nablagfn
