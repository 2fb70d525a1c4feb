// report.html; see report.h. The page is static HTML plus a short script that draws the charts with
// Chart.js from the embedded JSON.
#include "metrics/report.h"

#include <algorithm>

#include "core/error.h"
#include "io/atomic_file.h"
#include "io/base64.h"
#include "io/fs_util.h"
#include "io/run_dir.h"
#include "metrics/chartjs.h"

namespace nablagfn {

namespace {
const char* kStyle = R"CSS(
body { font-family: system-ui, sans-serif; margin: 24px; color: #222; max-width: 1400px; }
h1 { font-size: 22px; } h2 { font-size: 18px; margin-top: 28px; border-bottom: 1px solid #ddd; }
.grid { display: grid; grid-template-columns: repeat(auto-fill, minmax(520px, 1fr)); gap: 16px; }
.chart { position: relative; height: 300px; }
figure { margin: 0; } figcaption { font-size: 13px; color: #555; }
.pictures { display: flex; flex-wrap: wrap; gap: 16px; align-items: flex-start; }
.pictures img { max-width: 420px; image-rendering: pixelated; border: 1px solid #ddd; }
pre { background: #f6f6f6; padding: 8px; font-size: 12px; overflow-x: auto; }
table { border-collapse: collapse; font-size: 13px; } td, th { border: 1px solid #ddd; padding: 3px 8px; text-align: right; }
)CSS";

// Draws every chart from DATA = {runs: [{name, metrics, points}]}.
const char* kScript = R"JS(
const palette = ['#1f77b4', '#d62728', '#2ca02c', '#ff7f0e', '#9467bd', '#8c564b', '#e377c2', '#17becf'];
const bookkeeping = k => ['epoch', 'updates', 'seconds', 'reward_std'].includes(k) || k.startsWith('mass_');
const isLoss = k => k === 'loss' || k.startsWith('l_');
function chart(parent, title, xLabel, yLabel, datasets, logY) {
  const box = document.createElement('div');
  box.className = 'chart';
  const canvas = document.createElement('canvas');
  box.appendChild(canvas);
  parent.appendChild(box);
  new Chart(canvas, {
    type: 'scatter',
    data: {datasets},
    options: {
      animation: false, maintainAspectRatio: false,
      plugins: {title: {display: true, text: title},
                tooltip: {callbacks: {label: c => `${c.dataset.label}: epoch ${c.raw.epoch} (${c.raw.x.toPrecision(4)}, ${c.raw.y.toPrecision(4)})`}}},
      scales: {x: {title: {display: true, text: xLabel}}, y: {type: logY ? 'logarithmic' : 'linear', title: {display: true, text: yLabel}}}
    }
  });
}
function series(rows, xKey, yKey) {
  return rows.filter(r => Number.isFinite(r[xKey]) && Number.isFinite(r[yKey])).map(r => ({x: r[xKey], y: r[yKey], epoch: r.epoch}));
}
function dataset(run, i, data) {
  return {label: run.name, data, showLine: true, borderColor: palette[i % palette.length],
          backgroundColor: palette[i % palette.length], pointRadius: data.length > 40 ? 1 : 3, borderWidth: 1.5};
}
const pareto = document.getElementById('pareto');
for (const [xKey, xLabel] of [['diversity', 'diversity (mean pairwise cosine distance)'], ['prior_fid', 'prior drift (prompt-averaged Fréchet distance)']]) {
  const sets = DATA.runs.map((run, i) => dataset(run, i, series(run.points, xKey, 'reward_eval'))).filter(d => d.data.length);
  if (sets.length) chart(pareto, `reward vs ${xKey}`, xLabel, 'evaluation reward', sets, false);
}
if (!pareto.children.length) pareto.textContent = 'no evaluation with diversity / prior_fid in these runs';
const keys = [];
for (const run of DATA.runs) for (const row of run.metrics) for (const k in row)
  if (typeof row[k] === 'number' && !bookkeeping(k) && !keys.includes(k)) keys.push(k);
const order = ['reward_mean', 'reward_eval', 'diversity', 'prior_fid'];
keys.sort((a, b) => (order.includes(a) ? order.indexOf(a) : 99) - (order.includes(b) ? order.indexOf(b) : 99) || a.localeCompare(b));
const curves = document.getElementById('curves');
for (const k of keys) {
  const sets = DATA.runs.map((run, i) => dataset(run, i, series(run.metrics, 'epoch', k))).filter(d => d.data.length);
  const logY = isLoss(k) && sets.every(d => d.data.every(p => p.y > 0));
  chart(curves, k, 'epoch', k, sets, logY);
}
)JS";

std::string escape_html(const std::string& s) {
  std::string out;
  for (char c : s) {
    switch (c) {
      case '<': out += "&lt;"; break;
      case '>': out += "&gt;"; break;
      case '&': out += "&amp;"; break;
      case '"': out += "&quot;"; break;
      default: out += c;
    }
  }
  return out;
}

// JSON safe inside <script>: "</" would end the element.
std::string script_json(const nlohmann::json& j) {
  std::string s = j.dump();
  for (size_t at = s.find("</"); at != std::string::npos; at = s.find("</", at + 2)) s.replace(at, 2, "<\\/");
  return s;
}

// The last table row of each run: its final evaluation.
std::string summary_table(const std::vector<ReportRun>& runs) {
  const std::vector<std::string> keys = {"epoch", "reward_eval", "diversity", "prior_fid"};
  std::string html = "<table><tr><th>run</th><th>evaluation</th>";
  for (const auto& k : keys) html += "<th>" + k + "</th>";
  html += "</tr>";
  for (const auto& run : runs) {
    if (run.points.empty()) continue;
    for (const nlohmann::json* row : {&run.points.front(), &run.points.back()}) {
      html += "<tr><td>" + escape_html(run.name) + "</td><td>" + (row == &run.points.front() ? "first" : "last") +
              "</td>";
      for (const auto& k : keys) {
        char cell[32] = "";
        if (row->contains(k) && (*row)[k].is_number()) std::snprintf(cell, sizeof cell, "%.4g", (*row)[k].get<double>());
        html += std::string("<td>") + cell + "</td>";
      }
      html += "</tr>";
    }
  }
  return html + "</table>";
}

// The last samples/epoch_NNNN.png of a run, or "".
std::string last_epoch_grid(const std::string& run_dir) {
  const std::string dir = join_path(run_dir, "samples");
  if (!is_directory(dir)) return "";
  std::string last;
  for (const auto& name : list_directory(dir))
    if (name.rfind("epoch_", 0) == 0 && name.size() > 4 && name.compare(name.size() - 4, 4, ".png") == 0)
      last = std::max(last, name);
  return last.empty() ? "" : join_path(dir, last);
}
}  // namespace

ReportRun read_run_for_report(const std::string& run_dir, const std::string& name) {
  const std::string metrics_path = join_path(run_dir, RunDir::kMetricsFile);
  require(path_exists(metrics_path), "'" + run_dir + "' holds no " + RunDir::kMetricsFile,
          "pass a run directory written by `nablagfn train`");
  ReportRun run;
  run.name = name;
  const std::string config_path = join_path(run_dir, RunDir::kConfigFile);
  if (path_exists(config_path)) run.config = nlohmann::json::parse(read_file(config_path));
  run.metrics = MetricsLog::read_all(metrics_path);
  for (const auto& row : run.metrics)
    if (row.contains("diversity")) run.points.push_back(row);
  const std::vector<std::pair<std::string, std::string>> candidates = {
      {"pretrained samples", join_path(run_dir, "samples/pretrained.png")},
      {"finetuned samples (last evaluation)", last_epoch_grid(run_dir)},
      {"pretrained samples", join_path(run_dir, "plots/samples_pretrained.png")},
      {"finetuned samples", join_path(run_dir, "plots/samples.png")},
      {"pretrained mode masses", join_path(run_dir, "plots/mode_masses_pretrained.png")},
      {"finetuned mode masses", join_path(run_dir, "plots/mode_masses.png")}};
  for (const auto& [caption, path] : candidates)
    if (!path.empty() && path_exists(path)) run.images.emplace_back(caption, path);
  return run;
}

void write_report(const std::string& path, const std::string& title, const std::vector<ReportRun>& runs) {
  nlohmann::json data = {{"runs", nlohmann::json::array()}};
  for (const auto& run : runs) data["runs"].push_back({{"name", run.name}, {"metrics", run.metrics}, {"points", run.points}});
  std::string html = "<!doctype html>\n<html><head><meta charset=\"utf-8\"><title>" + escape_html(title) +
                     "</title>\n<style>" + kStyle + "</style>\n<script>" + chartjs_source() +
                     "</script>\n</head><body>\n<h1>" + escape_html(title) + "</h1>\n";
  html += "<h2>Pareto: reward against diversity and prior drift</h2>\n<div class=\"grid\" id=\"pareto\"></div>\n";
  html += summary_table(runs) + "\n";
  html += "<h2>Curves</h2>\n<div class=\"grid\" id=\"curves\"></div>\n<h2>Samples</h2>\n";
  for (const auto& run : runs) {
    html += "<h3>" + escape_html(run.name) + "</h3>\n<div class=\"pictures\">";
    for (const auto& [caption, png] : run.images)
      html += "<figure><img alt=\"" + escape_html(caption) + "\" src=\"data:image/png;base64," +
              base64_encode(read_file(png)) + "\"><figcaption>" + escape_html(caption) + "</figcaption></figure>";
    if (run.images.empty()) html += "<p>no sample pictures in this run</p>";
    html += "</div>\n";
  }
  html += "<h2>Configs</h2>\n";
  for (const auto& run : runs)
    html += "<details><summary>" + escape_html(run.name) + "</summary><pre>" +
            escape_html(run.config.is_null() ? "(no config.resolved.json)" : run.config.dump(2)) + "</pre></details>\n";
  html += "<script>const DATA = " + script_json(data) + ";\n" + kScript + "</script>\n</body></html>\n";
  write_file_atomic(path, html);
}

}  // namespace nablagfn
