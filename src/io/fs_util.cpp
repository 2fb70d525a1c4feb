#include "io/fs_util.h"

#include <dirent.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstring>

#include "core/error.h"

namespace nablagfn {

bool path_exists(const std::string& path) {
  struct stat st;
  return ::stat(path.c_str(), &st) == 0;
}

bool is_directory(const std::string& path) {
  struct stat st;
  return ::stat(path.c_str(), &st) == 0 && S_ISDIR(st.st_mode);
}

void make_directories(const std::string& path) {
  if (path.empty() || is_directory(path)) return;
  const size_t slash = path.find_last_of('/');
  if (slash != std::string::npos && slash > 0) make_directories(path.substr(0, slash));
  require(!path_exists(path), "'" + path + "' is a file, not a folder",
          "choose a path whose folders are folders, or move the file away");
  if (::mkdir(path.c_str(), 0755) != 0 && errno != EEXIST)
    throw Error("cannot create folder '" + path + "': " + std::strerror(errno), "check the path and its permissions");
  require(is_directory(path), "'" + path + "' exists and is not a folder", "choose another path");
}

void check_writable_file(const std::string& path) {
  require(!path.empty() && path.back() != '/' && !is_directory(path), "'" + path + "' is a folder, not a file name",
          "give a file name, for example '" + join_path(path, "grid.png") + "'");
  const size_t slash = path.find_last_of('/');
  const std::string folder = slash == std::string::npos ? "." : slash == 0 ? "/" : path.substr(0, slash);
  make_directories(folder);
  const std::string probe = join_path(folder, ".nablagfn-write-probe-" + std::to_string(::getpid()));
  FILE* f = std::fopen(probe.c_str(), "wb");
  if (f == nullptr)
    throw Error("cannot write into folder '" + folder + "': " + std::strerror(errno),
                "choose an output path in a folder you can write to");
  std::fclose(f);
  ::unlink(probe.c_str());
}

std::vector<std::string> list_directory(const std::string& path) {
  std::vector<std::string> out;
  DIR* dir = ::opendir(path.c_str());
  if (dir == nullptr) return out;
  while (const dirent* e = ::readdir(dir)) {
    std::string name = e->d_name;
    if (name != "." && name != "..") out.push_back(name);
  }
  ::closedir(dir);
  std::sort(out.begin(), out.end());
  return out;
}

void remove_tree(const std::string& path) {
  struct stat st;
  if (::lstat(path.c_str(), &st) != 0) return;
  if (S_ISDIR(st.st_mode)) {
    for (const auto& name : list_directory(path)) remove_tree(join_path(path, name));
    ::rmdir(path.c_str());
  } else {
    ::unlink(path.c_str());
  }
}

void rename_path(const std::string& from, const std::string& to) {
  if (std::rename(from.c_str(), to.c_str()) != 0)
    throw Error("cannot move '" + from + "' to '" + to + "': " + std::strerror(errno), "check the output folder's permissions");
}

std::string join_path(const std::string& a, const std::string& b) {
  if (a.empty()) return b;
  return a.back() == '/' ? a + b : a + "/" + b;
}

}  // namespace nablagfn
