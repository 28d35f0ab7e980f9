#include "cli/table.hpp"

#include <algorithm>

#include "palettize/error.hpp"

namespace palettize::cli {

void Table::add_row(std::vector<std::string> cells) {
  check(cells.size() == columns_.size(), "internal: table row has ", cells.size(), " cells for ", columns_.size(),
        " columns");
  rows_.push_back(std::move(cells));
}

void Table::add_rule() { rows_.emplace_back(); }

void Table::print(std::ostream& out) const {
  std::vector<std::size_t> widths;
  for (const Column& column : columns_) widths.push_back(column.header.size());
  for (const auto& row : rows_) {
    for (std::size_t i = 0; i < row.size(); ++i) widths[i] = std::max(widths[i], row[i].size());
  }
  auto print_cells = [&](const std::vector<std::string>& cells) {
    std::string line;
    for (std::size_t i = 0; i < cells.size(); ++i) {
      const std::string padding(widths[i] - cells[i].size(), ' ');
      if (i > 0) line += "  ";
      line += columns_[i].align == Align::right ? padding + cells[i] : cells[i] + padding;
    }
    while (!line.empty() && line.back() == ' ') line.pop_back();
    out << line << "\n";
  };
  std::vector<std::string> headers;
  for (const Column& column : columns_) headers.push_back(column.header);
  print_cells(headers);
  std::size_t total_width = 0;
  for (std::size_t width : widths) total_width += width;
  total_width += 2 * (widths.size() - 1);
  const std::string rule(total_width, '-');
  out << rule << "\n";
  for (const auto& row : rows_) {
    if (row.empty()) {
      out << rule << "\n";
    } else {
      print_cells(row);
    }
  }
}

}  // namespace palettize::cli
