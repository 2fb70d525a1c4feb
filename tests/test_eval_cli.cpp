// Evaluation end to end on two tiny toy runs (issue 11): `nablagfn train` writes the pretrained row
// (epoch -1) with diversity / prior_fid, a TensorBoard event file and report.html; `nablagfn eval` over
// both runs recomputes every checkpoint and writes eval.jsonl, the two Pareto PNGs and its report;
// `--from-metrics` compares the rows the runs logged instead.
#include <string>

#include <nlohmann/json.hpp>

#include "io/atomic_file.h"
#include "io/fs_util.h"
#include "io/png.h"
#include "io/run_dir.h"
#include "io/tfrecord.h"
#include "cli_util.h"
#include "test_util.h"

namespace nablagfn {
namespace {

using test::CommandResult;
using test::run_nablagfn;

// 3 epochs of 64 trajectories, a checkpoint and an evaluation of 256 samples after each.
std::string tiny_train(const std::string& config, const std::string& out) {
  return "train --config " + std::string(NABLAGFN_SOURCE_DIR) + "/configs/" + config +
         " --set train.n_epochs=3 --set train.save_every=1 --set eval.every=1 --set eval.n_samples=256"
         " --set sample.batch_size=64 --set train.batch_size=32 --out " + out;
}

TEST(EvalCLISmoke, TrainRowsTensorBoardAndEvalOfTwoRuns) {
  const std::string dir = join_path(::testing::TempDir(), "nablagfn_test_eval_cli");
  remove_tree(dir);
  const std::string a = dir + "/nabla_db", b = dir + "/refl";
  CommandResult r = run_nablagfn(tiny_train("toy2d_nabla_db.jsonc", a));
  ASSERT_EQ(r.exit_code, 0) << r.output;
  r = run_nablagfn(tiny_train("toy2d_refl.jsonc", b));
  ASSERT_EQ(r.exit_code, 0) << r.output;

  // The first row is the pretrained model: no update, prior drift 0 (the adapter starts as the identity).
  const auto rows = MetricsLog::read_all(join_path(a, RunDir::kMetricsFile));
  ASSERT_EQ(rows.size(), 4u);
  EXPECT_EQ(rows[0]["epoch"], -1);
  EXPECT_EQ(rows[0]["updates"], 0);
  EXPECT_NEAR(rows[0]["prior_fid"].get<double>(), 0.0, 1e-6);
  EXPECT_GT(rows[0]["diversity"].get<double>(), 0.5);  // 8 modes on a ring: the points point all around
  EXPECT_EQ(rows[0]["reward_mean"], rows[0]["reward_eval"]);
  for (const auto& row : rows) EXPECT_TRUE(row.contains("diversity") && row.contains("prior_fid")) << row.dump();
  EXPECT_GT(rows[3]["prior_fid"].get<double>(), 0.0);

  // TensorBoard: version event, 4 scalar events, the pretrained and the final pictures (2 each).
  std::string events;
  for (const auto& name : list_directory(a))
    if (name.rfind("events.out.tfevents.", 0) == 0) events = join_path(a, name);
  ASSERT_FALSE(events.empty());
  EXPECT_EQ(read_tfrecords(read_file(events)).size(), 1u + 4u + 2u + 2u);

  const std::string html = read_file(join_path(a, "report.html"));
  EXPECT_NE(html.find("Chart.js v4.4.9"), std::string::npos);
  EXPECT_NE(html.find("data:image/png;base64,"), std::string::npos);
  EXPECT_EQ(html.find("src=\"http"), std::string::npos);  // self-contained

  const std::string out = dir + "/eval";
  r = run_nablagfn("eval --runs " + a + " " + b + " --out " + out + " --set eval.n_samples=128");
  ASSERT_EQ(r.exit_code, 0) << r.output;
  const std::vector<nlohmann::json> evaluated = MetricsLog::read_all(join_path(out, "eval.jsonl"));
  ASSERT_EQ(evaluated.size(), 2u * 4u);  // per run: epoch -1 and 3 checkpoints
  EXPECT_EQ(evaluated[0]["run"], "nabla_db");
  EXPECT_EQ(evaluated[4]["run"], "refl");
  EXPECT_EQ(evaluated[7]["epoch"], 2);
  EXPECT_NEAR(evaluated[4]["prior_fid"].get<double>(), 0.0, 1e-6);
  for (const char* png : {"pareto_diversity.png", "pareto_prior_fid.png"}) {
    Image image = read_png(join_path(out, png));
    EXPECT_GT(image.width, 100) << png;
  }
  const std::string eval_html = read_file(join_path(out, "report.html"));
  EXPECT_NE(eval_html.find("\"name\":\"refl\""), std::string::npos);

  // --from-metrics: the rows the runs logged, unchanged, and the same pictures; nothing recomputed.
  const std::string logged = dir + "/logged";
  r = run_nablagfn("eval --runs " + a + " " + b + " --out " + logged + " --from-metrics");
  ASSERT_EQ(r.exit_code, 0) << r.output;
  const std::vector<nlohmann::json> compared = MetricsLog::read_all(join_path(logged, "eval.jsonl"));
  ASSERT_EQ(compared.size(), 2u * 4u);
  EXPECT_EQ(compared[5]["run"], "refl");
  EXPECT_EQ(compared[3]["diversity"], rows[3]["diversity"]);
  EXPECT_EQ(compared[3]["epoch"], rows[3]["epoch"]);
  for (const char* png : {"pareto_diversity.png", "pareto_prior_fid.png"})
    EXPECT_GT(read_png(join_path(logged, png)).width, 100) << png;

  r = run_nablagfn("eval --runs " + a + " --out " + logged + " --from-metrics --set eval.n_samples=64");
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_NE(r.output.find("--set has no effect"), std::string::npos) << r.output;

  r = run_nablagfn("eval --runs " + dir + "/missing --out " + out);
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_NE(r.output.find("error: "), std::string::npos) << r.output;
  remove_tree(dir);
}

}  // namespace
}  // namespace nablagfn
