// Run directory: layout, INCOMPLETE marker lifecycle, refusal to overwrite a run without --resume;
// metrics.jsonl append / read, including recovery from a line cut by a crash.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>

#include "core/error.h"
#include "io/atomic_file.h"
#include "io/run_dir.h"

using namespace nablagfn;
namespace fs = std::filesystem;

namespace {
std::string run_dir_fresh(const std::string& name) {
  const std::string path = ::testing::TempDir() + "/run_dir_test/" + name;
  fs::remove_all(path);
  return path;
}

void run_dir_write_raw(const std::string& path, const std::string& bytes) {
  std::ofstream(path, std::ios::binary) << bytes;
}
}  // namespace

TEST(RunDir, CreatesLayoutAndMarkerLifecycle) {
  const std::string root = run_dir_fresh("nested/run");  // parents are created too
  RunDir run = RunDir::create(root, false);
  EXPECT_FALSE(run.resumed());
  for (const char* sub : {"samples", "plots", "checkpoints"}) EXPECT_TRUE(fs::is_directory(root + "/" + sub)) << sub;
  EXPECT_TRUE(fs::exists(root + "/INCOMPLETE"));
  EXPECT_FALSE(run.is_complete());
  run.write_text("config.resolved.json", "{\"seed\": 1}\n");
  EXPECT_EQ(read_file(run.path("config.resolved.json")), "{\"seed\": 1}\n");
  EXPECT_EQ(run.path("plots/reward.png"), root + "/plots/reward.png");
  run.mark_complete();
  EXPECT_TRUE(run.is_complete());
  EXPECT_FALSE(fs::exists(root + "/INCOMPLETE"));
  EXPECT_THROW(run.path("/etc/passwd"), Error);
}

TEST(RunDir, RefusesToReuseARunWithoutResume) {
  const std::string root = run_dir_fresh("taken");
  RunDir::create(root, false).write_text("config.resolved.json", "{}");
  try {
    RunDir::create(root, false);
    FAIL() << "reusing a run folder without resume must throw";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("already holds a run"), std::string::npos) << e.what();
    EXPECT_EQ(e.hint(), "pass --resume or choose another --out");
  }
  RunDir resumed = RunDir::create(root, true);
  EXPECT_TRUE(resumed.resumed());
  EXPECT_FALSE(resumed.is_complete());  // the marker is back while the resumed run goes on
  EXPECT_FALSE(RunDir::create(run_dir_fresh("resume_nothing"), true).resumed());
}

TEST(RunDir, RefusesAFileAsFolder) {
  const std::string root = run_dir_fresh("a_file");
  fs::create_directories(fs::path(root).parent_path());
  run_dir_write_raw(root, "not a folder");
  EXPECT_THROW(RunDir::create(root, false), Error);
}

TEST(RunDirMetricsLog, AppendsAndReadsBack) {
  const std::string root = run_dir_fresh("metrics");
  RunDir run = RunDir::create(root, false);
  {
    MetricsLog log(run.path(RunDir::kMetricsFile));
    log.append(nlohmann::json{{"epoch", 0}, {"reward_mean", 0.25}, {"loss", {{"db", 1.5}}}});
    log.append(std::string("{\"epoch\": 1, \"reward_mean\": 0.5}"));
    EXPECT_THROW(log.append(std::string("[1, 2]")), Error);
    EXPECT_THROW(log.append(std::string("{\"epoch\": ")), Error);
    EXPECT_THROW(log.append(nlohmann::json(3)), Error);
  }
  {
    MetricsLog reopened(run.path(RunDir::kMetricsFile));  // a resumed run appends after the old lines
    reopened.append(nlohmann::json{{"epoch", 2}});
  }
  const std::vector<nlohmann::json> records = MetricsLog::read_all(run.path(RunDir::kMetricsFile));
  ASSERT_EQ(records.size(), 3u);
  EXPECT_EQ(records[0]["loss"]["db"].get<double>(), 1.5);
  EXPECT_EQ(records[1]["reward_mean"].get<double>(), 0.5);
  EXPECT_EQ(records[2]["epoch"].get<int>(), 2);
  const std::string text = read_file(run.path(RunDir::kMetricsFile));
  EXPECT_EQ(std::count(text.begin(), text.end(), '\n'), 3);
}

TEST(RunDirMetricsLog, RecoversFromALineCutByACrash) {
  const std::string path = run_dir_fresh("crash") + ".jsonl";
  fs::create_directories(fs::path(path).parent_path());
  run_dir_write_raw(path, "{\"epoch\": 0}\n{\"epoch\": 1, \"rew");
  EXPECT_EQ(MetricsLog::read_all(path).size(), 1u);  // the cut line is skipped
  {
    MetricsLog log(path);  // cuts the partial line before appending
    log.append(nlohmann::json{{"epoch", 1}});
  }
  EXPECT_EQ(read_file(path), "{\"epoch\": 0}\n{\"epoch\":1}\n");
  run_dir_write_raw(path, "{\"epoch\": 0}");  // complete but unterminated: kept and completed
  { MetricsLog log(path); }
  EXPECT_EQ(read_file(path), "{\"epoch\": 0}\n");
}

TEST(RunDirMetricsLog, MalformedLineIsAClearError) {
  const std::string path = run_dir_fresh("bad") + ".jsonl";
  fs::create_directories(fs::path(path).parent_path());
  run_dir_write_raw(path, "{\"epoch\": 0}\n\nnot json\n{\"epoch\": 2}\n");
  try {
    MetricsLog::read_all(path);
    FAIL() << "a malformed line must throw";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("line 3"), std::string::npos) << e.what();
  }
  EXPECT_THROW(MetricsLog::read_all(path + ".missing"), Error);
}
