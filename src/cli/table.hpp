#pragma once
// private: include only from src/ and tests/
// A plain-text table with aligned columns, for the summaries the commands print on stdout.
#include <ostream>
#include <string>
#include <vector>

namespace palettize::cli {

class Table {
 public:
  enum class Align { left, right };
  struct Column {
    std::string header;
    Align align = Align::left;
  };

  explicit Table(std::vector<Column> columns) : columns_(std::move(columns)) {}
  void add_row(std::vector<std::string> cells);  // one cell per column
  void add_rule();                               // a horizontal line before the next row
  void print(std::ostream& out) const;
  bool empty() const { return rows_.empty(); }

 private:
  std::vector<Column> columns_;
  std::vector<std::vector<std::string>> rows_;  // an empty row is a rule
};

}  // namespace palettize::cli
