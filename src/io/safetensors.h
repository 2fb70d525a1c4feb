#pragma once
// The safetensors format (huggingface/safetensors, docs "Format"): 8-byte little-endian header length N,
// N bytes of JSON {name: {dtype, shape, data_offsets: [begin, end]}, "__metadata__": {str: str}},
// then the raw little-endian data. This file is torch-free; io/tensor_io.h converts to tensors.
// Every offset, size and shape is checked against the file before any byte is used.
#include <cstdint>
#include <map>
#include <string>
#include <vector>

namespace nablagfn {

enum class DType { F64, F32, F16, BF16, I64, I32, I16, I8, U8, Bool };

std::string to_string(DType dtype);      // "F32", ...
DType parse_dtype(const std::string& s);  // Error listing the supported names on unknown input
size_t dtype_size(DType dtype);

struct TensorView {
  DType dtype;
  std::vector<int64_t> shape;
  const uint8_t* data;  // points into the mapped file; valid while the SafeTensors object lives
  size_t nbytes;
};

// A read-only, memory-mapped safetensors file.
class SafeTensors {
 public:
  explicit SafeTensors(const std::string& path);  // Error on a missing, truncated or corrupt file
  ~SafeTensors();
  SafeTensors(const SafeTensors&) = delete;
  SafeTensors& operator=(const SafeTensors&) = delete;

  const std::string& path() const { return path_; }
  std::vector<std::string> names() const;  // sorted
  bool contains(const std::string& name) const { return entries_.count(name) != 0; }
  const TensorView& at(const std::string& name) const;  // Error naming the file if absent
  const std::map<std::string, std::string>& metadata() const { return metadata_; }

 private:
  std::string path_;
  void* map_ = nullptr;
  size_t map_size_ = 0;
  std::map<std::string, TensorView> entries_;
  std::map<std::string, std::string> metadata_;
};

struct TensorEntry {
  std::string name;
  DType dtype;
  std::vector<int64_t> shape;
  const void* data;  // little-endian, contiguous, nbytes = numel * dtype_size
  size_t nbytes;
};

// Writes entries (in the given order) atomically.
void write_safetensors(const std::string& path, const std::vector<TensorEntry>& entries,
                       const std::map<std::string, std::string>& metadata = {});

}  // namespace nablagfn
