#pragma once
// Our own 5x9 bitmap font for plot text: printable ASCII plus the few symbols plot labels use
// (∇ α β ε η λ μ σ τ ± × · →). Drawn for this project, no third-party font data. Each glyph is 5 columns
// by 9 rows: rows 0-6 hold capitals and digits (the baseline is under row 6), rows 7-8 descenders.
// Text is UTF-8; a code point without a glyph is drawn as an empty box.
#include <string>
#include <vector>

namespace nablagfn {

constexpr int kGlyphWidth = 5;
constexpr int kGlyphHeight = 9;
constexpr int kGlyphCapHeight = 7;
constexpr int kGlyphAdvance = kGlyphWidth + 1;  // one column between letters

// The glyph of code_point as kGlyphHeight rows of kGlyphWidth chars, '#' = ink; nullptr if the font
// lacks it.
const char* const* find_glyph(char32_t code_point);
// The glyph drawn for code_point: find_glyph's, or the empty box.
const char* const* glyph_or_box(char32_t code_point);
// Every code point with a glyph, in table order.
std::vector<char32_t> font_code_points();

// UTF-8 -> code points; a malformed byte becomes U+FFFD (drawn as the box).
std::u32string decode_utf8(const std::string& text);
// Width in pixels of text drawn at integer scale (no trailing letter gap).
int text_width(const std::string& text, int scale);

}  // namespace nablagfn
