// The study's report page: results.md rendered as one standalone HTML file (headings, paragraphs,
// code blocks and tables) with the SVG charts inline, no scripts and no external resources.
#pragma once
#include <string>
#include <vector>

namespace tg::study {

// `markdown`: the results.md text (the subset it uses: #/## headings, ``` blocks, | tables, text).
// `svgs`: the charts, shown after the tables in the given order.
std::string render_report_page(const std::string& markdown, const std::vector<std::string>& svgs);

}  // namespace tg::study
