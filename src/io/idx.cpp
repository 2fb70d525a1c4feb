// IDX reader and gzip inflation on zlib: see idx.h.
#include "io/idx.h"

#include <zlib.h>

#include <cstdio>
#include <filesystem>

#include "core/error.h"
#include "io/atomic_file.h"

namespace nablagfn {

namespace {
const char* const kHint = "reinstall Debian's dataset-fashion-mnist (apt-get install --reinstall dataset-fashion-mnist)";
const size_t kMaxDims = 4;
}  // namespace

IdxArray parse_idx(const std::string& bytes, const std::string& source) {
  require(bytes.size() >= 4, "'" + source + "' is too short for an IDX header (" + std::to_string(bytes.size()) +
                                 " bytes)", kHint);
  const auto* b = reinterpret_cast<const uint8_t*>(bytes.data());
  require(b[0] == 0 && b[1] == 0, "'" + source + "' is not an IDX file (magic does not start with two zero bytes)",
          kHint);
  char type[8];
  std::snprintf(type, sizeof type, "0x%02x", b[2]);
  require(b[2] == 0x08, "'" + source + "' holds IDX type " + type + ", not unsigned bytes (0x08)",
          "only the (Fashion-)MNIST unsigned-byte files are supported");
  const size_t n_dims = b[3];
  require(n_dims >= 1 && n_dims <= kMaxDims,
          "'" + source + "' declares " + std::to_string(n_dims) + " dimensions (expected 1 to 4)", kHint);
  const size_t header = 4 + 4 * n_dims;
  require(bytes.size() >= header, "'" + source + "' is truncated inside its IDX header", kHint);
  IdxArray out;
  uint64_t numel = 1;
  for (size_t d = 0; d < n_dims; ++d) {
    const uint8_t* p = b + 4 + 4 * d;
    const uint64_t size = (uint64_t{p[0]} << 24) | (uint64_t{p[1]} << 16) | (uint64_t{p[2]} << 8) | p[3];
    out.shape.push_back(static_cast<int64_t>(size));
    numel *= size;
  }
  const uint64_t have = bytes.size() - header;
  require(have == numel, "'" + source + "' holds " + std::to_string(have) + " data bytes but its header declares " +
                             std::to_string(numel) + (have < numel ? " (truncated)" : " (trailing data)"),
          kHint);
  out.data.assign(b + header, b + bytes.size());
  return out;
}

std::string read_gzip_file(const std::string& path) {
  require(std::filesystem::exists(path), "'" + path + "' does not exist", kHint);
  const std::string packed = read_file(path);

  z_stream z{};
  // 16 + MAX_WBITS: gzip framing only (a zlib or raw stream is an error, not silently accepted).
  require(inflateInit2(&z, 16 + MAX_WBITS) == Z_OK, "zlib could not be initialised", "out of memory?");
  z.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(packed.data()));
  z.avail_in = static_cast<uInt>(packed.size());
  std::string out;
  char chunk[1 << 16];
  int rc = Z_OK;
  while (rc == Z_OK) {
    z.next_out = reinterpret_cast<Bytef*>(chunk);
    z.avail_out = sizeof chunk;
    rc = inflate(&z, Z_NO_FLUSH);
    out.append(chunk, sizeof chunk - z.avail_out);
    // Z_BUF_ERROR with input left means no progress was possible; with none left, the stream ended early.
    if (rc == Z_BUF_ERROR && z.avail_in == 0) break;
  }
  const std::string msg = z.msg ? z.msg : "";
  inflateEnd(&z);
  require(rc != Z_BUF_ERROR, "'" + path + "' is truncated (the gzip stream ends early)", kHint);
  require(rc == Z_STREAM_END, "'" + path + "' is not a valid gzip file (" + (msg.empty() ? "zlib error" : msg) + ")",
          kHint);
  return out;
}

IdxArray read_idx(const std::string& path) {
  const bool gz = path.size() > 3 && path.compare(path.size() - 3, 3, ".gz") == 0;
  if (gz) return parse_idx(read_gzip_file(path), path);
  require(std::filesystem::exists(path), "'" + path + "' does not exist", kHint);
  return parse_idx(read_file(path), path);
}

}  // namespace nablagfn
