// results.md + charts -> report.html (see report_page.h).
#include "examples/trust_clipping_study/report_page.h"

#include <sstream>

#include "examples/train/svg_chart.h"

namespace tg::study {

namespace {

// "| a | b |" -> {"a", "b"}
std::vector<std::string> table_cells(const std::string& line) {
  std::vector<std::string> cells;
  std::string cur;
  for (size_t i = 1; i < line.size(); ++i) {
    if (line[i] == '|') {
      const size_t b = cur.find_first_not_of(' '), e = cur.find_last_not_of(' ');
      cells.push_back(b == std::string::npos ? "" : cur.substr(b, e - b + 1));
      cur.clear();
    } else {
      cur += line[i];
    }
  }
  return cells;
}

bool is_separator_row(const std::string& line) { return line.find_first_not_of("|-: ") == std::string::npos; }

}  // namespace

std::string render_report_page(const std::string& markdown, const std::vector<std::string>& svgs) {
  std::ostringstream o;
  o << "<!DOCTYPE html>\n<html><head><meta charset=\"utf-8\"><title>Trust-ratio clipping study</title>\n<style>"
       "body{font-family:sans-serif;max-width:1100px;margin:2em auto;padding:0 1em;color:#222}"
       "table{border-collapse:collapse;font-size:13px;margin:1em 0}td,th{border:1px solid #ccc;padding:3px 7px;text-align:right}"
       "th{background:#f3f3f3}pre{background:#f6f6f6;padding:8px;white-space:pre-wrap}svg{display:block;margin:1em 0}"
       "</style></head>\n<body>\n";
  std::istringstream in(markdown);
  std::string line;
  bool in_code = false, in_table = false, header_row = false;
  auto close_table = [&] {
    if (in_table) o << "</table>\n";
    in_table = false;
  };
  while (std::getline(in, line)) {
    if (line.rfind("```", 0) == 0) {
      close_table();
      o << (in_code ? "</pre>\n" : "<pre>");
      in_code = !in_code;
      continue;
    }
    if (in_code) {
      o << train::xml_escape(line) << "\n";
      continue;
    }
    if (!line.empty() && line[0] == '|') {
      if (!in_table) {
        o << "<table>\n";
        in_table = header_row = true;
      }
      if (is_separator_row(line)) continue;
      const char* cell = header_row ? "th" : "td";
      o << "<tr>";
      for (const auto& c : table_cells(line)) o << "<" << cell << ">" << train::xml_escape(c) << "</" << cell << ">";
      o << "</tr>\n";
      header_row = false;
      continue;
    }
    close_table();
    if (line.rfind("## ", 0) == 0) o << "<h2>" << train::xml_escape(line.substr(3)) << "</h2>\n";
    else if (line.rfind("# ", 0) == 0) o << "<h1>" << train::xml_escape(line.substr(2)) << "</h1>\n";
    else if (!line.empty()) o << "<p>" << train::xml_escape(line) << "</p>\n";
  }
  close_table();
  if (in_code) o << "</pre>\n";
  o << "<h2>Charts</h2>\n";
  for (const auto& s : svgs) o << s;
  o << "</body></html>\n";
  return o.str();
}

}  // namespace tg::study
