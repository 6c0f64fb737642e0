#pragma once

#include <iosfwd>
#include <string>
#include <vector>

namespace uaqf::report {

// Aligned plain-text table; the first row is the header, underlined. The first
// `n_text_columns` columns are left-aligned, the rest (numbers) right-aligned.
void print_text_table(std::ostream& out, const std::vector<std::vector<std::string>>& rows, std::size_t n_text_columns);

// One CSV field: quoted (with doubled quotes) when it holds a comma, quote, CR or LF. Text that
// begins with =, +, -, @, tab or CR and is not a number gets a leading ' (formula injection, OWASP).
std::string csv_field(const std::string& text);

}  // namespace uaqf::report
