// Shared pieces of the libFuzzer targets (fuzz/fuzz_*.cpp): the rule every target checks
// (bad input is refused with a documented error, never anything else), a per-process temporary
// file for loaders that only take a path, and the tiny model the model/checkpoint targets load into.
#pragma once
#include <unistd.h>

#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <exception>
#include <memory>
#include <string>

#include "datasets/file_io.h"
#include "engine/error.h"
#include "examples/train/config.h"
#include "nn/layers_basic.h"
#include "nn/layers_conv.h"
#include "nn/layers_norm.h"
#include "nn/sequential.h"

namespace tg::fuzz {

// Runs f. Success, tg::Error (IOError included) and the train program's ConfigError are the
// documented outcomes; any other exception (std::out_of_range, nlohmann::json::exception,
// std::bad_alloc, ...) escaped a parser's checks: print it and abort so libFuzzer keeps the input.
// TG_FUZZ_VERBOSE=1 prints each refusal (to see how deep a seed gets: run a target on one file).
template <class F>
void expect_clean_refusal(F&& f) {
  static const bool verbose = std::getenv("TG_FUZZ_VERBOSE") != nullptr;
  try {
    f();
  } catch (const Error& e) {
    if (verbose) std::fprintf(stderr, "fuzz: refused: %s\n", e.what());
  } catch (const train::ConfigError& e) {
    if (verbose) std::fprintf(stderr, "fuzz: refused: %s\n", e.what());
  } catch (const std::exception& e) {
    std::fprintf(stderr, "fuzz: undocumented exception escaped: %s\n", e.what());
    std::abort();
  }
}

// Writes the input to <shm or tmp>/tg_fuzz_<pid><suffix> (one file per process, rewritten each
// run; the suffix matters to loaders that pick the format by name) and returns its path.
inline std::string write_temp(const uint8_t* data, size_t size, const std::string& suffix) {
  static const std::string dir = ::access("/dev/shm", W_OK) == 0 ? "/dev/shm" : "/tmp";
  struct RemovedAtExit {
    std::string path;
    ~RemovedAtExit() { ::unlink(path.c_str()); }
  };
  static const RemovedAtExit file{dir + "/tg_fuzz_" + std::to_string(::getpid()) + suffix};  // one suffix per target
  data::write_file(file.path, data, size);
  return file.path;
}

// Conv(1->2, 3x3) + BatchNorm(2) + ReLU + GlobalAvgPool + Linear(2->3): every kind of state a
// real model has (weights, biases, running statistics, a batch counter) in a few dozen floats,
// so checkpoint seeds stay small. The train program's models differ only in size.
inline std::shared_ptr<nn::Module> tiny_model() {
  auto m = std::make_shared<nn::Sequential>();
  m->add(std::make_shared<nn::Conv2d>(nn::Conv2dOptions(1, 2, 3).padding(1).bias(false)));
  m->add(std::make_shared<nn::BatchNorm2d>(nn::BatchNorm2dOptions(2)));
  m->add(std::make_shared<nn::ReLU>());
  m->add(std::make_shared<nn::GlobalAvgPool>());
  m->add(std::make_shared<nn::Linear>(nn::LinearOptions(2, 3)));
  return m;
}

}  // namespace tg::fuzz
