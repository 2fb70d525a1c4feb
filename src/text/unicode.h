#pragma once
// The few Unicode operations the CLIP tokenizer needs, on tables generated from Python's unicodedata
// (text/unicode_tables.h): UTF-8 conversion, \p{L} / \p{N} / White_Space classes, per-character
// lower-casing, and NFC normalisation (canonical decomposition, canonical ordering, composition,
// Hangul included), as the `tokenizers` NFC and Lowercase normalizers do.
#include <string>

namespace nablagfn::unicode {

// Strict UTF-8 decoding; invalid bytes decode as U+FFFD (as Python's errors="replace").
std::u32string utf8_to_u32(const std::string& s);
std::string u32_to_utf8(const std::u32string& s);
void append_utf8(std::string& out, char32_t cp);

bool is_letter(char32_t cp);      // \p{L}
bool is_number(char32_t cp);      // \p{N}
bool is_whitespace(char32_t cp);  // the White_Space property (\s of Unicode regex engines)

// Each character lower-cased on its own (no final-sigma context), as tokenizers' Lowercase.
std::u32string to_lower(const std::u32string& s);
// Unicode Normalization Form C.
std::u32string nfc(const std::u32string& s);

}  // namespace nablagfn::unicode
