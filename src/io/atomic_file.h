#pragma once
// Files that are either complete or absent: write to "<path>.tmp.<pid>", fsync, rename over <path>.
// A crash mid-write leaves the old file (or none), never a truncated one that looks complete.
#include <cstdio>
#include <string>

namespace nablagfn {

class AtomicFile {
 public:
  explicit AtomicFile(std::string path);  // opens the temporary file; Error if it cannot
  ~AtomicFile();                          // removes the temporary file unless commit() ran
  AtomicFile(const AtomicFile&) = delete;
  AtomicFile& operator=(const AtomicFile&) = delete;

  void write(const void* data, size_t n);  // Error on a short write (disk full)
  void write(const std::string& s) { write(s.data(), s.size()); }
  void commit();                           // flush, fsync, rename into place

 private:
  std::string path_;
  std::string tmp_path_;
  std::FILE* file_ = nullptr;
  bool committed_ = false;
};

// Writes the whole string atomically.
void write_file_atomic(const std::string& path, const std::string& contents);
// Reads a whole file; Error with a hint if it is missing or unreadable.
std::string read_file(const std::string& path);

}  // namespace nablagfn
