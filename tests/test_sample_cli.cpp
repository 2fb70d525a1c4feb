// `nablagfn sample` end to end: the built binary samples the tiny Stable Diffusion folder (tests/data/sd_tiny)
// with a peft LoRA into a PNG grid of the right size, or a JPEG; a missing model folder, an unknown dtype and
// the usual mistakes (a file for a folder, an --out under a file, an empty prompt, an unknown image
// extension) exit 1 with one "error: ..." line that says what to change; a prompt past 77 tokens warns.
#include <sys/wait.h>

#include <array>
#include <cstdio>
#include <fstream>
#include <string>

#include <ATen/ATen.h>

#include "io/atomic_file.h"
#include "io/fs_util.h"
#include "io/png.h"
#include "io/tensor_io.h"
#include "cli_util.h"
#include "test_util.h"

using nablagfn::join_path;
using nablagfn::make_directories;
using nablagfn::path_exists;
using nablagfn::remove_tree;
using nablagfn::test::CommandResult;
using nablagfn::test::run_nablagfn;

namespace {

std::string sample_cli_temp_dir() {
  const std::string dir = join_path(::testing::TempDir(), "nablagfn_test_sample_cli");
  remove_tree(dir);
  return dir;
}

}  // namespace

TEST(SampleCLISmoke, WritesAGridOfTheRequestedImages) {
  const std::string dir = sample_cli_temp_dir();
  const std::string out = dir + "/grid.png";  // the parent is created by the command
  CommandResult r =
      run_nablagfn("sample --model " + nablagfn::test::data_path("sd_tiny") + " --lora " +
                   nablagfn::test::data_path("nabla_db_tiny/lora_peft.safetensors") +
                   " --prompt \"a photo of a cat\" --n 3 --steps 2 --guidance 5 --seed 7 --device cpu --out " + out);
  ASSERT_EQ(r.exit_code, 0) << r.output;
  nablagfn::Image grid = nablagfn::read_png(out);
  // 3 images of 16x16 in ceil(sqrt(3)) = 2 columns, 2 rows, 2-pixel padding.
  EXPECT_EQ(grid.width, 2 * (16 + 2) + 2);
  EXPECT_EQ(grid.height, 2 * (16 + 2) + 2);
  EXPECT_EQ(grid.channels, 3);
  remove_tree(dir);
}

TEST(SampleCLISmoke, MissingModelFolderIsOneErrorLine) {
  const std::string dir = sample_cli_temp_dir();
  CommandResult r = run_nablagfn("sample --model " + dir + "/no_such_model --prompt cat --out " + dir + "/grid.png");
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_EQ(r.output.rfind("error: ", 0), 0u) << r.output;
  EXPECT_EQ(r.output.find('\n'), r.output.size() - 1) << r.output;
  EXPECT_NE(r.output.find("no_such_model"), std::string::npos) << r.output;
  EXPECT_FALSE(path_exists(dir + "/grid.png"));
}

TEST(SampleCLISmoke, UnknownDtypeIsOneErrorLine) {
  CommandResult r = run_nablagfn("sample --model " + nablagfn::test::data_path("sd_tiny") +
                                 " --prompt cat --dtype fp64 --device cpu --out unused.png");
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_EQ(r.output.rfind("error: ", 0), 0u) << r.output;
  EXPECT_NE(r.output.find("fp64"), std::string::npos) << r.output;
}

TEST(SampleCLISmoke, MisShapedLoRAIsOneErrorLine) {
  const std::string dir = sample_cli_temp_dir();
  make_directories(dir);
  nablagfn::TensorMap lora =
      nablagfn::load_safetensors(nablagfn::test::data_path("nabla_db_tiny/lora_peft.safetensors"));
  const std::string key = "down_blocks.0.attentions.0.transformer_blocks.0.attn2.to_k.lora_A.weight";
  lora[key] = at::zeros({4, 7});  // a context width of 7, not the UNet's 16
  nablagfn::save_safetensors(dir + "/bad.safetensors", lora);
  CommandResult r =
      run_nablagfn("sample --model " + nablagfn::test::data_path("sd_tiny") + " --lora " + dir +
                   "/bad.safetensors --lora-alpha 4 --prompt cat --device cpu --out " + dir + "/grid.png");
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_EQ(r.output.rfind("error: ", 0), 0u) << r.output;
  EXPECT_EQ(r.output.find('\n'), r.output.size() - 1) << r.output;
  EXPECT_NE(r.output.find(key), std::string::npos) << r.output;
  remove_tree(dir);
}

// User mistakes say what to change, in one line, before any sampling starts.
TEST(SampleCLISmoke, MistakesAreOneLineErrorsBeforeSampling) {
  const std::string dir = sample_cli_temp_dir();
  make_directories(dir);
  std::ofstream(dir + "/a_file") << "x";
  const std::string model = nablagfn::test::data_path("sd_tiny");
  auto expect_error_line = [](const CommandResult& r, const std::string& needle) {
    EXPECT_EQ(r.exit_code, 1) << r.output;
    EXPECT_EQ(r.output.rfind("error: ", 0), 0u) << r.output;
    EXPECT_EQ(r.output.find('\n'), r.output.size() - 1) << r.output;
    EXPECT_NE(r.output.find(needle), std::string::npos) << r.output;
    EXPECT_EQ(r.output.find("please report it"), std::string::npos) << r.output;
  };
  // A file where the model folder is expected.
  expect_error_line(run_nablagfn("sample --model " + model + "/model_index.json --prompt cat --device cpu --out " +
                                 dir + "/g.png"),
                    "is a file, not a folder");
  // --out under a file: refused before the pipeline loads (no sampling progress printed).
  expect_error_line(run_nablagfn("sample --model " + model + " --prompt cat --device cpu --out " + dir +
                                 "/a_file/g.png"),
                    "'" + dir + "/a_file' is a file, not a folder");
  // An empty prompt names the flag, not the config key it maps to.
  CommandResult empty = run_nablagfn("sample --model " + model + " --prompt \"\" --device cpu --out " + dir + "/g.png");
  expect_error_line(empty, "--prompt is empty");
  EXPECT_EQ(empty.output.find("sample.prompts"), std::string::npos) << empty.output;
  // An image format the command cannot write.
  expect_error_line(run_nablagfn("sample --model " + model + " --prompt cat --device cpu --out " + dir + "/g.gif"),
                    "no .png, .jpg or .jpeg extension");
  remove_tree(dir);
}

TEST(SampleCLISmoke, JpegOutAndLongPromptWarning) {
  const std::string dir = sample_cli_temp_dir();
  std::string prompt;
  for (int i = 0; i < 90; ++i) prompt += "cat ";  // 90 word tokens + bos + eos
  CommandResult r = run_nablagfn("sample --model " + nablagfn::test::data_path("sd_tiny") + " --prompt \"" + prompt +
                                 "\" --n 1 --steps 1 --device cpu --out " + dir + "/grid.jpg");
  ASSERT_EQ(r.exit_code, 0) << r.output;
  EXPECT_NE(r.output.find("is 92 tokens; CLIP reads the first"), std::string::npos) << r.output;
  const std::string bytes = nablagfn::read_file(dir + "/grid.jpg");
  ASSERT_GE(bytes.size(), 4u);
  EXPECT_EQ(bytes.substr(0, 3), "\xff\xd8\xff");  // JPEG start-of-image marker
  EXPECT_EQ(bytes.substr(bytes.size() - 2), "\xff\xd9");  // end-of-image marker
  remove_tree(dir);
}
