#pragma once
// The zip container of torch.save archives (PKWARE APPNOTE 6.3: end of central directory, zip64 end
// record and locator, central directory, local headers). torch.save writes every record stored
// (method 0), 64-byte aligned, under one top-level folder "<archive>/". Torch-free.
// What changed against libtorch's PyTorchStreamReader (miniz): the CRC-32 of each record is checked
// on every read (libtorch builds miniz with MINIZ_DISABLE_ZIP_READER_CRC32_CHECKS, so a flipped byte
// loads silently); compressed records are refused; every offset and size is checked against the file
// before anything is allocated.
#include <cstdint>
#include <fstream>
#include <map>
#include <string>

namespace nablagfn {

class ZipArchive {
 public:
  explicit ZipArchive(const std::string& path);  // Error unless a well-formed zip with one top-level folder

  // Records are named relative to the top-level folder ("data.pkl", "data/0").
  bool has(const std::string& name) const { return records_.count(name) != 0; }
  uint64_t size(const std::string& name) const;  // Error naming the archive if absent
  // Copies the first n <= size(name) bytes into dst and checks the CRC-32 of the whole record.
  void read(const std::string& name, void* dst, uint64_t n);
  std::string read(const std::string& name);

 private:
  struct Record {
    uint64_t data_offset;  // of the local header until resolved, then of the data
    uint64_t size;
    uint32_t crc32;
  };
  const Record& record(const std::string& name) const;
  uint64_t data_offset(const Record& r);

  std::string path_;
  std::ifstream in_;
  uint64_t file_size_ = 0;
  std::map<std::string, Record> records_;
};

}  // namespace nablagfn
