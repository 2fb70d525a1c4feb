// report.html pieces: base64 against RFC 4648's test vectors, and a report of a made-up run that embeds
// its numbers, escapes what would end a <script> element, and inlines Chart.js.
#include <gtest/gtest.h>

#include <filesystem>

#include "io/atomic_file.h"
#include "io/base64.h"
#include "io/png.h"
#include "metrics/report.h"

namespace nablagfn {
namespace {

TEST(Base64, RFC4648Vectors) {
  EXPECT_EQ(base64_encode(""), "");
  EXPECT_EQ(base64_encode("f"), "Zg==");
  EXPECT_EQ(base64_encode("fo"), "Zm8=");
  EXPECT_EQ(base64_encode("foo"), "Zm9v");
  EXPECT_EQ(base64_encode("foob"), "Zm9vYg==");
  EXPECT_EQ(base64_encode("fooba"), "Zm9vYmE=");
  EXPECT_EQ(base64_encode("foobar"), "Zm9vYmFy");
  EXPECT_EQ(base64_encode(std::string("\xff\xfe\x00", 3)), "//4A");
}

TEST(Report, SelfContainedWithEscapedData) {
  const std::string dir = std::string(NABLAGFN_BINARY_DIR) + "/test_report_out";
  std::filesystem::create_directories(dir);
  const std::string png = dir + "/grid.png";
  write_png(png, Image::filled(4, 4, 3, 10));
  ReportRun run;
  run.name = "run </script><b>";
  run.config = {{"algorithm", {{"name", "nabla_db"}}}};
  run.metrics = {{{"epoch", -1}, {"reward_mean", 0.5}}, {{"epoch", 0}, {"reward_mean", 0.75}, {"loss", 2.0}}};
  run.points = {{{"epoch", -1}, {"reward_eval", 0.5}, {"diversity", 0.9}, {"prior_fid", 0.0}}};
  run.images = {{"pretrained samples", png}};
  write_report(dir + "/report.html", "test", {run});
  const std::string html = read_file(dir + "/report.html");
  EXPECT_NE(html.find("Chart.js v4.4.9"), std::string::npos);
  EXPECT_EQ(html.find("sourceMappingURL"), std::string::npos);
  EXPECT_NE(html.find("data:image/png;base64," + base64_encode(read_file(png))), std::string::npos);
  EXPECT_NE(html.find("\"reward_mean\":0.75"), std::string::npos);
  EXPECT_EQ(html.find("</script><b>"), std::string::npos);  // the name is escaped in HTML and in the JSON
  EXPECT_NE(html.find("run &lt;/script&gt;&lt;b&gt;"), std::string::npos);
  std::filesystem::remove_all(dir);
}

}  // namespace
}  // namespace nablagfn
