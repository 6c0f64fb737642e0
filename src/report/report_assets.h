#pragma once

// Files inlined into the uaqf binary at build time (cmake/embed_report_assets.cmake writes their
// definitions): the HTML report's template, styles and script (assets/report/) and the chart
// library fetched by scripts/fetch-report-assets.sh (third_party/report-assets/).

#include <string_view>

namespace uaqf::report::assets {

std::string_view report_template();  // assets/report/report.html
std::string_view report_css();       // assets/report/report.css
std::string_view report_js();        // assets/report/report.js
std::string_view chart_js();         // Chart.js, UMD build
std::string_view chart_js_license();
std::string_view error_bars_js();  // chartjs-chart-error-bars, UMD build
std::string_view error_bars_license();
std::string_view versions();  // "name version" per line, as fetched

}  // namespace uaqf::report::assets
