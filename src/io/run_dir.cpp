// Run directory layout and the append-only metrics log; see io/run_dir.h.
#include "io/run_dir.h"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <cstdio>
#include <nlohmann/json.hpp>

#include "core/error.h"
#include "io/atomic_file.h"
#include "io/fs_util.h"

namespace nablagfn {
namespace run_dir_detail {

// The parsed object, or a discarded value if line is not one JSON object.
nlohmann::json parse_object_line(const std::string& line) {
  nlohmann::json value = nlohmann::json::parse(line, nullptr, false);
  return value.is_object() ? value : nlohmann::json(nlohmann::json::value_t::discarded);
}

bool is_blank(const std::string& line) { return line.find_first_not_of(" \t\r") == std::string::npos; }

}  // namespace run_dir_detail

RunDir RunDir::create(const std::string& path, bool resume) {
  require(!path.empty(), "the run directory path is empty", "pass --out runs/NAME");
  if (path_exists(path) && !is_directory(path))
    throw Error("'" + path + "' exists and is not a folder", "choose another --out");
  const bool has_run = path_exists(join_path(path, kConfigFile));
  if (has_run && !resume) throw Error("'" + path + "' already holds a run", "pass --resume or choose another --out");
  for (const char* sub : {"samples", "plots", "checkpoints"}) make_directories(join_path(path, sub));
  RunDir run(path, has_run);
  run.write_text(kIncompleteMarker,
                 "This run has not finished: it is running, crashed or was interrupted.\n"
                 "Continue it with `nablagfn train ... --resume`.\n");
  return run;
}

RunDir RunDir::open(const std::string& path) {
  require(path_exists(join_path(path, kConfigFile)), "'" + path + "' holds no run (no " + kConfigFile + ")",
          "pass the --out folder of a `nablagfn train` run");
  return RunDir(path, true);
}

std::string RunDir::path(const std::string& rel) const {
  require(!rel.empty() && rel.front() != '/', "run file name '" + rel + "' is not a relative path",
          "name files inside the run directory relative to it");
  return join_path(root_, rel);
}

void RunDir::write_text(const std::string& rel, const std::string& text) const { write_file_atomic(path(rel), text); }

void RunDir::mark_complete() const {
  if (std::remove(path(kIncompleteMarker).c_str()) != 0 && path_exists(path(kIncompleteMarker)))
    throw Error("cannot remove '" + path(kIncompleteMarker) + "'", "check folder permissions");
}

bool RunDir::is_complete() const {
  return !path_exists(path(kIncompleteMarker));
}

MetricsLog::MetricsLog(std::string path) : path_(std::move(path)) {
  fd_ = ::open(path_.c_str(), O_RDWR | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
  if (fd_ < 0)
    throw Error("cannot open '" + path_ + "' for appending: " + std::strerror(errno),
                "check the run folder's permissions");
  const std::string contents = read_file(path_);
  if (contents.empty() || contents.back() == '\n') return;
  const size_t line_begin = contents.rfind('\n') == std::string::npos ? 0 : contents.rfind('\n') + 1;
  if (!run_dir_detail::parse_object_line(contents.substr(line_begin)).is_discarded()) {
    write_synced("\n");
    return;
  }
  if (::ftruncate(fd_, static_cast<off_t>(line_begin)) != 0)
    throw Error("cannot cut the partial last line of '" + path_ + "': " + std::strerror(errno),
                "check free disk space");
}

MetricsLog::~MetricsLog() {
  if (fd_ >= 0) ::close(fd_);
}

void MetricsLog::write_synced(const std::string& bytes) {
  size_t done = 0;
  while (done < bytes.size()) {
    const ssize_t n = ::write(fd_, bytes.data() + done, bytes.size() - done);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) throw Error("cannot append to '" + path_ + "': " + std::strerror(errno), "check free disk space");
    done += static_cast<size_t>(n);
  }
  if (::fsync(fd_) != 0) throw Error("cannot flush '" + path_ + "': " + std::strerror(errno), "check free disk space");
}

void MetricsLog::append(const nlohmann::json& record) {
  require(record.is_object(), "a metrics record must be a JSON object, got " + std::string(record.type_name()),
          "log one object per epoch, e.g. {\"epoch\": 3, \"reward_mean\": 0.5}");
  // Invalid UTF-8 (say, inside a prompt) is replaced rather than aborting the run's log.
  write_synced(record.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace) + "\n");
}

void MetricsLog::append(const std::string& json_object) {
  const nlohmann::json record = run_dir_detail::parse_object_line(json_object);
  require(!record.is_discarded(), "metrics record is not a JSON object: " + json_object.substr(0, 80),
          "log one object per epoch, e.g. {\"epoch\": 3, \"reward_mean\": 0.5}");
  append(record);
}

std::vector<nlohmann::json> MetricsLog::read_all(const std::string& path) {
  const std::string contents = read_file(path);
  std::vector<nlohmann::json> records;
  size_t begin = 0;
  for (int line_number = 1; begin < contents.size(); ++line_number) {
    const size_t end = contents.find('\n', begin);
    const bool terminated = end != std::string::npos;
    const std::string line = contents.substr(begin, terminated ? end - begin : std::string::npos);
    begin = terminated ? end + 1 : contents.size();
    if (run_dir_detail::is_blank(line)) continue;
    nlohmann::json record = run_dir_detail::parse_object_line(line);
    if (record.is_discarded() && !terminated) break;  // cut by a crash in the middle of an append
    if (record.is_discarded())
      throw Error("line " + std::to_string(line_number) + " of '" + path + "' is not a JSON object",
                  "the file was edited or damaged; fix or delete that line");
    records.push_back(std::move(record));
  }
  return records;
}

void MetricsLog::drop_after_epoch(const std::string& path, int last_epoch) {
  if (!path_exists(path)) return;
  std::string kept;
  for (const auto& record : read_all(path))
    if (!record.contains("epoch") || record.at("epoch").get<int>() <= last_epoch)
      kept += record.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace) + "\n";
  write_file_atomic(path, kept);
}

}  // namespace nablagfn
