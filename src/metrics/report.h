#pragma once
// report.html: one self-contained page (no network: Chart.js inlined from third_party/chartjs, pictures as
// data: URIs, the numbers embedded as JSON) showing one or several runs: the Pareto plots (evaluation
// reward against diversity and against prior drift, one curve per run, one point per evaluation), every
// metric against the epoch, the pretrained and finetuned sample pictures, and each run's config.
// Written at the end of `nablagfn train` (one run) and by `nablagfn eval` (the runs it compares).
#include <string>
#include <utility>
#include <vector>

#include <nlohmann/json.hpp>

namespace nablagfn {

struct ReportRun {
  std::string name;
  nlohmann::json config;                  // config.resolved.json (null when absent)
  std::vector<nlohmann::json> metrics;    // metrics.jsonl rows: the curves
  std::vector<nlohmann::json> points;     // evaluation rows (epoch, reward_eval, diversity, prior_fid): Pareto
  std::vector<std::pair<std::string, std::string>> images;  // (caption, PNG path), shown in this order
};

// A run directory as a report entry: its config, metrics.jsonl, the rows holding diversity as Pareto points,
// and its pictures of the pretrained and the final model (samples/pretrained.png and the last
// samples/epoch_NNNN.png; the toy's plots/samples_pretrained.png, plots/samples.png and mode masses).
// Error when run_dir holds no metrics.jsonl.
ReportRun read_run_for_report(const std::string& run_dir, const std::string& name);

// Writes the report of runs to path (atomically).
void write_report(const std::string& path, const std::string& title, const std::vector<ReportRun>& runs);

}  // namespace nablagfn
