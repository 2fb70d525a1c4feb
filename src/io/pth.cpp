// Reader for torch.save zip archives (the format of PyTorch >= 1.6, `torch/serialization.py` `_save` /
// `_load`): `<name>/data.pkl` is a pickle (protocol 2 by default) whose tensors are
// `torch._utils._rebuild_tensor_v2(storage, offset, size, stride, ...)` calls, each storage a persistent id
// ('storage', torch.<Type>Storage, key, location, numel) naming the raw little-endian record `<name>/data/<key>`.
// What changed against Python's torch.load: a small unpickler of our own for exactly that subset (libtorch
// 1.13's torch::jit::pickle_load rejects the SETITEM opcode Python writes for one-entry dicts such as
// {'state_dict': ...}); the zip through io/zip_archive.h, which checks each record's CRC-32; storages are
// always read onto the CPU (map_location='cpu'); a storage is allocated only once its record is known to
// hold it, and a tensor may not view more elements than its storage has (no allocation beyond the file's
// size); classes other than OrderedDict, tensors and parameters are kept as opaque objects, and only a
// name -> tensor dict is accepted.
#include "io/pth.h"

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <memory>
#include <unordered_map>
#include <vector>

#include <ATen/ATen.h>

#include "core/error.h"
#include "io/zip_archive.h"

namespace nablagfn {

namespace pth_detail {

constexpr const char* kResaveHint =
    "save it again in Python with torch.save(state_dict, path) (PyTorch >= 1.6 writes the zip format), "
    "or convert it to .safetensors";
constexpr const char* kStateDictHint =
    "the file must hold a state dict (name -> tensor), or {'state_dict': state_dict}";

// A Python object as far as a state dict needs one.
struct PyValue {
  enum class Kind { None, Bool, Int, Float, String, Bytes, Tuple, List, Dict, Global, Storage, Tensor, Object };
  Kind kind = Kind::None;
  int64_t i = 0;
  double f = 0;
  std::string s;                               // String / Bytes data, Global and Object: "module.name"
  std::vector<std::shared_ptr<PyValue>> items;  // Tuple / List; Dict: key0, value0, key1, value1, ...
  at::Tensor tensor;                           // Storage (1-D) or Tensor
};
using PyPtr = std::shared_ptr<PyValue>;

const char* kind_name(PyValue::Kind kind) {
  static const char* names[] = {"None", "bool", "int", "float", "str", "bytes", "tuple",
                                "list", "dict", "global", "storage", "tensor", "object"};
  return names[static_cast<int>(kind)];
}

PyPtr make_value(PyValue::Kind kind) {
  auto v = std::make_shared<PyValue>();
  v->kind = kind;
  return v;
}

at::ScalarType storage_dtype(const std::string& type, const std::string& path) {
  static const std::unordered_map<std::string, at::ScalarType> types = {
      {"torch.FloatStorage", at::kFloat},  {"torch.DoubleStorage", at::kDouble}, {"torch.HalfStorage", at::kHalf},
      {"torch.BFloat16Storage", at::kBFloat16}, {"torch.LongStorage", at::kLong}, {"torch.IntStorage", at::kInt},
      {"torch.ShortStorage", at::kShort},  {"torch.CharStorage", at::kChar},     {"torch.ByteStorage", at::kByte},
      {"torch.BoolStorage", at::kBool}};
  auto it = types.find(type);
  require(it != types.end(), "'" + path + "' has a storage of unsupported type " + type,
          "supported: float, double, half, bfloat16, int64, int32, int16, int8, uint8, bool tensors");
  return it->second;
}

// The pickle machine (Python's pickle.py `_Unpickler`) for the opcodes torch.save's protocols 2-4 produce.
class PthUnpickler {
 public:
  PthUnpickler(ZipArchive& archive, std::string data, std::string path)
      : archive_(archive), data_(std::move(data)), path_(std::move(path)) {}

  PyPtr run() {
    while (true) {
      const size_t at = pos_;
      const uint8_t op = byte();
      if (op == '.') {  // STOP
        fail_unless(!stack_.empty(), at, "STOP with an empty stack");
        return stack_.back();
      }
      step(op, at);
    }
  }

 private:
  [[noreturn]] void fail(size_t at, const std::string& what) const {
    throw Error("'" + path_ + "': malformed pickle at byte " + std::to_string(at) + " of data.pkl: " + what,
                kResaveHint);
  }
  void fail_unless(bool ok, size_t at, const std::string& what) const {
    if (!ok) fail(at, what);
  }

  const char* take(size_t n) {
    fail_unless(n <= data_.size() - pos_, pos_, "truncated");
    const char* p = data_.data() + pos_;
    pos_ += n;
    return p;
  }
  uint8_t byte() { return static_cast<uint8_t>(*take(1)); }
  uint64_t uint_le(size_t n) {
    const char* p = take(n);
    uint64_t v = 0;
    for (size_t k = 0; k < n; ++k) v |= static_cast<uint64_t>(static_cast<uint8_t>(p[k])) << (8 * k);
    return v;
  }
  std::string line() {
    const size_t end = data_.find('\n', pos_);
    fail_unless(end != std::string::npos, pos_, "unterminated text field");
    std::string s = data_.substr(pos_, end - pos_);
    pos_ = end + 1;
    return s;
  }

  // A decimal integer on its own line (the text opcodes INT, PUT, GET).
  int64_t text_int(size_t at) {
    const std::string s = line();
    char* end = nullptr;
    errno = 0;
    const long long v = std::strtoll(s.c_str(), &end, 10);
    fail_unless(!s.empty() && end == s.c_str() + s.size() && errno == 0, at, "bad integer '" + s + "'");
    return v;
  }

  PyPtr pop(size_t at) {
    fail_unless(stack_.size() > (marks_.empty() ? 0 : marks_.back()), at, "stack underflow");
    PyPtr v = stack_.back();
    stack_.pop_back();
    return v;
  }
  // The objects pushed since the last MARK, which is removed.
  std::vector<PyPtr> pop_mark(size_t at) {
    fail_unless(!marks_.empty(), at, "no MARK");
    std::vector<PyPtr> items(stack_.begin() + static_cast<std::ptrdiff_t>(marks_.back()), stack_.end());
    stack_.resize(marks_.back());
    marks_.pop_back();
    return items;
  }
  PyPtr& top(size_t at) {
    fail_unless(stack_.size() > (marks_.empty() ? 0 : marks_.back()), at, "stack underflow");
    return stack_.back();
  }
  PyPtr sequence(PyValue::Kind kind, std::vector<PyPtr> items) {
    PyPtr v = make_value(kind);
    v->items = std::move(items);
    return v;
  }
  PyPtr scalar_int(int64_t i) {
    PyPtr v = make_value(PyValue::Kind::Int);
    v->i = i;
    return v;
  }
  PyPtr text(PyValue::Kind kind, size_t n) {
    PyPtr v = make_value(kind);
    v->s.assign(take(n), n);
    return v;
  }
  PyPtr global(std::string module, std::string name) {
    PyPtr v = make_value(PyValue::Kind::Global);
    v->s = module + "." + name;
    return v;
  }
  void memo_put(int64_t key, size_t at) { memo_[key] = top(at); }
  PyPtr memo_get(int64_t key, size_t at) {
    auto it = memo_.find(key);
    fail_unless(it != memo_.end(), at, "unknown memo key " + std::to_string(key));
    return it->second;
  }
  void append_items(const PyPtr& container, std::vector<PyPtr> items, PyValue::Kind kind, size_t at) {
    fail_unless(container->kind == kind || container->kind == PyValue::Kind::Object, at,
                std::string("items added to a ") + kind_name(container->kind));
    if (container->kind == PyValue::Kind::Object) return;  // e.g. a set-like custom object: contents not needed
    fail_unless(kind != PyValue::Kind::Dict || items.size() % 2 == 0, at, "odd number of dict items");
    for (auto& item : items) container->items.push_back(std::move(item));
  }

  // ('storage', torch.<Type>Storage, key, location, numel) -> the record data/<key> as a 1-D tensor.
  PyPtr storage(const PyPtr& pid, size_t at) {
    const auto& p = pid->items;
    fail_unless(pid->kind == PyValue::Kind::Tuple && p.size() >= 5 && p[0]->s == "storage" &&
                    p[1]->kind == PyValue::Kind::Global && p[2]->kind == PyValue::Kind::String &&
                    p[4]->kind == PyValue::Kind::Int,
                at, "unexpected persistent id");
    auto cached = storages_.find(p[2]->s);
    if (cached != storages_.end()) return cached->second;
    const at::ScalarType dtype = storage_dtype(p[1]->s, path_);
    const std::string record = "data/" + p[2]->s;
    const int64_t numel = p[4]->i;
    const uint64_t element_size = c10::elementSize(dtype);
    require(numel >= 0 && static_cast<uint64_t>(numel) <= archive_.size(record) / element_size,
            "'" + path_ + "': storage " + record + " is shorter than its tensors", kResaveHint);
    at::Tensor t = at::empty({numel}, at::TensorOptions().dtype(dtype));
    archive_.read(record, t.data_ptr(), static_cast<uint64_t>(numel) * element_size);
    PyPtr v = make_value(PyValue::Kind::Storage);
    v->tensor = t;
    storages_[p[2]->s] = v;
    return v;
  }

  std::vector<int64_t> int_tuple(const PyPtr& v, size_t at) {
    fail_unless(v->kind == PyValue::Kind::Tuple, at, "tensor size / stride is not a tuple");
    std::vector<int64_t> out;
    for (const auto& item : v->items) {
      fail_unless(item->kind == PyValue::Kind::Int, at, "tensor size / stride is not an int");
      out.push_back(item->i);
    }
    return out;
  }

  // REDUCE: callable(*args) for the callables a state dict uses; anything else becomes an opaque Object.
  PyPtr reduce(const PyPtr& callable, const PyPtr& args, size_t at) {
    const std::string& name = callable->s;
    const auto& a = args->items;
    if (name == "torch._utils._rebuild_tensor_v2" || name == "torch._utils._rebuild_tensor") {
      fail_unless(a.size() >= 4 && a[0]->kind == PyValue::Kind::Storage && a[1]->kind == PyValue::Kind::Int, at,
                  "bad arguments to " + name);
      const std::vector<int64_t> size = int_tuple(a[2], at), stride = int_tuple(a[3], at);
      fail_unless(size.size() == stride.size(), at, "tensor size and stride differ in length");
      // The view must fit the storage and hold no more elements than it (a stride-0 view would make
      // contiguous() allocate beyond the file's size).
      const int64_t storage_numel = a[0]->tensor.numel();
      int64_t numel = 1, last = a[1]->i;
      bool ok = a[1]->i >= 0;
      for (size_t d = 0; d < size.size() && ok; ++d) {
        ok =
            size[d] >= 0 && stride[d] >= 0 && !__builtin_mul_overflow(numel, size[d], &numel) && numel <= storage_numel;
        int64_t extent = 0;
        ok = ok && (size[d] == 0 || (!__builtin_mul_overflow(size[d] - 1, stride[d], &extent) &&
                                     !__builtin_add_overflow(last, extent, &last)));
      }
      fail_unless(ok && (numel == 0 || last < storage_numel), at, "tensor view outside its storage");
      PyPtr v = make_value(PyValue::Kind::Tensor);
      v->tensor = a[0]->tensor.as_strided(size, stride, a[1]->i);
      return v;
    }
    if (name == "torch._utils._rebuild_parameter" || name == "torch._utils._rebuild_parameter_with_state") {
      fail_unless(!a.empty() && a[0]->kind == PyValue::Kind::Tensor, at, "bad arguments to " + name);
      return a[0];
    }
    if (name == "collections.OrderedDict") return make_value(PyValue::Kind::Dict);
    PyPtr v = make_value(PyValue::Kind::Object);
    v->s = name;
    return v;
  }

  void step(uint8_t op, size_t at) {
    using K = PyValue::Kind;
    switch (op) {
      case 0x80: byte(); break;                  // PROTO
      case 0x95: take(8); break;                 // FRAME (protocol 4): a length hint only
      case '(': marks_.push_back(stack_.size()); break;  // MARK
      case ')': stack_.push_back(make_value(K::Tuple)); break;  // EMPTY_TUPLE
      case ']': stack_.push_back(make_value(K::List)); break;   // EMPTY_LIST
      case '}': stack_.push_back(make_value(K::Dict)); break;   // EMPTY_DICT
      case 'N': stack_.push_back(make_value(K::None)); break;   // NONE
      case 0x88: case 0x89: {                    // NEWTRUE, NEWFALSE
        PyPtr v = make_value(K::Bool);
        v->i = op == 0x88;
        stack_.push_back(v);
        break;
      }
      case 'K': stack_.push_back(scalar_int(byte())); break;                                      // BININT1
      case 'M': stack_.push_back(scalar_int(static_cast<int64_t>(uint_le(2)))); break;            // BININT2
      case 'J': stack_.push_back(scalar_int(static_cast<int32_t>(uint_le(4)))); break;            // BININT
      case 0x8a: {                                                                                // LONG1
        const size_t n = byte();
        fail_unless(n <= 8, at, "integer wider than 64 bits");
        uint64_t u = n ? uint_le(n) : 0;
        if (n > 0 && n < 8 && (u >> (8 * n - 1)) & 1) u |= ~uint64_t(0) << (8 * n);  // sign-extend
        stack_.push_back(scalar_int(static_cast<int64_t>(u)));
        break;
      }
      case 'I': {                                                                                 // INT (text)
        PyPtr v = scalar_int(text_int(at));  // "00" / "01" are False / True
        const bool is_bool = (v->i == 0 || v->i == 1) && data_.compare(pos_ - 3, 3, v->i ? "01\n" : "00\n") == 0;
        if (is_bool) v->kind = K::Bool;
        stack_.push_back(v);
        break;
      }
      case 'G': {                                                                                 // BINFLOAT
        uint64_t be = 0;
        const char* p = take(8);
        for (int k = 0; k < 8; ++k) be = (be << 8) | static_cast<uint8_t>(p[k]);
        PyPtr v = make_value(K::Float);
        std::memcpy(&v->f, &be, sizeof(double));
        stack_.push_back(v);
        break;
      }
      case 'X': stack_.push_back(text(K::String, uint_le(4))); break;     // BINUNICODE
      case 0x8c: stack_.push_back(text(K::String, byte())); break;        // SHORT_BINUNICODE
      case 0x8d: stack_.push_back(text(K::String, uint_le(8))); break;    // BINUNICODE8
      case 'T': stack_.push_back(text(K::String, uint_le(4))); break;     // BINSTRING
      case 'U': stack_.push_back(text(K::String, byte())); break;         // SHORT_BINSTRING
      case 'B': stack_.push_back(text(K::Bytes, uint_le(4))); break;      // BINBYTES
      case 'C': stack_.push_back(text(K::Bytes, byte())); break;          // SHORT_BINBYTES
      case 0x8e: stack_.push_back(text(K::Bytes, uint_le(8))); break;     // BINBYTES8
      case 'c': {                                                         // GLOBAL "module\nname\n"
        std::string module = line();
        stack_.push_back(global(module, line()));
        break;
      }
      case 0x93: {                                                        // STACK_GLOBAL
        PyPtr name = pop(at), module = pop(at);
        stack_.push_back(global(module->s, name->s));
        break;
      }
      case 'q': memo_put(byte(), at); break;                              // BINPUT
      case 'r': memo_put(static_cast<int64_t>(uint_le(4)), at); break;    // LONG_BINPUT
      case 'p': memo_put(text_int(at), at); break;                        // PUT
      case 0x94: memo_put(static_cast<int64_t>(memo_.size()), at); break; // MEMOIZE
      case 'h': stack_.push_back(memo_get(byte(), at)); break;            // BINGET
      case 'j': stack_.push_back(memo_get(static_cast<int64_t>(uint_le(4)), at)); break;  // LONG_BINGET
      case 'g': stack_.push_back(memo_get(text_int(at), at)); break;                      // GET
      case 't': stack_.push_back(sequence(K::Tuple, pop_mark(at))); break;                // TUPLE
      case 0x85: case 0x86: case 0x87: {                                  // TUPLE1, TUPLE2, TUPLE3
        const size_t n = op - 0x84;
        fail_unless(stack_.size() >= n, at, "stack underflow");
        std::vector<PyPtr> items(stack_.end() - static_cast<std::ptrdiff_t>(n), stack_.end());
        stack_.resize(stack_.size() - n);
        stack_.push_back(sequence(K::Tuple, std::move(items)));
        break;
      }
      case 'l': stack_.push_back(sequence(K::List, pop_mark(at))); break;  // LIST
      case 'd': {                                                           // DICT
        std::vector<PyPtr> items = pop_mark(at);
        fail_unless(items.size() % 2 == 0, at, "odd number of dict items");
        stack_.push_back(sequence(K::Dict, std::move(items)));
        break;
      }
      case 'a': {                                                           // APPEND
        PyPtr v = pop(at);
        append_items(top(at), {v}, K::List, at);
        break;
      }
      case 'e': {                                                           // APPENDS
        std::vector<PyPtr> items = pop_mark(at);
        append_items(top(at), std::move(items), K::List, at);
        break;
      }
      case 's': {                                                           // SETITEM
        PyPtr value = pop(at), key = pop(at);
        append_items(top(at), {key, value}, K::Dict, at);
        break;
      }
      case 'u': {                                                           // SETITEMS
        std::vector<PyPtr> items = pop_mark(at);
        append_items(top(at), std::move(items), K::Dict, at);
        break;
      }
      case '0': pop(at); break;                                             // POP
      case '1': pop_mark(at); break;                                        // POP_MARK
      case '2': stack_.push_back(top(at)); break;                           // DUP
      case 'Q': stack_.push_back(storage(pop(at), at)); break;              // BINPERSID
      case 'R': {                                                           // REDUCE
        PyPtr args = pop(at), callable = pop(at);
        fail_unless(callable->kind == K::Global && args->kind == K::Tuple, at, "REDUCE without a global and a tuple");
        stack_.push_back(reduce(callable, args, at));
        break;
      }
      case 0x81: {                                                          // NEWOBJ: cls.__new__(cls, *args)
        pop(at);
        PyPtr cls = pop(at);
        PyPtr v = make_value(K::Object);
        v->s = cls->s;
        stack_.push_back(v);
        break;
      }
      case 'b': pop(at); top(at); break;  // BUILD: the state (OrderedDict _metadata, object attributes) is not needed
      default: {
        char hex[8];
        std::snprintf(hex, sizeof(hex), "0x%02x", op);
        fail(at, std::string("unsupported opcode ") + hex);
      }
    }
  }

  ZipArchive& archive_;
  std::string data_;
  std::string path_;
  size_t pos_ = 0;
  std::vector<PyPtr> stack_;
  std::vector<size_t> marks_;
  std::unordered_map<int64_t, PyPtr> memo_;
  std::unordered_map<std::string, PyPtr> storages_;
};

// The dict's entry with key "state_dict", or nullptr.
PyPtr find_state_dict(const PyValue& dict) {
  for (size_t k = 0; k + 1 < dict.items.size(); k += 2)
    if (dict.items[k]->kind == PyValue::Kind::String && dict.items[k]->s == "state_dict") return dict.items[k + 1];
  return nullptr;
}

}  // namespace pth_detail

TensorMap load_pth(const std::string& path) {
  using namespace pth_detail;
  using K = PyValue::Kind;
  {
    std::ifstream in(path, std::ios::binary);
    require(static_cast<bool>(in), "cannot open '" + path + "'", "check the weights paths in the config");
    char magic[4] = {0, 0, 0, 0};
    in.read(magic, 4);
    // Zip local-file-header magic "PK\x03\x04"; the legacy format starts with a pickle PROTO opcode.
    const bool is_zip = in.gcount() == 4 && std::memcmp(magic, "PK\x03\x04", 4) == 0;
    const bool legacy = in.gcount() >= 1 && static_cast<unsigned char>(magic[0]) == 0x80;
    require(is_zip,
            "'" + path + "' is not a torch.save zip archive" +
                (legacy ? " (it looks like the legacy pre-1.6 torch.save format)" : ""),
            kResaveHint);
  }
  PyPtr root;
  try {
    ZipArchive archive(path);
    if (archive.has("byteorder"))
      require(archive.read("byteorder") == "little", "'" + path + "' was written on a big-endian machine", kResaveHint);
    root = PthUnpickler(archive, archive.read("data.pkl"), path).run();
  } catch (const Error&) {
    throw;
  } catch (const std::exception& e) {
    const auto* c10_error = dynamic_cast<const c10::Error*>(&e);
    const std::string msg = c10_error ? c10_error->what_without_backtrace() : e.what();
    throw Error("cannot read torch.save archive '" + path + "': " + msg.substr(0, msg.find('\n')), kResaveHint);
  }
  require(root->kind == K::Dict, "'" + path + "' holds a " + std::string(kind_name(root->kind)) + ", not a state dict",
          kStateDictHint);
  if (PyPtr nested = find_state_dict(*root)) {
    require(nested->kind == K::Dict, "'" + path + "': 'state_dict' is a " + kind_name(nested->kind) + ", not a dict",
            kStateDictHint);
    root = nested;
  }
  TensorMap out;
  for (size_t k = 0; k + 1 < root->items.size(); k += 2) {
    const PyValue& key = *root->items[k];
    const PyValue& value = *root->items[k + 1];
    require(key.kind == K::String, "'" + path + "' holds a dict with a " + kind_name(key.kind) + " key",
            kStateDictHint);
    require(value.kind == K::Tensor,
            "'" + path + "': entry '" + key.s + "' is a " + kind_name(value.kind) + ", not a tensor", kStateDictHint);
    out[key.s] = value.tensor.contiguous();
  }
  return out;
}

TensorMap load_tensors(const std::string& path) {
  const std::string ext = ".safetensors";
  const bool is_safetensors = path.size() >= ext.size() && path.compare(path.size() - ext.size(), ext.size(), ext) == 0;
  return is_safetensors ? load_safetensors(path) : load_pth(path);
}

std::string find_transformers_weights(const std::string& folder) {
  for (const char* name : {"model.safetensors", "pytorch_model.bin"}) {
    const std::string path = folder + "/" + name;
    if (std::ifstream(path).good()) return path;
  }
  throw Error("no weights in '" + folder + "'",
              "expected model.safetensors or pytorch_model.bin (transformers layout)");
}

}  // namespace nablagfn
