// Unicode helpers for the CLIP tokenizer; see unicode.h. The NFC algorithm follows UAX #15
// (decompose, reorder by combining class, compose with the blocking rule; Hangul syllables by arithmetic).
#include "text/unicode.h"

#include <algorithm>
#include <iterator>

#include "text/unicode_tables.h"

namespace nablagfn::unicode {

namespace unicode_detail {

constexpr char32_t kReplacement = 0xFFFD;
// Hangul syllable arithmetic (Unicode §3.12).
constexpr char32_t kSBase = 0xAC00, kLBase = 0x1100, kVBase = 0x1161, kTBase = 0x11A7;
constexpr char32_t kLCount = 19, kVCount = 21, kTCount = 28, kNCount = kVCount * kTCount, kSCount = kLCount * kNCount;

template <typename Range, size_t N>
const Range* find_range(const Range (&table)[N], char32_t cp) {
  auto it = std::upper_bound(std::begin(table), std::end(table), cp,
                             [](char32_t c, const Range& r) { return c < r.lo; });
  if (it == std::begin(table)) return nullptr;
  --it;
  return cp <= it->hi ? &*it : nullptr;
}

template <typename Entry, size_t N>
const Entry* find_cp(const Entry (&table)[N], char32_t cp) {
  auto it = std::lower_bound(std::begin(table), std::end(table), cp,
                             [](const Entry& e, char32_t c) { return e.cp < c; });
  return it != std::end(table) && it->cp == cp ? &*it : nullptr;
}

char32_t combining_class(char32_t cp) {
  const auto* r = find_range(unicode_tables::kCombiningClasses, cp);
  return r ? r->ccc : 0;
}

void decompose_into(char32_t cp, std::u32string& out) {
  if (cp >= kSBase && cp < kSBase + kSCount) {
    const char32_t s = cp - kSBase;
    out.push_back(kLBase + s / kNCount);
    out.push_back(kVBase + (s % kNCount) / kTCount);
    if (s % kTCount) out.push_back(kTBase + s % kTCount);
    return;
  }
  const auto* d = find_cp(unicode_tables::kDecompositions, cp);
  if (!d) {
    out.push_back(cp);
    return;
  }
  decompose_into(d->first, out);
  if (d->second) decompose_into(d->second, out);
}

// The primary composite of (a, b), or 0 if none.
char32_t compose_pair(char32_t a, char32_t b) {
  if (a >= kLBase && a < kLBase + kLCount && b >= kVBase && b < kVBase + kVCount)
    return kSBase + ((a - kLBase) * kVCount + (b - kVBase)) * kTCount;
  if (a >= kSBase && a < kSBase + kSCount && (a - kSBase) % kTCount == 0 && b > kTBase && b < kTBase + kTCount)
    return a + (b - kTBase);
  const auto& table = unicode_tables::kCompositions;
  auto it = std::lower_bound(std::begin(table), std::end(table), std::make_pair(a, b),
                             [](const unicode_tables::Composition& e, const std::pair<char32_t, char32_t>& k) {
                               return std::make_pair(e.first, e.second) < k;
                             });
  return it != std::end(table) && it->first == a && it->second == b ? it->cp : 0;
}

}  // namespace unicode_detail

std::u32string utf8_to_u32(const std::string& s) {
  std::u32string out;
  out.reserve(s.size());
  size_t i = 0;
  while (i < s.size()) {
    const unsigned char b0 = static_cast<unsigned char>(s[i]);
    int n = b0 < 0x80 ? 0 : (b0 >> 5) == 0x6 ? 1 : (b0 >> 4) == 0xE ? 2 : (b0 >> 3) == 0x1E ? 3 : -1;
    char32_t cp = n == 0 ? b0 : n == 1 ? (b0 & 0x1F) : n == 2 ? (b0 & 0x0F) : (b0 & 0x07);
    bool ok = n >= 0 && i + n < s.size() + (n == 0 ? 1 : 0);
    for (int k = 1; ok && k <= n; ++k) {
      const unsigned char b = static_cast<unsigned char>(s[i + k]);
      ok = (b >> 6) == 0x2;
      cp = (cp << 6) | (b & 0x3F);
    }
    // Reject overlong forms, surrogates and values past U+10FFFF.
    static const char32_t kMin[4] = {0, 0x80, 0x800, 0x10000};
    ok = ok && cp >= kMin[n] && cp <= 0x10FFFF && !(cp >= 0xD800 && cp <= 0xDFFF);
    out.push_back(ok ? cp : unicode_detail::kReplacement);
    i += ok ? n + 1 : 1;
  }
  return out;
}

void append_utf8(std::string& out, char32_t cp) {
  if (cp < 0x80) {
    out.push_back(static_cast<char>(cp));
  } else if (cp < 0x800) {
    out.push_back(static_cast<char>(0xC0 | (cp >> 6)));
    out.push_back(static_cast<char>(0x80 | (cp & 0x3F)));
  } else if (cp < 0x10000) {
    out.push_back(static_cast<char>(0xE0 | (cp >> 12)));
    out.push_back(static_cast<char>(0x80 | ((cp >> 6) & 0x3F)));
    out.push_back(static_cast<char>(0x80 | (cp & 0x3F)));
  } else {
    out.push_back(static_cast<char>(0xF0 | (cp >> 18)));
    out.push_back(static_cast<char>(0x80 | ((cp >> 12) & 0x3F)));
    out.push_back(static_cast<char>(0x80 | ((cp >> 6) & 0x3F)));
    out.push_back(static_cast<char>(0x80 | (cp & 0x3F)));
  }
}

std::string u32_to_utf8(const std::u32string& s) {
  std::string out;
  out.reserve(s.size());
  for (char32_t cp : s) append_utf8(out, cp);
  return out;
}

bool is_letter(char32_t cp) { return unicode_detail::find_range(unicode_tables::kLetterRanges, cp) != nullptr; }

bool is_number(char32_t cp) { return unicode_detail::find_range(unicode_tables::kNumberRanges, cp) != nullptr; }

bool is_whitespace(char32_t cp) {
  // PropList.txt White_Space (stable since Unicode 6.3).
  return (cp >= 0x09 && cp <= 0x0D) || cp == 0x20 || cp == 0x85 || cp == 0xA0 || cp == 0x1680 ||
         (cp >= 0x2000 && cp <= 0x200A) || cp == 0x2028 || cp == 0x2029 || cp == 0x202F || cp == 0x205F ||
         cp == 0x3000;
}

std::u32string to_lower(const std::u32string& s) {
  std::u32string out;
  out.reserve(s.size());
  for (char32_t cp : s) {
    if (cp < 0x80) {
      out.push_back(cp >= 'A' && cp <= 'Z' ? cp + 32 : cp);
    } else if (const auto* one = unicode_detail::find_cp(unicode_tables::kLowerSingle, cp)) {
      out.push_back(one->lower);
    } else if (const auto* many = unicode_detail::find_cp(unicode_tables::kLowerMulti, cp)) {
      for (char32_t c : many->lower)
        if (c) out.push_back(c);
    } else {
      out.push_back(cp);
    }
  }
  return out;
}

std::u32string nfc(const std::u32string& s) {
  using unicode_detail::combining_class;
  std::u32string d;
  d.reserve(s.size());
  for (char32_t cp : s) unicode_detail::decompose_into(cp, d);
  // Canonical ordering: each run of non-starters stably sorted by combining class.
  for (size_t i = 0; i < d.size();) {
    if (combining_class(d[i]) == 0) {
      ++i;
      continue;
    }
    size_t j = i;
    while (j < d.size() && combining_class(d[j]) != 0) ++j;
    std::stable_sort(d.begin() + i, d.begin() + j,
                     [](char32_t a, char32_t b) { return combining_class(a) < combining_class(b); });
    i = j;
  }
  // Composition: a character joins the last starter unless a character of equal or higher class
  // (or a starter) stands between them.
  std::u32string out;
  out.reserve(d.size());
  size_t starter = std::u32string::npos;
  char32_t last_class = 0;
  for (char32_t cp : d) {
    const char32_t ccc = combining_class(cp);
    if (starter != std::u32string::npos && (out.size() == starter + 1 || last_class < ccc)) {
      if (char32_t c = unicode_detail::compose_pair(out[starter], cp)) {
        out[starter] = c;
        continue;
      }
    }
    if (ccc == 0) starter = out.size();
    last_class = ccc;
    out.push_back(cp);
  }
  return out;
}

}  // namespace nablagfn::unicode
