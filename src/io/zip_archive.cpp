#include "io/zip_archive.h"

#include <zlib.h>

#include <algorithm>
#include <filesystem>
#include <vector>

#include "core/error.h"

namespace nablagfn {

namespace {
constexpr uint32_t kLocalHeader = 0x04034b50, kCentralHeader = 0x02014b50, kEndRecord = 0x06054b50,
                   kZip64EndRecord = 0x06064b50, kZip64Locator = 0x07064b50;
constexpr size_t kEndRecordSize = 22, kZip64LocatorSize = 20, kZip64EndRecordSize = 56, kCentralHeaderSize = 46,
                 kLocalHeaderSize = 30;
constexpr const char* kCorruptHint = "the file is truncated or corrupt; download it or save it again";

uint64_t le(const char* p, int n) {
  uint64_t v = 0;
  for (int k = 0; k < n; ++k) v |= static_cast<uint64_t>(static_cast<uint8_t>(p[k])) << (8 * k);
  return v;
}

uint32_t crc32_update(uint32_t crc, const char* p, uint64_t n) {
  while (n > 0) {  // zlib takes uInt lengths
    const uInt chunk = static_cast<uInt>(std::min<uint64_t>(n, 1u << 30));
    crc = static_cast<uint32_t>(::crc32(crc, reinterpret_cast<const Bytef*>(p), chunk));
    p += chunk;
    n -= chunk;
  }
  return crc;
}
}  // namespace

ZipArchive::ZipArchive(const std::string& path) : path_(path), in_(path, std::ios::binary) {
  auto corrupt = [&](const std::string& why) {
    return Error("corrupt zip archive '" + path + "': " + why, kCorruptHint);
  };
  require(static_cast<bool>(in_), "cannot open '" + path + "'", "check the path");
  require(std::filesystem::is_regular_file(path), "'" + path + "' is not a regular file", "pass the path of a file");
  in_.seekg(0, std::ios::end);
  file_size_ = static_cast<uint64_t>(in_.tellg());
  auto read_at = [&](uint64_t offset, uint64_t n, const std::string& what) {
    if (offset > file_size_ || n > file_size_ - offset) throw corrupt(what + " lies outside the file");
    std::string bytes(n, '\0');
    in_.clear();
    in_.seekg(static_cast<std::streamoff>(offset));
    in_.read(bytes.data(), static_cast<std::streamsize>(n));
    if (!in_) throw corrupt("cannot read " + what);
    return bytes;
  };

  // End of central directory: the last signature in the final 22 + 65535 (comment) bytes.
  const uint64_t tail_size = std::min<uint64_t>(file_size_, kEndRecordSize + 0xffff);
  const std::string tail = read_at(file_size_ - tail_size, tail_size, "the end record");
  size_t end_pos = std::string::npos;
  for (size_t k = tail.size() >= kEndRecordSize ? tail.size() - kEndRecordSize + 1 : 0; k-- > 0;)
    if (le(tail.data() + k, 4) == kEndRecord) {
      end_pos = k;
      break;
    }
  if (end_pos == std::string::npos) throw corrupt("no end of central directory record");
  const char* end = tail.data() + end_pos;
  uint64_t n_records = le(end + 10, 2), cd_size = le(end + 12, 4), cd_offset = le(end + 16, 4);
  if (n_records == 0xffff || cd_size == 0xffffffff || cd_offset == 0xffffffff) {
    const uint64_t end_offset = file_size_ - tail_size + end_pos;
    if (end_offset < kZip64LocatorSize) throw corrupt("zip64 locator missing");
    const std::string locator = read_at(end_offset - kZip64LocatorSize, kZip64LocatorSize, "the zip64 locator");
    if (le(locator.data(), 4) != kZip64Locator) throw corrupt("zip64 locator missing");
    const std::string end64 = read_at(le(locator.data() + 8, 8), kZip64EndRecordSize, "the zip64 end record");
    if (le(end64.data(), 4) != kZip64EndRecord) throw corrupt("zip64 end record missing");
    n_records = le(end64.data() + 32, 8);
    cd_size = le(end64.data() + 40, 8);
    cd_offset = le(end64.data() + 48, 8);
  }
  if (n_records > cd_size / kCentralHeaderSize) throw corrupt("more records than the central directory holds");
  const std::string cd = read_at(cd_offset, cd_size, "the central directory");

  std::string folder;
  size_t pos = 0;
  for (uint64_t i = 0; i < n_records; ++i) {
    if (cd.size() - pos < kCentralHeaderSize || le(cd.data() + pos, 4) != kCentralHeader)
      throw corrupt("central directory entry " + std::to_string(i) + " is malformed");
    const char* h = cd.data() + pos;
    const uint64_t flags = le(h + 8, 2), method = le(h + 10, 2), name_len = le(h + 28, 2), extra_len = le(h + 30, 2),
                   comment_len = le(h + 32, 2);
    if (cd.size() - pos - kCentralHeaderSize < name_len + extra_len + comment_len)
      throw corrupt("central directory entry " + std::to_string(i) + " runs past the directory");
    std::string name(h + kCentralHeaderSize, name_len);
    uint64_t compressed = le(h + 20, 4), size = le(h + 24, 4), local = le(h + 42, 4);
    // zip64 extended information: 8-byte values for exactly the fields saturated above, in this order.
    const char* extra = h + kCentralHeaderSize + name_len;
    for (uint64_t e = 0; e + 4 <= extra_len;) {
      const uint64_t id = le(extra + e, 2), len = le(extra + e + 2, 2);
      if (e + 4 + len > extra_len) throw corrupt("record '" + name + "' has a malformed extra field");
      if (id == 0x0001) {
        uint64_t at = e + 4;
        for (uint64_t* field : {&size, &compressed, &local}) {
          if (*field != 0xffffffff) continue;
          if (at + 8 > e + 4 + len) throw corrupt("record '" + name + "' has a short zip64 field");
          *field = le(extra + at, 8);
          at += 8;
        }
      }
      e += 4 + len;
    }
    pos += kCentralHeaderSize + name_len + extra_len + comment_len;
    if (flags & 1) throw corrupt("record '" + name + "' is encrypted");
    if (method != 0 || compressed != size)
      throw Error("zip archive '" + path + "' has a compressed record '" + name + "'",
                  "torch.save writes records uncompressed; save the file again with torch.save");
    if (folder.empty()) folder = name.substr(0, name.find('/') + 1);
    if (folder.size() < 2 || name.compare(0, folder.size(), folder) != 0)
      throw corrupt("record '" + name + "' is outside the archive's top-level folder");
    records_[name.substr(folder.size())] = {local, size, static_cast<uint32_t>(le(h + 16, 4))};
  }
  if (records_.empty()) throw corrupt("no records");
}

const ZipArchive::Record& ZipArchive::record(const std::string& name) const {
  auto it = records_.find(name);
  if (it == records_.end())
    throw Error("zip archive '" + path_ + "' has no record '" + name + "'", "the file is not a torch.save archive");
  return it->second;
}

uint64_t ZipArchive::size(const std::string& name) const { return record(name).size; }

uint64_t ZipArchive::data_offset(const Record& r) {
  auto corrupt = [&](const std::string& why) {
    return Error("corrupt zip archive '" + path_ + "': " + why, kCorruptHint);
  };
  char h[kLocalHeaderSize];
  if (r.data_offset > file_size_ || file_size_ - r.data_offset < kLocalHeaderSize)
    throw corrupt("local header outside the file");
  in_.clear();
  in_.seekg(static_cast<std::streamoff>(r.data_offset));
  in_.read(h, kLocalHeaderSize);
  if (!in_ || le(h, 4) != kLocalHeader) throw corrupt("local header missing");
  const uint64_t data = r.data_offset + kLocalHeaderSize + le(h + 26, 2) + le(h + 28, 2);
  if (data > file_size_ || file_size_ - data < r.size) throw corrupt("record data runs past the end of the file");
  return data;
}

void ZipArchive::read(const std::string& name, void* dst, uint64_t n) {
  const Record& r = record(name);
  require(n <= r.size, "zip record '" + name + "' in '" + path_ + "' is shorter than requested",
          "this is unexpected; please report it");
  in_.clear();
  in_.seekg(static_cast<std::streamoff>(data_offset(r)));
  char* out = static_cast<char*>(dst);
  in_.read(out, static_cast<std::streamsize>(n));
  uint32_t crc = crc32_update(0, out, n);
  std::vector<char> buffer(std::min<uint64_t>(r.size - n, 1u << 16));
  for (uint64_t left = r.size - n; left > 0;) {
    const uint64_t chunk = std::min<uint64_t>(left, buffer.size());
    in_.read(buffer.data(), static_cast<std::streamsize>(chunk));
    crc = crc32_update(crc, buffer.data(), chunk);
    left -= chunk;
  }
  require(static_cast<bool>(in_), "cannot read record '" + name + "' of '" + path_ + "'", kCorruptHint);
  // torch.save with serialization config compute_crc32=False stores 0: nothing to check against.
  require(r.crc32 == 0 || crc == r.crc32,
          "corrupt zip archive '" + path_ + "': record '" + name + "' fails its CRC-32 check", kCorruptHint);
}

std::string ZipArchive::read(const std::string& name) {
  std::string out(size(name), '\0');
  read(name, out.data(), out.size());
  return out;
}

}  // namespace nablagfn
