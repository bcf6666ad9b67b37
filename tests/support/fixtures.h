// Golden fixtures made by tests/reference/*.py (PyTorch) and stored as safetensors in
// tests/fixtures/, plus a closeness check that reports max abs/rel error on failure.
#pragma once
#include <string>

#include "engine/tensor.h"
#include "io/safetensors.h"

namespace tg::test {

// The fixtures' folder: $TG_FIXTURE_DIR when set (binaries built on one machine and run on
// another, scripts/gpu_check.sh --prebuilt), else tests/fixtures/ of the source tree they were built from.
std::string fixture_dir();

// Loads <fixture_dir()>/<name>.safetensors (throws naming the path and the generator to run).
io::SafetensorsFile load_fixture(const std::string& name);

struct CloseResult {
  bool ok = true;
  double max_abs_err = 0.0;
  double max_rel_err = 0.0;
  std::string report;  // "<what>: max abs err ..., max rel err ..., worst at [i] actual vs expected"
};

// Elementwise |a - e| <= atol + rtol * |e|, shapes must match exactly; NaN and +-inf (in either)
// match only the same special value.
CloseResult compare(const Tensor& actual, const Tensor& expected, double rtol, double atol, const std::string& what);

// doctest CHECK of compare(): the report is printed on failure.
void expect_close(const Tensor& actual, const Tensor& expected, double rtol, double atol, const std::string& what);

// A path under a fresh per-process temporary directory (created on first use).
std::string temp_path(const std::string& name);

}  // namespace tg::test
