#include "report/table.h"

#include <algorithm>
#include <charconv>
#include <ostream>
#include <string_view>

#include <fmt/format.h>

namespace uaqf::report {
namespace {

// Display width: UTF-8 continuation bytes take no column (for "±", "Δ", "–").
std::size_t display_width(const std::string& text) {
  return static_cast<std::size_t>(
      std::count_if(text.begin(), text.end(), [](char c) { return (static_cast<unsigned char>(c) & 0xC0) != 0x80; }));
}

}  // namespace

void print_text_table(std::ostream& out, const std::vector<std::vector<std::string>>& rows,
                      std::size_t n_text_columns) {
  std::vector<std::size_t> widths;
  for (const auto& row : rows) {
    widths.resize(std::max(widths.size(), row.size()));
    for (std::size_t i = 0; i < row.size(); ++i) {
      widths[i] = std::max(widths[i], display_width(row[i]));
    }
  }
  for (std::size_t r = 0; r < rows.size(); ++r) {
    std::string line;
    for (std::size_t i = 0; i < rows[r].size(); ++i) {
      const std::string& cell = rows[r][i];
      const std::string pad(widths[i] - display_width(cell), ' ');
      line += i < n_text_columns ? cell + pad : pad + cell;
      if (i + 1 < rows[r].size()) {
        line += "  ";
      }
    }
    out << line << '\n';
    if (r == 0) {
      std::size_t total = 0;
      for (auto w : widths) {
        total += w + 2;
      }
      out << std::string(total >= 2 ? total - 2 : 0, '-') << '\n';
    }
  }
}

namespace {

// The whole text is one number as uaqf writes them ("-1.5", "2e-05", "-inf"): never a formula.
bool is_number(const std::string& text) {
  double value = 0;
  const auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
  return ec == std::errc() && end == text.data() + text.size();
}

}  // namespace

std::string csv_field(const std::string& text) {
  std::string cell = text;
  // OWASP's CSV-injection advice: a cell that a spreadsheet would read as a formula gets a leading
  // single quote. Numbers (-1.5) stay numbers, so that the file still reads back as data.
  if (!cell.empty() && std::string_view("=+-@\t\r").find(cell.front()) != std::string_view::npos && !is_number(cell)) {
    cell.insert(cell.begin(), '\'');
  }
  if (cell.find_first_of(",\"\r\n") == std::string::npos) return cell;
  std::string quoted = "\"";
  for (char c : cell) {
    if (c == '"') quoted += '"';
    quoted += c;
  }
  return quoted + '"';
}

}  // namespace uaqf::report
