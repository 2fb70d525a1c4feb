#pragma once
// File-system helpers on POSIX calls. std::filesystem is avoided in library code: PyTorch's pip libtorch
// exports std::filesystem symbols of another libstdc++ build, and binaries linked against it crash in
// them (seen on the GPU machine with libtorch 2.11).
#include <string>
#include <vector>

namespace nablagfn {

bool path_exists(const std::string& path);
bool is_directory(const std::string& path);
// mkdir -p; Error with a hint when a component cannot be created.
void make_directories(const std::string& path);
// Error with a hint unless a file can be created at path: its folders exist (they are created here) and
// are folders, path is not a folder, and the folder accepts a new file. Run it before long work whose
// result goes to path.
void check_writable_file(const std::string& path);
// rm -rf; a missing path is not an error.
void remove_tree(const std::string& path);
// Names in a folder (no "." and ".."), sorted; empty when the folder does not exist.
std::vector<std::string> list_directory(const std::string& path);
// rename(2); Error with a hint on failure.
void rename_path(const std::string& from, const std::string& to);
// a + "/" + b (b relative).
std::string join_path(const std::string& a, const std::string& b);

}  // namespace nablagfn
