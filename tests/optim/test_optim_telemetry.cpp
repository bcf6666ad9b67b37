// Trust-ratio telemetry: records per adapted tensor, summaries (min/median/max, clipped fraction),
// and the JSONL / CSV writers.
#include <doctest/doctest.h>

#include <fstream>
#include <sstream>

#include "engine/error.h"
#include "optim_test_util.h"
#include "support/fixtures.h"

namespace tg::optim {
namespace {

TrustRatioRecord rec(const std::string& name, double raw, double applied) {
  return TrustRatioRecord{7, name, 2.0, 2.0 / raw, raw, applied, raw != applied};
}

TEST_CASE("summaries: min / median / max of applied and raw ratios, clipped fraction") {
  const std::vector<TrustRatioRecord> odd = {rec("a", 3.0, 1.0), rec("b", 0.5, 0.5), rec("c", 0.2, 0.2)};
  const TrustRatioSummary s = summarize_trust_ratios(odd);
  CHECK(s.step == 7);
  CHECK(s.count == 3);
  CHECK(s.min == 0.2);
  CHECK(s.median == 0.5);
  CHECK(s.max == 1.0);
  CHECK(s.raw_max == 3.0);
  CHECK(s.raw_median == 0.5);
  CHECK(s.clipped_fraction == doctest::Approx(1.0 / 3));
  std::vector<TrustRatioRecord> even = odd;
  even.push_back(rec("d", 0.9, 0.9));
  CHECK(summarize_trust_ratios(even).median == doctest::Approx((0.5 + 0.9) / 2));
  CHECK(summarize_trust_ratios(even).clipped_fraction == 0.25);
  CHECK(summarize_trust_ratios({}).count == 0);
}

TEST_CASE("summaries with a NaN ratio are NaN whatever the records' order, and the writers stay well-formed") {
  // A raw ratio is NaN when ||w|| = ||u|| = inf (Inf weights, L2 weight decay in u). Before, min and
  // max depended on where the NaN sat (min_element skips a NaN unless it comes first) and the
  // median came from std::sort over values without an order.
  const double nan = std::nan("");
  for (int first : {0, 1, 2}) {
    std::vector<TrustRatioRecord> r = {rec("a", 3.0, 1.0), rec("b", 0.5, 0.5), rec("c", 0.2, 0.2)};
    r[static_cast<size_t>(first)] = rec("bad", nan, nan);
    const TrustRatioSummary s = summarize_trust_ratios(r);
    CAPTURE(first);
    CHECK(std::isnan(s.raw_min));
    CHECK(std::isnan(s.raw_median));
    CHECK(std::isnan(s.raw_max));
    CHECK(std::isnan(s.min));
    CHECK(std::isnan(s.max));
    std::ostringstream json, csv;
    write_jsonl(json, s);
    write_csv(csv, s);
    CHECK(json.str().find("\"min\":null,\"median\":null,\"max\":null") != std::string::npos);
    CHECK(csv.str().find(",nan,nan,nan,nan,nan,nan,") != std::string::npos);
  }
}

TEST_CASE("JSONL and CSV writers") {
  const std::vector<TrustRatioRecord> r = {rec("layer1.0.conv1.weight", 3.0, 1.0), rec("fc,\"odd\"", 0.5, 0.5)};
  std::ostringstream jsonl;
  write_jsonl(jsonl, r);
  const std::string j = jsonl.str();
  CHECK(j.find("{\"step\":7,\"name\":\"layer1.0.conv1.weight\",\"w_norm\":2,") == 0);
  CHECK(j.find("\"raw_ratio\":3,\"applied_ratio\":1,\"clipped\":true}\n") != std::string::npos);
  CHECK(j.find("\"name\":\"fc,\\\"odd\\\"\"") != std::string::npos);
  std::ostringstream csv;
  write_csv_header(csv);
  write_csv(csv, r);
  std::istringstream lines(csv.str());
  std::string header, first, second;
  std::getline(lines, header);
  std::getline(lines, first);
  std::getline(lines, second);
  CHECK(header == "step,name,w_norm,u_norm,raw_ratio,applied_ratio,clipped");
  CHECK(first == "7,layer1.0.conv1.weight,2,0.66666666666666663,3,1,1");
  CHECK(second == "7,\"fc,\"\"odd\"\"\",2,4,0.5,0.5,0");
  std::ostringstream sj;
  write_jsonl(sj, summarize_trust_ratios(r));
  CHECK(sj.str().find("\"clipped_fraction\":0.5") != std::string::npos);
}

TEST_CASE("TrustRatioLog writes one line per tensor (or per step) and reports bad paths") {
  NamedTensors params = testing::make_params({{"conv.weight", {4, 3, 3, 3}}, {"bn.weight", {4}}, {"fc.weight", {5, 8}}}, 1, 3.f);
  Lambc opt(params, LambcPreset::kPaper, 0.01);
  const std::string path = tg::test::temp_path("trust.csv");
  const std::string summary_path = tg::test::temp_path("trust_summary.jsonl");
  {
    TrustRatioLog log(path, TrustRatioLog::Format::kCsv);
    TrustRatioLog summary(summary_path, TrustRatioLog::Format::kJsonl, /*summaries_only=*/true);
    Generator gen(2);
    for (int t = 0; t < 3; ++t) {
      testing::set_grads(params, testing::random_grads(params, gen, 0.1f));
      opt.step();
      REQUIRE(opt.trust_ratios().size() == 3);
      for (const auto& r : opt.trust_ratios()) {
        CHECK(r.step == t + 1);
        CHECK(r.raw_ratio == doctest::Approx(r.w_norm / r.u_norm));
        CHECK(r.applied_ratio == std::min(r.raw_ratio, 1.0));
      }
      log.append(opt.trust_ratios());
      summary.append(opt.trust_ratios());
    }
  }
  std::ifstream in(path);
  int lines = 0;
  for (std::string line; std::getline(in, line);) ++lines;
  CHECK(lines == 1 + 3 * 3);
  std::ifstream sin(summary_path);
  std::string line;
  int slines = 0;
  while (std::getline(sin, line)) {
    ++slines;
    CHECK(line.find("\"count\":3") != std::string::npos);
  }
  CHECK(slines == 3);
  CHECK_THROWS_AS(TrustRatioLog("/nonexistent-dir/x.csv", TrustRatioLog::Format::kCsv), IOError);

  opt.set_telemetry(false);
  opt.step();
  CHECK(opt.trust_ratios().empty());
}

}  // namespace
}  // namespace tg::optim
