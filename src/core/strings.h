#pragma once
// Small string helpers shared by config parsing, registries and the CLI.
#include <string>
#include <vector>

namespace nablagfn {

// Levenshtein distance between a and b.
int edit_distance(const std::string& a, const std::string& b);
// Up to n candidates closest to name (by edit distance, then alphabetically); empty candidates -> empty.
std::vector<std::string> closest_matches(const std::string& name, const std::vector<std::string>& candidates,
                                         size_t n = 3);
std::string join(const std::vector<std::string>& parts, const std::string& sep);
std::vector<std::string> split(const std::string& s, char sep);

}  // namespace nablagfn
