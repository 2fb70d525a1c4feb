// CLIP tokenizer: the 21 fixture prompts (ids from transformers' CLIPTokenizer), padding / truncation,
// special tokens, loading errors, and the Unicode helpers behind the normaliser.
#include <filesystem>
#include <fstream>

#include <unistd.h>

#include <nlohmann/json.hpp>
#include <torch/torch.h>

#include "core/error.h"
#include "io/atomic_file.h"
#include "test_util.h"
#include "text/clip_tokenizer.h"
#include "text/unicode.h"

namespace nablagfn {
namespace {

const CLIPTokenizer& fixture_tokenizer() {
  static const CLIPTokenizer tok = CLIPTokenizer::from_folder(test::data_path("clip_tokenizer"));
  return tok;
}

TEST(CLIPTokenizer, MatchesTransformersOnAllFixturePrompts) {
  const auto cases = nlohmann::json::parse(read_file(test::data_path("clip_tokenizer/expected.json"))).at("cases");
  ASSERT_EQ(cases.size(), 21u);
  for (const auto& c : cases) {
    const std::string prompt = c.at("prompt").get<std::string>();
    EXPECT_EQ(fixture_tokenizer().encode(prompt), c.at("input_ids").get<std::vector<int64_t>>()) << prompt;
    EXPECT_EQ(fixture_tokenizer().encode_padded(prompt), c.at("input_ids_padded77").get<std::vector<int64_t>>())
        << prompt;
  }
}

TEST(CLIPTokenizer, TruncationKeepsEosAndPaddingUsesPadId) {
  std::string long_prompt;
  for (int i = 0; i < 100; ++i) long_prompt += "cat ";
  std::vector<int64_t> ids = fixture_tokenizer().encode_padded(long_prompt);
  ASSERT_EQ(ids.size(), 77u);
  EXPECT_EQ(ids.front(), 49406);
  EXPECT_EQ(ids[75], 2368);
  EXPECT_EQ(ids.back(), 49407);

  CLIPTokenizerOptions zero_pad;
  zero_pad.pad_id = 0;
  CLIPTokenizer open_clip_style = CLIPTokenizer::from_folder(test::data_path("clip_tokenizer"), zero_pad);
  ids = open_clip_style.encode_padded("a cat");
  EXPECT_EQ((std::vector<int64_t>(ids.begin(), ids.begin() + 5)), (std::vector<int64_t>{49406, 320, 2368, 49407, 0}));
  EXPECT_EQ(ids.back(), 0);
}

TEST(CLIPTokenizer, EncodeBatchShape) {
  at::Tensor ids = fixture_tokenizer().encode_batch({"a photo of a cat", "", "cat"});
  EXPECT_EQ(ids.sizes(), (std::vector<int64_t>{3, 77}));
  EXPECT_EQ(ids.scalar_type(), torch::kLong);
  EXPECT_EQ(ids[2][1].item<int64_t>(), 2368);
  EXPECT_EQ(ids[1][1].item<int64_t>(), 49407);
}

// Special tokens are cut out before the pre-tokenizer (a punctuation run never swallows one) and match
// after lower-casing, as in the slow tokenizer's regex.
TEST(CLIPTokenizer, SpecialTokensInsideText) {
  const CLIPTokenizer& tok = fixture_tokenizer();
  std::vector<int64_t> bang = tok.tokenize("!!");
  std::vector<int64_t> expected = bang;
  expected.push_back(49407);
  expected.push_back(2368);
  EXPECT_EQ(tok.tokenize("!!<|endoftext|>cat"), expected);
  EXPECT_EQ(tok.tokenize("<|EndOfText|>"), (std::vector<int64_t>{49407}));
}

// NFC: a decomposed accent tokenizes like the precomposed character; whitespace of any kind collapses.
TEST(CLIPTokenizer, NormalizesUnicode) {
  const CLIPTokenizer& tok = fixture_tokenizer();
  EXPECT_EQ(tok.encode("cafe\xCC\x81"), tok.encode("caf\xC3\xA9"));
  EXPECT_EQ(tok.encode("CAF\xC3\x89"), tok.encode("caf\xC3\xA9"));
  EXPECT_EQ(tok.encode("a\xE3\x80\x80\xC2\xA0 cat"), tok.encode("a cat"));  // ideographic + no-break space
}

TEST(CLIPTokenizer, FolderPadTokenAndMissingFiles) {
  namespace fs = std::filesystem;
  const fs::path dir = fs::temp_directory_path() / ("nablagfn_clip_tokenizer_" + std::to_string(::getpid()));
  fs::create_directories(dir);
  EXPECT_THROW(CLIPTokenizer::from_folder(dir.string()), Error);
  fs::create_symlink(test::data_path("clip_tokenizer/vocab.json"), dir / "vocab.json");
  try {
    CLIPTokenizer::from_folder(dir.string());
    ADD_FAILURE() << "expected an error for the missing merges.txt";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("merges.txt"), std::string::npos) << e.what();
  }
  fs::create_symlink(test::data_path("clip_tokenizer/merges.txt"), dir / "merges.txt");
  std::ofstream(dir / "special_tokens_map.json") << R"({"pad_token": {"content": "!", "lstrip": false}})";
  EXPECT_EQ(CLIPTokenizer::from_folder(dir.string()).pad_id(), 0);  // SD-2's tokenizer pads with "!"
  // Entry by entry: fs::remove_all crashes when pip libtorch's exported std::filesystem symbols win.
  for (const char* name : {"vocab.json", "merges.txt", "special_tokens_map.json", ""}) fs::remove(dir / name);
}

TEST(CLIPTokenizerUnicode, Helpers) {
  using unicode::utf8_to_u32;
  EXPECT_EQ(unicode::to_lower(U"\u0130A\u03A3\u00C9"), std::u32string(U"i\u0307a\u03C3\u00E9"));
  EXPECT_EQ(unicode::nfc(U"e\u0301"), std::u32string(U"\u00E9"));
  EXPECT_EQ(unicode::nfc(U"\u1100\u1161\u11A8"), std::u32string(U"\uAC01"));  // Hangul L V T
  EXPECT_EQ(unicode::nfc(U"a\u0323\u0302"), unicode::nfc(U"a\u0302\u0323"));    // canonical reordering
  EXPECT_EQ(unicode::nfc(U"\u212B"), std::u32string(U"\u00C5"));                // singleton (Angstrom sign)
  EXPECT_EQ(utf8_to_u32("a\xFF" "b"), std::u32string(U"a\uFFFDb"));
  EXPECT_EQ(utf8_to_u32("\xC0\x80"), std::u32string(U"\uFFFD\uFFFD"));  // overlong NUL
  EXPECT_EQ(unicode::u32_to_utf8(U"\U0001F431\u00E9"), std::string("\xF0\x9F\x90\xB1\xC3\xA9"));
  EXPECT_TRUE(unicode::is_letter(U'\u65E5'));
  EXPECT_FALSE(unicode::is_letter(U'\U0001F431'));
  EXPECT_TRUE(unicode::is_number(U'\u0663'));
  EXPECT_TRUE(unicode::is_whitespace(U'\u3000'));
}

}  // namespace
}  // namespace nablagfn
