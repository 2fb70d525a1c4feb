#pragma once
// The IDX format of the (Fashion-)MNIST files (Y. LeCun, "THE MNIST DATABASE", section "FILE FORMATS"):
// two zero bytes, a type byte (0x08 = unsigned byte, the only type these datasets use), a byte with the
// number of dimensions n, n big-endian uint32 sizes, then the row-major data. Debian's
// dataset-fashion-mnist ships them gzip-compressed. Torch-free.
#include <cstdint>
#include <string>
#include <vector>

namespace nablagfn {

struct IdxArray {
  std::vector<int64_t> shape;  // e.g. {60000, 28, 28} for images, {60000} for labels
  std::vector<uint8_t> data;   // product(shape) bytes, row-major
};

// Parses IDX bytes; `source` names them in errors. Error on a wrong magic, a type other than unsigned
// byte, or a size that disagrees with the number of data bytes (truncated or trailing data).
IdxArray parse_idx(const std::string& bytes, const std::string& source);

// The decompressed bytes of a gzip file; Error if it is missing, not gzip, corrupt or truncated.
std::string read_gzip_file(const std::string& path);

// parse_idx(read_gzip_file(path)) for paths ending in .gz, of the raw file otherwise.
IdxArray read_idx(const std::string& path);

}  // namespace nablagfn
