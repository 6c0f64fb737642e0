#pragma once

// The HTML report: one self-contained file (styles, scripts, the chart library and the data are
// all inside it; it makes no network request and opens from disk). The page is built from the
// report model (study_report.h): the data travel as JSON in a <script type="application/json">
// block, and the page's script builds every element from them with textContent, never markup.

#include <string>
#include <string_view>

#include <nlohmann/json.hpp>

namespace uaqf::report {

std::string study_report_html(const nlohmann::json& report);

// Text for HTML element content and attribute values: & < > " ' as character references.
std::string html_escape(std::string_view text);

// JSON for a <script> block: `<`, `>` and `&` as \u escapes (so that "</script>" or "<!--" in
// any string cannot end or change the block), and U+2028/U+2029 too. Still valid JSON.
std::string json_for_script(const nlohmann::json& value);

}  // namespace uaqf::report
