// CLIP BPE tokenizer; see clip_tokenizer.h for the reference and what changed.
#include "text/clip_tokenizer.h"

#include <algorithm>
#include <filesystem>
#include <limits>
#include <sstream>

#include <nlohmann/json.hpp>
#include <torch/torch.h>

#include "core/error.h"
#include "io/atomic_file.h"
#include "text/unicode.h"

namespace nablagfn {

namespace clip_tokenizer_detail {

const char* const kBos = "<|startoftext|>";
const char* const kEos = "<|endoftext|>";
const char* const kEndOfWord = "</w>";

// GPT-2's bytes_to_unicode: printable Latin-1 bytes stand for themselves, the other 68 bytes for
// U+0100 onwards, so that every byte string is a string of visible characters.
std::vector<std::string> make_byte_alphabet() {
  std::vector<std::string> alphabet(256);
  char32_t next = 256;
  for (int b = 0; b < 256; ++b) {
    const bool printable = (b >= '!' && b <= '~') || (b >= 0xA1 && b <= 0xAC) || (b >= 0xAE && b <= 0xFF);
    unicode::append_utf8(alphabet[b], printable ? static_cast<char32_t>(b) : next++);
  }
  return alphabet;
}

// CLIP's pre-tokenizer regex 's|'t|'re|'ve|'m|'ll|'d|[\p{L}]+|[\p{N}]|[^\s\p{L}\p{N}]+ on a
// normalised (lower-case, single-space) segment; text between matches is dropped.
std::vector<std::u32string> split_words(const std::u32string& s) {
  std::vector<std::u32string> words;
  size_t i = 0;
  auto at = [&](size_t k) { return k < s.size() ? s[k] : U'\0'; };
  while (i < s.size()) {
    const char32_t c = s[i];
    size_t n = 0;
    if (c == U'\'') {
      const char32_t c1 = at(i + 1), c2 = at(i + 2);
      if (c1 == U's' || c1 == U't' || c1 == U'm' || c1 == U'd') n = 2;
      else if ((c1 == U'r' && c2 == U'e') || (c1 == U'v' && c2 == U'e') || (c1 == U'l' && c2 == U'l')) n = 3;
    }
    if (n == 0 && unicode::is_letter(c)) {
      while (i + n < s.size() && unicode::is_letter(s[i + n])) ++n;
    } else if (n == 0 && unicode::is_number(c)) {
      n = 1;
    } else if (n == 0 && !unicode::is_whitespace(c)) {
      auto other = [](char32_t x) {
        return !unicode::is_whitespace(x) && !unicode::is_letter(x) && !unicode::is_number(x);
      };
      while (i + n < s.size() && other(s[i + n])) ++n;
    }
    if (n == 0) {
      ++i;  // whitespace: not part of any match
      continue;
    }
    words.push_back(s.substr(i, n));
    i += n;
  }
  return words;
}

// NFC, each whitespace run -> " ", lower-case (the tokenizers normalizer sequence CLIP uses).
std::u32string normalize(const std::string& text) {
  std::u32string s = unicode::nfc(unicode::utf8_to_u32(text));
  std::u32string collapsed;
  collapsed.reserve(s.size());
  for (char32_t c : s) {
    if (!unicode::is_whitespace(c)) collapsed.push_back(c);
    else if (collapsed.empty() || collapsed.back() != U' ') collapsed.push_back(U' ');
  }
  return unicode::to_lower(collapsed);
}

// Reads vocab.json's {"token": id, ...} without building a JSON tree of 49408 entries (load time).
struct VocabReader : nlohmann::json_sax<nlohmann::json> {
  explicit VocabReader(std::unordered_map<std::string, int64_t>& v) : vocab(v) { vocab.reserve(1 << 16); }

  std::unordered_map<std::string, int64_t>& vocab;
  std::string token;
  int depth = 0;
  std::string error;

  bool fail(const std::string& what) {
    error = what;
    return false;
  }
  bool null() override { return fail("null value"); }
  bool boolean(bool) override { return fail("boolean value"); }
  bool number_integer(number_integer_t v) override {
    return number_unsigned(v < 0 ? ~0ull : static_cast<number_unsigned_t>(v));
  }
  bool number_unsigned(number_unsigned_t v) override {
    if (depth != 1 || v > (1ull << 40)) return fail("bad id for '" + token + "'");
    vocab.emplace(std::move(token), static_cast<int64_t>(v));
    return true;
  }
  bool number_float(number_float_t, const string_t&) override { return fail("non-integer id"); }
  bool string(string_t&) override { return fail("string value"); }
  bool binary(binary_t&) override { return fail("binary value"); }
  bool start_object(std::size_t) override { return ++depth == 1 || fail("nested object"); }
  bool key(string_t& k) override {
    token = std::move(k);
    return true;
  }
  bool end_object() override { return --depth == 0 || fail("unbalanced object"); }
  bool start_array(std::size_t) override { return fail("array value"); }
  bool end_array() override { return fail("array value"); }
  bool parse_error(std::size_t position, const std::string&, const nlohmann::detail::exception& e) override {
    return fail(e.what());
  }
};

// The pad_token of a tokenizer_config.json / special_tokens_map.json ("" if absent).
std::string pad_token_of(const nlohmann::json& j, const std::string& source) {
  if (!j.contains("pad_token") || j.at("pad_token").is_null()) return "";
  const auto& p = j.at("pad_token");
  if (p.is_string()) return p.get<std::string>();
  if (p.is_object() && p.contains("content") && p.at("content").is_string()) return p.at("content").get<std::string>();
  throw Error("'" + source + "': pad_token is neither a string nor {\"content\": ...}", "fix or remove the file");
}

}  // namespace clip_tokenizer_detail

CLIPTokenizer::CLIPTokenizer(std::unordered_map<std::string, int64_t> vocab,
                             const std::vector<std::pair<std::string, std::string>>& merges,
                             CLIPTokenizerOptions options)
    : vocab_(std::move(vocab)), byte_alphabet_(clip_tokenizer_detail::make_byte_alphabet()) {
  using namespace clip_tokenizer_detail;
  merge_rank_.reserve(merges.size());
  for (size_t r = 0; r < merges.size(); ++r) merge_rank_.emplace(merges[r].first + " " + merges[r].second, r);
  require(vocab_.count(kBos) && vocab_.count(kEos), "the CLIP vocabulary has no <|startoftext|> / <|endoftext|>",
          "use the vocab.json of a CLIP tokenizer");
  require(options.max_length >= 2, "tokenizer max_length must be at least 2 (bos and eos)", "set max_length = 77");
  bos_id_ = vocab_.at(kBos);
  eos_id_ = vocab_.at(kEos);
  pad_id_ = options.pad_id.value_or(eos_id_);
  max_length_ = options.max_length;
}

CLIPTokenizer CLIPTokenizer::from_files(const std::string& vocab_path, const std::string& merges_path,
                                        CLIPTokenizerOptions options) {
  std::unordered_map<std::string, int64_t> vocab;
  clip_tokenizer_detail::VocabReader reader(vocab);
  if (!nlohmann::json::sax_parse(read_file(vocab_path), &reader) || !reader.error.empty())
    throw Error("'" + vocab_path + "' is not a token -> id JSON object" +
                    (reader.error.empty() ? std::string() : ": " + reader.error),
                "use the vocab.json of a CLIP tokenizer");
  std::vector<std::pair<std::string, std::string>> merges;
  merges.reserve(1 << 16);
  std::istringstream lines(read_file(merges_path));
  std::string line;
  while (std::getline(lines, line)) {
    if (!line.empty() && line.back() == '\r') line.pop_back();
    if (line.empty() || line.rfind("#version", 0) == 0) continue;
    const size_t space = line.find(' ');
    require(space != std::string::npos && space > 0 && space + 1 < line.size(),
            "'" + merges_path + "': malformed merge line '" + line + "'", "use the merges.txt of a CLIP tokenizer");
    merges.emplace_back(line.substr(0, space), line.substr(space + 1));
  }
  require(!merges.empty(), "'" + merges_path + "' has no merges", "use the merges.txt of a CLIP tokenizer");
  return CLIPTokenizer(std::move(vocab), merges, options);
}

CLIPTokenizer CLIPTokenizer::from_folder(const std::string& folder, CLIPTokenizerOptions options) {
  namespace fs = std::filesystem;
  const fs::path dir(folder);
  for (const char* name : {"vocab.json", "merges.txt"})
    require(fs::exists(dir / name), "tokenizer folder '" + folder + "' has no " + name,
            "point at a diffusers model's tokenizer/ folder (vocab.json + merges.txt)");
  CLIPTokenizer tok = from_files((dir / "vocab.json").string(), (dir / "merges.txt").string(), options);
  if (options.pad_id) return tok;
  for (const char* name : {"tokenizer_config.json", "special_tokens_map.json"}) {
    const fs::path path = dir / name;
    if (!fs::exists(path)) continue;
    nlohmann::json j;
    try {
      j = nlohmann::json::parse(read_file(path.string()));
    } catch (const nlohmann::json::exception& e) {
      throw Error("'" + path.string() + "' is not valid JSON: " + e.what(), "fix or remove the file");
    }
    const std::string pad = clip_tokenizer_detail::pad_token_of(j, path.string());
    if (pad.empty()) continue;
    auto it = tok.vocab_.find(pad);
    require(it != tok.vocab_.end(), "'" + path.string() + "': pad_token '" + pad + "' is not in vocab.json",
            "the tokenizer files do not belong together");
    tok.pad_id_ = it->second;
    break;
  }
  return tok;
}

int64_t CLIPTokenizer::token_id(const std::string& token) const {
  auto it = vocab_.find(token);
  return it != vocab_.end() ? it->second : eos_id_;  // unk_token is <|endoftext|>
}

void CLIPTokenizer::bpe(const std::string& word, std::vector<int64_t>& out) const {
  // Symbols: the word's characters (UTF-8 sequences), the last one carrying the end-of-word mark.
  std::vector<std::string> symbols;
  for (size_t i = 0; i < word.size();) {
    size_t n = 1;
    while (i + n < word.size() && (static_cast<unsigned char>(word[i + n]) & 0xC0) == 0x80) ++n;
    symbols.push_back(word.substr(i, n));
    i += n;
  }
  symbols.back() += clip_tokenizer_detail::kEndOfWord;
  // Repeatedly merge the pair of lowest rank, every occurrence left to right.
  while (symbols.size() > 1) {
    int64_t best = std::numeric_limits<int64_t>::max();
    std::string best_pair;
    for (size_t i = 0; i + 1 < symbols.size(); ++i) {
      auto it = merge_rank_.find(symbols[i] + " " + symbols[i + 1]);
      if (it != merge_rank_.end() && it->second < best) {
        best = it->second;
        best_pair = it->first;
      }
    }
    if (best_pair.empty()) break;
    std::vector<std::string> merged;
    merged.reserve(symbols.size());
    for (size_t i = 0; i < symbols.size(); ++i) {
      if (i + 1 < symbols.size() && symbols[i] + " " + symbols[i + 1] == best_pair) {
        merged.push_back(symbols[i] + symbols[i + 1]);
        ++i;
      } else {
        merged.push_back(symbols[i]);
      }
    }
    symbols = std::move(merged);
  }
  for (const auto& s : symbols) out.push_back(token_id(s));
}

std::vector<int64_t> CLIPTokenizer::tokenize(const std::string& text) const {
  using namespace clip_tokenizer_detail;
  const std::u32string s = normalize(text);
  const std::u32string specials[2] = {unicode::utf8_to_u32(kBos), unicode::utf8_to_u32(kEos)};
  std::vector<int64_t> ids;
  // Special tokens are cut out first, so that a pre-token never spans one.
  size_t pos = 0;
  while (pos <= s.size()) {
    size_t next = std::u32string::npos, which = 0;
    for (size_t k = 0; k < 2; ++k) {
      const size_t f = s.find(specials[k], pos);
      if (f < next) next = f, which = k;
    }
    const size_t end = next == std::u32string::npos ? s.size() : next;
    for (const auto& w : split_words(s.substr(pos, end - pos))) {
      std::string bytes = unicode::u32_to_utf8(w), mapped;
      for (unsigned char b : bytes) mapped += byte_alphabet_[b];
      bpe(mapped, ids);
    }
    if (next == std::u32string::npos) break;
    ids.push_back(which == 0 ? bos_id_ : eos_id_);
    pos = next + specials[which].size();
  }
  return ids;
}

std::vector<int64_t> CLIPTokenizer::encode(const std::string& text) const {
  std::vector<int64_t> ids{bos_id_};
  for (int64_t id : tokenize(text)) ids.push_back(id);
  ids.push_back(eos_id_);
  return ids;
}

std::vector<int64_t> CLIPTokenizer::encode_padded(const std::string& text) const {
  std::vector<int64_t> ids = encode(text);
  if (static_cast<int64_t>(ids.size()) > max_length_) {
    ids.resize(max_length_);
    ids.back() = eos_id_;
  }
  ids.resize(max_length_, pad_id_);
  return ids;
}

at::Tensor CLIPTokenizer::encode_batch(const std::vector<std::string>& texts) const {
  const int64_t B = static_cast<int64_t>(texts.size());
  at::Tensor out = torch::empty({B, max_length_}, torch::kLong);  // [B, L]
  auto acc = out.accessor<int64_t, 2>();
  for (int64_t b = 0; b < B; ++b) {
    std::vector<int64_t> ids = encode_padded(texts[b]);
    for (int64_t l = 0; l < max_length_; ++l) acc[b][l] = ids[l];
  }
  return out;
}

}  // namespace nablagfn
