#include "io/safetensors.h"

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <nlohmann/json.hpp>

#include "core/error.h"
#include "io/atomic_file.h"

namespace nablagfn {

namespace {
const char* kDTypeNames[] = {"F64", "F32", "F16", "BF16", "I64", "I32", "I16", "I8", "U8", "BOOL"};
const size_t kDTypeSizes[] = {8, 4, 2, 2, 8, 4, 2, 1, 1, 1};
// A header larger than this is not a safetensors file (the reference implementation caps it at 100 MB).
const uint64_t kMaxHeader = 100u << 20;
}  // namespace

std::string to_string(DType dtype) { return kDTypeNames[static_cast<int>(dtype)]; }

size_t dtype_size(DType dtype) { return kDTypeSizes[static_cast<int>(dtype)]; }

DType parse_dtype(const std::string& s) {
  for (int i = 0; i < 10; ++i)
    if (s == kDTypeNames[i]) return static_cast<DType>(i);
  throw Error("unsupported safetensors dtype '" + s + "'", "supported: F64 F32 F16 BF16 I64 I32 I16 I8 U8 BOOL");
}

SafeTensors::SafeTensors(const std::string& path) : path_(path) {
  auto corrupt = [&](const std::string& why) {
    return Error("corrupt safetensors file '" + path + "': " + why,
                 "the file is truncated or not a safetensors file; re-export or re-download it");
  };
  int fd = ::open(path.c_str(), O_RDONLY);
  if (fd < 0) throw Error("cannot open '" + path + "': " + std::strerror(errno), "check the path");
  struct stat st;
  if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
    ::close(fd);
    throw Error("'" + path + "' is not a regular file", "pass the path of a .safetensors file");
  }
  map_size_ = static_cast<size_t>(st.st_size);
  if (map_size_ < 8) {
    ::close(fd);
    throw corrupt("only " + std::to_string(map_size_) + " bytes");
  }
  map_ = mmap(nullptr, map_size_, PROT_READ, MAP_PRIVATE, fd, 0);
  ::close(fd);
  if (map_ == MAP_FAILED) {
    map_ = nullptr;
    throw Error("cannot map '" + path + "': " + std::strerror(errno), "check that the file is readable");
  }
  // Unmaps when the checks below throw (the destructor does not run for a half-built object).
  struct UnmapOnThrow {
    void*& map;
    size_t size;
    bool armed = true;
    ~UnmapOnThrow() {
      if (armed) munmap(map, size);
    }
  } unmap_on_throw{map_, map_size_};
  const auto* bytes = static_cast<const uint8_t*>(map_);
  uint64_t n = 0;
  for (int i = 7; i >= 0; --i) n = (n << 8) | bytes[i];
  if (n > kMaxHeader || n > map_size_ - 8) throw corrupt("header length " + std::to_string(n) + " exceeds the file");
  nlohmann::json header;
  try {
    header = nlohmann::json::parse(bytes + 8, bytes + 8 + n);
  } catch (const std::exception& e) {
    throw corrupt(std::string("header is not JSON (") + e.what() + ")");
  }
  if (!header.is_object()) throw corrupt("header is not a JSON object");
  const uint8_t* data = bytes + 8 + n;
  const size_t data_size = map_size_ - 8 - n;
  for (auto it = header.begin(); it != header.end(); ++it) {
    if (it.key() == "__metadata__") {
      if (!it->is_object()) throw corrupt("__metadata__ is not an object");
      for (auto m = it->begin(); m != it->end(); ++m)
        if (m->is_string()) metadata_[m.key()] = m->get<std::string>();
      continue;
    }
    const auto& e = *it;
    if (!e.is_object() || !e.contains("dtype") || !e.contains("shape") || !e.contains("data_offsets"))
      throw corrupt("entry '" + it.key() + "' lacks dtype, shape or data_offsets");
    TensorView view;
    try {
      view.dtype = parse_dtype(e["dtype"].get<std::string>());
      if (!e["shape"].is_array()) throw corrupt("entry '" + it.key() + "' has a shape that is not a list");
      for (const auto& d : e["shape"])
        if (!d.is_number_integer()) throw corrupt("entry '" + it.key() + "' has a dimension that is not an integer");
      view.shape = e["shape"].get<std::vector<int64_t>>();
      auto offsets = e["data_offsets"].get<std::vector<uint64_t>>();
      if (offsets.size() != 2 || offsets[0] > offsets[1] || offsets[1] > data_size)
        throw corrupt("entry '" + it.key() + "' has data_offsets outside the file");
      // numel * dtype size must equal the byte count, computed without overflow (a wrapped product could
      // match a small count and make the loader allocate a huge tensor).
      uint64_t nbytes = dtype_size(view.dtype);
      for (int64_t d : view.shape) {
        if (d < 0) throw corrupt("entry '" + it.key() + "' has a negative dimension");
        if (__builtin_mul_overflow(nbytes, static_cast<uint64_t>(d), &nbytes)) nbytes = UINT64_MAX;
      }
      if (nbytes != offsets[1] - offsets[0])
        throw corrupt("entry '" + it.key() + "' has " + std::to_string(offsets[1] - offsets[0]) +
                      " bytes for its shape");
      view.data = data + offsets[0];
      view.nbytes = offsets[1] - offsets[0];
    } catch (const nlohmann::json::exception& ex) {
      throw corrupt("entry '" + it.key() + "': " + ex.what());
    }
    entries_[it.key()] = view;
  }
  // The format forbids overlapping tensors and holes: sorted by offset, the tensors tile the data exactly.
  std::vector<std::pair<const uint8_t*, std::string>> starts;
  for (const auto& [name, view] : entries_) starts.emplace_back(view.data, name);
  std::sort(starts.begin(), starts.end(), [&](const auto& a, const auto& b) {
    return a.first != b.first ? a.first < b.first : entries_.at(a.second).nbytes < entries_.at(b.second).nbytes;
  });
  const uint8_t* next = data;
  for (const auto& [start, name] : starts) {
    if (start < next) throw corrupt("tensor '" + name + "' overlaps another tensor");
    if (start > next)
      throw corrupt("a gap of " + std::to_string(start - next) + " bytes precedes tensor '" + name + "'");
    next = start + entries_.at(name).nbytes;
  }
  if (next != data + data_size)
    throw corrupt(std::to_string(data + data_size - next) + " bytes after the last tensor belong to none");
  unmap_on_throw.armed = false;
}

SafeTensors::~SafeTensors() {
  if (map_ != nullptr) munmap(map_, map_size_);
}

std::vector<std::string> SafeTensors::names() const {
  std::vector<std::string> out;
  for (const auto& kv : entries_) out.push_back(kv.first);
  return out;
}

const TensorView& SafeTensors::at(const std::string& name) const {
  auto it = entries_.find(name);
  if (it == entries_.end())
    throw Error("tensor '" + name + "' not found in '" + path_ + "'", "check the file was written by the same model");
  return it->second;
}

void write_safetensors(const std::string& path, const std::vector<TensorEntry>& entries,
                       const std::map<std::string, std::string>& metadata) {
  nlohmann::ordered_json header = nlohmann::ordered_json::object();
  if (!metadata.empty()) header["__metadata__"] = metadata;
  uint64_t offset = 0;
  for (const auto& e : entries) {
    uint64_t numel = 1;
    for (int64_t d : e.shape) numel *= static_cast<uint64_t>(d);
    require(numel * dtype_size(e.dtype) == e.nbytes, "tensor '" + e.name + "' has a size that does not fit its shape",
            "this is a bug in the caller of write_safetensors");
    header[e.name] = {{"dtype", to_string(e.dtype)}, {"shape", e.shape}, {"data_offsets", {offset, offset + e.nbytes}}};
    offset += e.nbytes;
  }
  std::string text = header.dump();
  // Pad the header with spaces so the data starts 8-byte aligned, as the reference writer does.
  while ((text.size() + 8) % 8 != 0) text.push_back(' ');
  uint8_t len[8];
  for (int i = 0; i < 8; ++i) len[i] = static_cast<uint8_t>((static_cast<uint64_t>(text.size()) >> (8 * i)) & 0xff);
  AtomicFile f(path);
  f.write(len, 8);
  f.write(text);
  for (const auto& e : entries) f.write(e.data, e.nbytes);
  f.commit();
}

}  // namespace nablagfn
