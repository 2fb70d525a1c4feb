#pragma once
// The run directory of `nablagfn train` (DESIGN.md "Command-line contract"):
//   config.resolved.json, metrics.jsonl, samples/, plots/, checkpoints/, final_samples.safetensors,
// plus a marker file INCOMPLETE that exists from creation until mark_complete(), so a crashed or
// interrupted run is recognisable from its folder.
#include <nlohmann/json_fwd.hpp>
#include <string>
#include <vector>

namespace nablagfn {

class RunDir {
 public:
  static constexpr const char* kIncompleteMarker = "INCOMPLETE";
  static constexpr const char* kConfigFile = "config.resolved.json";
  static constexpr const char* kMetricsFile = "metrics.jsonl";

  // Creates path (and parents) with samples/, plots/, checkpoints/, then writes the INCOMPLETE marker.
  // A folder that already holds a run (config.resolved.json present) is an Error unless resume; with
  // resume, a folder without a run is simply created (resumed() then says false: nothing to load).
  static RunDir create(const std::string& path, bool resume);
  // An existing run folder, read-only use (export, eval): Error unless it holds config.resolved.json.
  static RunDir open(const std::string& path);
  // The run directory as seen by a data-parallel process other than the main one, which writes nothing:
  // creates nothing, and resumed() is resume (loading then finds the checkpoints the main process finds).
  static RunDir attach(const std::string& path, bool resume) { return RunDir(path, resume); }

  const std::string& root() const { return root_; }
  // root/rel; rel must be relative.
  std::string path(const std::string& rel) const;
  // Writes text to root/rel atomically (io/atomic_file.h).
  void write_text(const std::string& rel, const std::string& text) const;
  // True when create() found an earlier run in the folder to continue.
  bool resumed() const { return resumed_; }
  // Removes the INCOMPLETE marker; call once the run has finished and all its files are written.
  void mark_complete() const;
  bool is_complete() const;

 private:
  RunDir(std::string root, bool resumed) : root_(std::move(root)), resumed_(resumed) {}
  std::string root_;
  bool resumed_;
};

// metrics.jsonl: one JSON object per line, appended and fsynced line by line, so a crash loses at most
// the line being written.
class MetricsLog {
 public:
  // Opens path for appending (created if absent). A last line without its newline is completed if it
  // parses, else (a crash in the middle of an append) cut off, so the next record gets a line of its own.
  explicit MetricsLog(std::string path);
  ~MetricsLog();
  MetricsLog(const MetricsLog&) = delete;
  MetricsLog& operator=(const MetricsLog&) = delete;

  // Appends record (a JSON object) as one compact line; Error if it is not an object or the write fails.
  void append(const nlohmann::json& record);
  // The same for a JSON object in text form; Error if it does not parse as an object.
  void append(const std::string& json_object);

  // Every record of a metrics.jsonl file, in order; blank lines are skipped. Error naming the line on a
  // malformed one, except a last line without newline that does not parse (cut by a crash): skipped.
  static std::vector<nlohmann::json> read_all(const std::string& path);
  // Rewrites path (atomically) without the records whose "epoch" is above last_epoch: a resumed run
  // continues from its checkpoint's epoch, so the rows a killed run wrote after it are dropped.
  // A missing file is left missing.
  static void drop_after_epoch(const std::string& path, int last_epoch);

 private:
  void write_synced(const std::string& bytes);  // write fully, then fsync
  std::string path_;
  int fd_ = -1;
};

}  // namespace nablagfn
