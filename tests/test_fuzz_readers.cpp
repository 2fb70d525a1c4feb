// A seeded random mutator over the file readers (safetensors, torch.save .pth, JSONC configs, IDX raw and
// gzip-compressed): a few
// thousand mutated copies of small valid files. Every input must load or fail with nablagfn::Error (no
// crash, no other exception), and no single allocation while reading may exceed a small multiple of the
// file's size (a size field read from the file must be checked before it is allocated).
#include <dlfcn.h>
#include <zlib.h>

#include <ATen/ATen.h>

#include <algorithm>
#include <cstdlib>
#include <fstream>
#include <functional>
#include <new>
#include <random>

#include "config/config.h"
#include "core/error.h"
#include "io/atomic_file.h"
#include "io/idx.h"
#include "io/pth.h"
#include "io/tensor_io.h"
#include "test_util.h"

// Allocation watch: the largest single request made through operator new (std containers) or
// posix_memalign (libtorch's CPU allocator) while g_watching is set.
namespace {
thread_local bool g_watching = false;
thread_local size_t g_largest = 0;
void note(size_t n) {
  if (g_watching) g_largest = std::max(g_largest, n);
}
}  // namespace

void* operator new(size_t n) {
  note(n);
  if (void* p = std::malloc(n == 0 ? 1 : n)) return p;
  throw std::bad_alloc();
}
void operator delete(void* p) noexcept { std::free(p); }
void operator delete(void* p, size_t) noexcept { std::free(p); }

extern "C" int posix_memalign(void** out, size_t alignment, size_t n) {
  using Fn = int (*)(void**, size_t, size_t);
  static Fn real = reinterpret_cast<Fn>(dlsym(RTLD_NEXT, "posix_memalign"));
  note(n);
  return real(out, alignment, n);
}

namespace nablagfn {
namespace {

struct Reader {
  std::string name;
  std::string seed_path;
  std::function<void(const std::string&)> load;
};

std::string tiny_safetensors() {
  const std::string path = std::string(NABLAGFN_BINARY_DIR) + "/test_fuzz_seed.safetensors";
  const TensorMap tensors = {{"w", at::arange(6, at::kFloat).reshape({2, 3})},
                             {"b", at::arange(3, at::kHalf)},
                             {"i", at::arange(2, at::kLong)},
                             {"e", at::zeros({0, 2})}};
  save_safetensors(path, tensors, {{"format", "pt"}});
  return path;
}

// A 3 x 4 x 5 IDX array of unsigned bytes (magic 0x00000803, big-endian sizes), raw or gzip-compressed.
std::string tiny_idx(bool gzip) {
  std::string bytes = {0, 0, 8, 3, 0, 0, 0, 3, 0, 0, 0, 4, 0, 0, 0, 5};
  for (int i = 0; i < 3 * 4 * 5; ++i) bytes.push_back(static_cast<char>(i * 7));
  const std::string path = std::string(NABLAGFN_BINARY_DIR) + "/test_fuzz_seed" + (gzip ? ".idx.gz" : ".idx");
  if (!gzip) {
    std::ofstream(path, std::ios::binary | std::ios::trunc) << bytes;
    return path;
  }
  gzFile f = gzopen(path.c_str(), "wb");
  gzwrite(f, bytes.data(), static_cast<unsigned>(bytes.size()));
  gzclose(f);
  return path;
}

// One random edit: bit flips, interesting bytes and integers, deletions, duplications, truncation.
void mutate(std::string& s, std::mt19937_64& rng) {
  auto pick = [&](size_t n) { return n == 0 ? size_t(0) : static_cast<size_t>(rng() % n); };
  static const uint64_t kInteresting[] = {
      0, 1, 0x7f, 0x80, 0xff, 0x7fffffff, 0xffffffff, 0x100000000ull, 0x7fffffffffffffffull, ~0ull};
  switch (rng() % 7) {
    case 0:
      if (!s.empty()) s[pick(s.size())] ^= static_cast<char>(1u << (rng() % 8));
      break;
    case 1:
      if (!s.empty()) s[pick(s.size())] = static_cast<char>(kInteresting[rng() % 5]);
      break;
    case 2: {  // a little-endian integer of 1, 2, 4 or 8 bytes
      const size_t width = size_t(1) << (rng() % 4), at = pick(s.size());
      const uint64_t v = kInteresting[rng() % 10];
      for (size_t k = 0; k < width && at + k < s.size(); ++k) s[at + k] = static_cast<char>(v >> (8 * k));
      break;
    }
    case 3: {
      const size_t at = pick(s.size());
      s.erase(at, 1 + pick(16));
      break;
    }
    case 4: {
      const size_t at = pick(s.size());
      s.insert(pick(s.size() + 1), s.substr(at, 1 + pick(16)));
      break;
    }
    case 5: s.resize(pick(s.size() + 1)); break;
    default: {  // a digit run replaced by a huge or negative number (size fields in JSON headers)
      static const char* kNumbers[] = {"-1", "4294967296", "18446744073709551615", "1e308", "99999999999999999999"};
      const size_t at = s.find_first_of("0123456789", pick(s.size()));
      if (at != std::string::npos) s.replace(at, 1, kNumbers[rng() % 5]);
    }
  }
}

TEST(FuzzReaders, MutatedFilesLoadOrFailWithAnError) {
  const std::vector<Reader> kReaders = {
      {"safetensors", tiny_safetensors(), [](const std::string& p) { load_safetensors(p); }},
      {"pth", test::data_path("pth/module_state_dict.pth"), [](const std::string& p) { load_pth(p); }},
      {"jsonc", std::string(NABLAGFN_SOURCE_DIR) + "/configs/toy2d_nabla_db.jsonc",
       [](const std::string& p) { validate(load_config(p)); }},
      {"idx", tiny_idx(false), [](const std::string& p) { read_idx(p); }},
      {"idx.gz", tiny_idx(true), [](const std::string& p) { read_idx(p); }},
  };
  // The watch sees libtorch's allocations (posix_memalign), not only operator new.
  g_largest = 0;
  g_watching = true;
  at::Tensor big = at::empty({1 << 20}, at::kByte);
  g_watching = false;
  ASSERT_GE(g_largest, size_t(1) << 20);
  const int kInputs = 1200;  // per reader
  for (const Reader& reader : kReaders) {
    const std::string seed = read_file(reader.seed_path);
    ASSERT_NO_THROW(reader.load(reader.seed_path)) << reader.name;
    const std::string path = std::string(NABLAGFN_BINARY_DIR) + "/test_fuzz_input." + reader.name;
    std::mt19937_64 rng(20261204);
    int n_errors = 0;
    for (int i = 0; i < kInputs; ++i) {
      std::string input = seed;
      for (int m = 1 + static_cast<int>(rng() % 4); m > 0; --m) mutate(input, rng);
      std::ofstream(path, std::ios::binary | std::ios::trunc) << input;
      g_largest = 0;
      g_watching = true;
      try {
        reader.load(path);
      } catch (const Error&) {
        ++n_errors;
      } catch (const std::exception& e) {
        g_watching = false;
        ADD_FAILURE() << reader.name << " input " << i << ": not a nablagfn::Error: " << e.what();
      }
      g_watching = false;
      EXPECT_LE(g_largest, 16 * input.size() + (1u << 20))
          << reader.name << " input " << i << " allocated " << g_largest << " bytes for a " << input.size()
          << "-byte file";
    }
    // The mutator must actually break files (a test that cannot fail proves nothing).
    EXPECT_GT(n_errors, kInputs / 4) << reader.name;
  }
}

}  // namespace
}  // namespace nablagfn
