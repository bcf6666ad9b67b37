// Fixture loading and closeness checks shared by the test suites.
#include "support/fixtures.h"

#include <doctest/doctest.h>
#include <unistd.h>

#include <cmath>
#include <limits>
#include <cstdlib>
#include <filesystem>
#include <sstream>

#include "engine/error.h"

namespace tg::test {

std::string fixture_dir() {
  const char* dir = std::getenv("TG_FIXTURE_DIR");
  return dir != nullptr && *dir != '\0' ? std::string(dir) : std::string(TG_FIXTURE_DIR);
}

io::SafetensorsFile load_fixture(const std::string& name) {
  const std::string path = fixture_dir() + "/" + name + ".safetensors";
  if (!std::filesystem::exists(path))
    throw Error("missing fixture " + path +
                (std::getenv("TG_FIXTURE_DIR") ? " (the folder comes from $TG_FIXTURE_DIR)"
                                               : ": regenerate it with the scripts in tests/reference/ (/usr/bin/python3)"));
  return io::load_safetensors(path);
}

CloseResult compare(const Tensor& actual, const Tensor& expected, double rtol, double atol, const std::string& what) {
  CloseResult r;
  std::ostringstream os;
  if (!actual.defined() || !expected.defined() || actual.shape() != expected.shape()) {
    r.ok = false;
    os << what << ": shape " << (actual.defined() ? shape_str(actual.shape()) : "undefined") << " vs expected "
       << (expected.defined() ? shape_str(expected.shape()) : "undefined");
    r.report = os.str();
    return r;
  }
  const std::vector<float> a = actual.to_vector(), e = expected.to_vector();
  size_t worst = 0;
  double worst_excess = -1.0;
  for (size_t i = 0; i < a.size(); ++i) {
    // Special values match only themselves: NaN with NaN, an infinity with the same infinity (before,
    // a finite value passed against an expected NaN: the NaN error made every comparison false).
    if (std::isnan(e[i]) || std::isinf(e[i]) || !std::isfinite(a[i])) {
      const bool same = (std::isnan(a[i]) && std::isnan(e[i])) || a[i] == e[i];
      if (!same) {
        r.ok = false;
        worst = i;
        worst_excess = std::numeric_limits<double>::infinity();
      }
      continue;
    }
    const double err = std::abs(static_cast<double>(a[i]) - e[i]);
    const double rel = err / std::max(std::abs(static_cast<double>(e[i])), 1e-30);
    r.max_abs_err = std::max(r.max_abs_err, err);
    if (std::abs(e[i]) > atol) r.max_rel_err = std::max(r.max_rel_err, rel);
    const double excess = err - (atol + rtol * std::abs(static_cast<double>(e[i])));
    if (excess > worst_excess) {
      worst_excess = excess;
      worst = i;
    }
    if (excess > 0) r.ok = false;
  }
  os << what << ": max abs err " << r.max_abs_err << ", max rel err " << r.max_rel_err << " over " << a.size()
     << " elements (rtol " << rtol << ", atol " << atol << ")";
  if (!a.empty()) os << "; worst at [" << worst << "] actual " << a[worst] << " vs expected " << e[worst];
  r.report = os.str();
  return r;
}

void expect_close(const Tensor& actual, const Tensor& expected, double rtol, double atol, const std::string& what) {
  const CloseResult r = compare(actual, expected, rtol, atol, what);
  CHECK_MESSAGE(r.ok, r.report);
}

std::string temp_path(const std::string& name) {
  static const std::filesystem::path dir = [] {
    auto d = std::filesystem::temp_directory_path() / ("trustgrad_test_" + std::to_string(::getpid()));
    std::filesystem::create_directories(d);
    return d;
  }();
  return (dir / name).string();
}

}  // namespace tg::test
