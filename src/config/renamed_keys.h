#pragma once
// Config keys that moved into their component's own section (issue 10): the old flat names stay readable
// for a release, each use logging a one-line deprecation warning that names the new key.
#include <string>
#include <utility>
#include <vector>

namespace nablagfn {

// (old "group.key", new "group.section.key"), one line per renamed key.
const std::vector<std::pair<std::string, std::string>>& renamed_keys();

// key itself, or the new name of a renamed key (with a warning).
std::string current_key(const std::string& key);

}  // namespace nablagfn
