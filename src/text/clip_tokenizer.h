#pragma once
// CLIP's byte-level BPE tokenizer, as Stable Diffusion's tokenizer/ folder defines it.
// Port of the `tokenizers` CLIP pipeline that transformers' CLIPTokenizer(Fast) builds
// (transformers convert_slow_tokenizer.py `CLIPConverter`, tokenization_clip.py, v4.4x / v5):
//  - normalise: NFC, every whitespace run -> one space, lower-case;
//  - `<|startoftext|>` / `<|endoftext|>` in the text become the special ids;
//  - split with 's|'t|'re|'ve|'m|'ll|'d|[\p{L}]+|[\p{N}]|[^\s\p{L}\p{N}]+ (the gaps are dropped);
//  - bytes -> GPT-2's printable byte alphabet, BPE by merge rank with `</w>` on each word's last symbol;
//  - bos + ids + eos, then truncation to max_length keeping eos, padding with pad_id.
// What changed: no ftfy / HTML unescaping (the slow tokenizer's optional ftfy pass; the fast one and
// SD's training pipelines have none), no word cache, no offsets.
#include <cstdint>
#include <optional>
#include <string>
#include <unordered_map>
#include <vector>

#include <ATen/core/Tensor.h>

namespace nablagfn {

struct CLIPTokenizerOptions {
  // Sequence length of encode_padded / encode_batch (CLIP's context length).
  int64_t max_length = 77;
  // Padding id: SD-1.x pads with <|endoftext|> (49407), SD-2 and open_clip with 0. Unset: the folder's
  // tokenizer_config.json / special_tokens_map.json pad_token, else <|endoftext|>.
  std::optional<int64_t> pad_id;
};

class CLIPTokenizer {
 public:
  // vocab: token -> id (vocab.json); merges: pairs in rank order (merges.txt without its header).
  CLIPTokenizer(std::unordered_map<std::string, int64_t> vocab,
                const std::vector<std::pair<std::string, std::string>>& merges, CLIPTokenizerOptions options = {});

  // vocab.json + merges.txt; Error with a hint if a file is missing or malformed.
  static CLIPTokenizer from_files(const std::string& vocab_path, const std::string& merges_path,
                                  CLIPTokenizerOptions options = {});
  // A diffusers tokenizer/ folder: vocab.json, merges.txt, and the pad_token of tokenizer_config.json or
  // special_tokens_map.json when present and options.pad_id is unset.
  static CLIPTokenizer from_folder(const std::string& folder, CLIPTokenizerOptions options = {});

  // Word-piece ids of the text, without bos/eos, untruncated.
  std::vector<int64_t> tokenize(const std::string& text) const;
  // bos + tokenize(text) + eos, untruncated.
  std::vector<int64_t> encode(const std::string& text) const;
  // encode(text) truncated to max_length (last id kept eos) and padded with pad_id to max_length.
  std::vector<int64_t> encode_padded(const std::string& text) const;
  // encode_padded of each prompt -> [B, max_length] int64 on the CPU.
  at::Tensor encode_batch(const std::vector<std::string>& texts) const;

  int64_t bos_id() const { return bos_id_; }
  int64_t eos_id() const { return eos_id_; }
  int64_t pad_id() const { return pad_id_; }
  int64_t max_length() const { return max_length_; }

 private:
  // BPE of one pre-token (already in the byte alphabet), appending ids to out.
  void bpe(const std::string& word, std::vector<int64_t>& out) const;
  int64_t token_id(const std::string& token) const;

  std::unordered_map<std::string, int64_t> vocab_;
  std::unordered_map<std::string, int64_t> merge_rank_;  // "a b" -> rank
  std::vector<std::string> byte_alphabet_;               // byte -> its printable UTF-8 stand-in
  int64_t bos_id_, eos_id_, pad_id_, max_length_;
};

}  // namespace nablagfn
