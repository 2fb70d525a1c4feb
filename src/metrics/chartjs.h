#pragma once
// The Chart.js 4.4.9 UMD bundle (third_party/chartjs), embedded at build time, for self-contained reports.

namespace nablagfn {

const char* chartjs_source();

}  // namespace nablagfn
