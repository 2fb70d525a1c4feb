#pragma once
// Base64 (RFC 4648 §4, with '=' padding), for data: URIs in reports.
#include <string>

namespace nablagfn {

std::string base64_encode(const std::string& bytes);

}  // namespace nablagfn
