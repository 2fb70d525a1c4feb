// TFRecord framing; see tfrecord.h.
#include "io/tfrecord.h"

#include <cstdint>

#include "core/error.h"
#include "io/crc32c.h"

namespace nablagfn {

namespace {
void put_le(std::string& out, uint64_t v, int n_bytes) {
  for (int i = 0; i < n_bytes; ++i) out.push_back(static_cast<char>((v >> (8 * i)) & 0xFF));
}
uint64_t get_le(const std::string& in, size_t at, int n_bytes) {
  uint64_t v = 0;
  for (int i = 0; i < n_bytes; ++i) v |= static_cast<uint64_t>(static_cast<unsigned char>(in[at + i])) << (8 * i);
  return v;
}
}  // namespace

std::string frame_tfrecord(const std::string& data) {
  std::string length;
  put_le(length, data.size(), 8);
  std::string out = length;
  put_le(out, mask_crc32c(crc32c(length)), 4);
  out += data;
  put_le(out, mask_crc32c(crc32c(data)), 4);
  return out;
}

std::vector<std::string> read_tfrecords(const std::string& bytes) {
  const char* hint = "the event file is truncated or corrupt; a run killed while writing leaves a partial last record";
  std::vector<std::string> records;
  size_t at = 0;
  while (at < bytes.size()) {
    const std::string where = "TFRecord " + std::to_string(records.size());
    require(bytes.size() - at >= 12, where + ": header truncated", hint);
    const uint64_t n = get_le(bytes, at, 8);
    require(mask_crc32c(crc32c(bytes.data() + at, 8)) == get_le(bytes, at + 8, 4), where + ": length CRC mismatch",
            hint);
    require(bytes.size() - at - 12 >= n + 4, where + ": data truncated", hint);
    std::string data = bytes.substr(at + 12, n);
    require(mask_crc32c(crc32c(data)) == get_le(bytes, at + 12 + n, 4), where + ": data CRC mismatch", hint);
    records.push_back(std::move(data));
    at += 12 + n + 4;
  }
  return records;
}

}  // namespace nablagfn
