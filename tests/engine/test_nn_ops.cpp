// Tests of the fused conv-net ops (engine/nn_ops.h) and their CPU kernels: finite-difference
// gradient checks, fast conv kernels against the direct reference, PyTorch golden fixtures
// (tests/reference/gen_nn_ops.py), deterministic max-pool ties, dropout, and argument errors.
#include <doctest/doctest.h>
#include <omp.h>

#include <algorithm>
#include <climits>
#include <cmath>
#include <cstring>
#include <functional>
#include <limits>
#include <string>
#include <vector>

#include "engine/cpu/batchnorm.h"
#include "engine/cpu/conv2d.h"
#include "engine/cpu/conv2d_direct.h"
#include "engine/cpu/isa.h"
#include "engine/cpu/kernel_mode.h"
#include "engine/cpu/reference/conv2d.h"
#include "engine/cpu/stride2_rows.h"
#include "engine/cpu/winograd.h"
#include "engine/error.h"
#include "engine/nn_ops.h"
#include "engine/ops.h"
#include "engine/parallel.h"
#include "engine/random.h"
#include "support/error_of.h"
#include "support/fixtures.h"
#include "support/gradcheck.h"
#include "support/kernel_mode_guard.h"

using namespace tg;
using tg::test::error_of;
using tg::test::contains;
using tg::test::gradcheck;
using tg::test::GradcheckOptions;
using tg::test::leaf;
using tg::test::KernelModeGuard;

namespace {

void check_grad(const std::function<Tensor(const std::vector<Tensor>&)>& fn, const std::vector<Tensor>& inputs,
                const GradcheckOptions& opts = {}) {
  const auto r = gradcheck(fn, inputs, opts);
  CHECK_MESSAGE(r.ok, r.report);
  CHECK(r.checked > 0);
}

int64_t meta_int(const io::SafetensorsFile& f, const std::string& key) {
  const auto it = f.metadata.find(key);
  REQUIRE_MESSAGE(it != f.metadata.end(), "fixture " << f.path << " lacks metadata " << key);
  return std::stoll(it->second);
}

float meta_float(const io::SafetensorsFile& f, const std::string& key) {
  const auto it = f.metadata.find(key);
  REQUIRE_MESSAGE(it != f.metadata.end(), "fixture " << f.path << " lacks metadata " << key);
  return std::stof(it->second);
}

// A fresh leaf copy of a fixture tensor that requires grad.
Tensor fixture_leaf(const io::SafetensorsFile& f, const std::string& name) {
  Tensor t = f.at(name).clone();
  t.set_requires_grad(true);
  return t;
}

std::vector<float> random_values(size_t n, Generator& gen) {
  std::vector<float> v(n);
  for (float& x : v) x = gen.uniform(-1.f, 1.f);
  return v;
}

// max |a - b| / (1 + |b|)
double max_scaled_diff(const std::vector<float>& a, const std::vector<float>& b) {
  double m = 0.0;
  for (size_t i = 0; i < a.size(); ++i) m = std::max(m, std::abs(double(a[i]) - b[i]) / (1.0 + std::abs(double(b[i]))));
  return m;
}

// Runs the fast and the reference conv kernels on random data; returns the worst scaled difference
// over out, din, dw, db, divided by sqrt(longest sum): float32 rounding grows like sqrt(terms), so
// the result is ~1e-7 when both agree up to rounding, whatever the shape.
// With winograd = true the Winograd kernels are called directly (whatever winograd_applies says) and
// the bias gradient, which they leave to their caller, is not compared.
double fast_vs_reference(const ConvShape& s, bool bias, Generator& gen, bool winograd = false) {
  const size_t nin = s.N * s.C * s.H * s.W, nw = s.K * (s.C / s.groups) * s.R * s.S, nout = s.N * s.K * s.P() * s.Q();
  const auto in = random_values(nin, gen), w = random_values(nw, gen), b = random_values(s.K, gen);
  const auto dout = random_values(nout, gen);
  std::vector<float> o1(nout), o2(nout), di1(nin, 7.f), di2(nin), dw1(nw, 7.f), dw2(nw), db1(s.K), db2(s.K);
  if (winograd) {
    cpu::winograd_forward(o1.data(), in.data(), w.data(), bias ? b.data() : nullptr, s);
    cpu::winograd_backward(di1.data(), dw1.data(), dout.data(), in.data(), w.data(), s);
  } else {
    cpu::conv2d_forward(o1.data(), in.data(), w.data(), bias ? b.data() : nullptr, s);
    cpu::conv2d_backward(di1.data(), dw1.data(), db1.data(), dout.data(), in.data(), w.data(), s);
  }
  cpu::reference::conv2d_forward(o2.data(), in.data(), w.data(), bias ? b.data() : nullptr, s);
  cpu::reference::conv2d_backward(di2.data(), dw2.data(), db2.data(), dout.data(), in.data(), w.data(), s);
  if (winograd) db1 = db2;
  const double terms = std::max({s.C / s.groups * s.R * s.S, s.N * s.P() * s.Q(), s.K / s.groups * s.R * s.S});
  return std::max({max_scaled_diff(o1, o2), max_scaled_diff(di1, di2), max_scaled_diff(dw1, dw2),
                   max_scaled_diff(db1, db2)}) /
         std::sqrt(terms);
}

}  // namespace

TEST_SUITE("nn_ops") {

// ---------------- conv2d kernels: fast vs reference ----------------

TEST_CASE("conv2d fast kernels match the direct reference on random shapes") {
  Generator gen(7);
  int tested = 0;
  for (int trial = 0; trial < 120; ++trial) {
    ConvShape s{};
    s.groups = 1 + static_cast<int64_t>(gen.below(3));
    s.N = 1 + static_cast<int64_t>(gen.below(trial % 6 == 0 ? 24 : 4));  // sometimes many images: tiles in parallel
    s.C = s.groups * (1 + static_cast<int64_t>(gen.below(3)));
    s.K = s.groups * (1 + static_cast<int64_t>(gen.below(3)));
    s.R = 1 + static_cast<int64_t>(gen.below(4));
    s.S = 1 + static_cast<int64_t>(gen.below(4));
    s.stride_h = 1 + static_cast<int64_t>(gen.below(3));
    s.stride_w = 1 + static_cast<int64_t>(gen.below(3));
    s.pad_h = static_cast<int64_t>(gen.below(3));
    s.pad_w = static_cast<int64_t>(gen.below(3));
    if (trial % 5 == 0) s.R = s.S = s.stride_h = s.stride_w = 1, s.pad_h = s.pad_w = 0;  // pointwise
    s.H = std::max<int64_t>(1, s.R - 2 * s.pad_h) + static_cast<int64_t>(gen.below(6));
    s.W = std::max<int64_t>(1, s.S - 2 * s.pad_w) + static_cast<int64_t>(gen.below(6));
    const double err = fast_vs_reference(s, trial % 2 == 0, gen);
    CAPTURE(trial);
    CHECK_MESSAGE(err < 2e-6, "N" << s.N << " C" << s.C << " H" << s.H << " W" << s.W << " K" << s.K << " R" << s.R
                                  << " S" << s.S << " stride " << s.stride_h << "," << s.stride_w << " pad " << s.pad_h
                                  << "," << s.pad_w << " groups " << s.groups << ": err " << err);
    ++tested;
  }
  CHECK(tested == 120);
}

TEST_CASE("conv2d fast kernels: every chunking of the im2col columns") {
  Generator gen(11);
  // Shallow columns: chunks of whole images; 1x1 stride 1 reads the input in place when a chunk is one image.
  CHECK(fast_vs_reference({1, 8, 16, 16, 6, 1, 1, 1, 1, 0, 0, 1}, true, gen) < 2e-6);
  CHECK(fast_vs_reference({3, 8, 16, 16, 6, 1, 1, 1, 1, 0, 0, 1}, true, gen) < 2e-6);
  CHECK(fast_vs_reference({3, 8, 16, 16, 6, 1, 1, 1, 1, 0, 0, 2}, false, gen) < 2e-6);
  CHECK(fast_vs_reference({2, 4, 17, 16, 5, 3, 3, 1, 1, 1, 1, 1}, true, gen) < 2e-6);
  // Large maps with deep columns: each image is cut into several column chunks (col2im of chunks
  // of one image must not race); pointwise convs read the input in place, chunk by chunk.
  CHECK(fast_vs_reference({3, 64, 23, 21, 2, 3, 3, 1, 1, 1, 1, 1}, true, gen) < 2e-6);
  CHECK(fast_vs_reference({2, 128, 40, 40, 4, 3, 3, 2, 2, 1, 1, 2}, false, gen) < 2e-6);
  CHECK(fast_vs_reference({3, 512, 17, 19, 3, 1, 1, 1, 1, 0, 0, 1}, true, gen) < 2e-6);
  // Small maps: several images per tile (gathered dout, scattered output).
  CHECK(fast_vs_reference({9, 16, 4, 4, 8, 3, 3, 1, 1, 1, 1, 1}, true, gen) < 2e-6);
  CHECK(fast_vs_reference({9, 6, 5, 5, 6, 3, 3, 2, 2, 1, 1, 3}, true, gen) < 2e-6);
  // Stride 2 along rows wide enough for the vector gather / scatter-add (ragged ends, pad 1).
  CHECK(fast_vs_reference({2, 8, 21, 37, 5, 3, 3, 2, 2, 1, 1, 1}, true, gen) < 2e-6);
  // Strided 1x1 (shortcuts): whole-image chunks spread dcol over din (din starts at 7, so every
  // pixel must be written): stride 2 on a ragged 35-wide row, (3, 2) with groups, (1, 2), (2, 3);
  // then a map cut into chunks, which adds into a zeroed din instead.
  CHECK(fast_vs_reference({5, 16, 33, 35, 8, 1, 1, 2, 2, 0, 0, 1}, true, gen) < 2e-6);
  CHECK(fast_vs_reference({4, 8, 13, 20, 6, 1, 1, 3, 2, 0, 0, 2}, false, gen) < 2e-6);
  CHECK(fast_vs_reference({3, 8, 9, 32, 4, 1, 1, 1, 2, 0, 0, 1}, true, gen) < 2e-6);
  CHECK(fast_vs_reference({3, 8, 10, 17, 4, 1, 1, 2, 3, 0, 0, 1}, true, gen) < 2e-6);
  CHECK(fast_vs_reference({2, 512, 40, 37, 3, 1, 1, 2, 2, 0, 0, 1}, false, gen) < 2e-6);
}

TEST_CASE("stride-2 row helpers equal their scalar loops bit for bit and touch only what they may") {
  Generator gen(5);
  for (int64_t n : {0, 1, 7, 8, 9, 16, 19, 33}) {
    CAPTURE(n);
    std::vector<float> src = random_values(static_cast<size_t>(2 * n + 16), gen);
    src[0] = -0.f;
    const float kZero = 0.f;
    // gather: dst[i] = src[2i]; `readable` 2n - 1 is exactly what the scalar loop reads (the vector
    // steps stop short of the end), 2n + 16 lets every full step run.
    for (int64_t readable : {2 * n - 1, 2 * n + 16}) {
      std::vector<float> got(static_cast<size_t>(n) + 1, 9.f);
      cpu::gather_stride2(got.data(), src.data(), n, readable);
      for (int64_t i = 0; i < n; ++i) CHECK(std::memcmp(&got[i], &src[2 * i], sizeof(float)) == 0);
      CHECK(got[n] == 9.f);
    }
    // scatter-add: dst[2i] += src[i]; the odd elements keep their bits (-0 stays -0, NaN stays).
    std::vector<float> dst = random_values(static_cast<size_t>(2 * n + 16), gen), want = dst;
    for (size_t i = 1; i < dst.size(); i += 4) dst[i] = want[i] = -0.f;
    for (size_t i = 3; i < dst.size(); i += 4) dst[i] = want[i] = std::nanf("");
    cpu::scatter_add_stride2(dst.data(), src.data(), n, 2 * n + 16);
    for (int64_t i = 0; i < n; ++i) want[2 * i] += src[i];
    for (size_t i = 0; i < dst.size(); ++i) {
      CAPTURE(i);
      CHECK(std::memcmp(&dst[i], &want[i], sizeof(float)) == 0);
    }
    // spread over a row of width 2n - 1 (odd) and 2n: src at even pixels, 0 at odd ones, nothing past.
    for (int64_t width : {2 * n - 1, 2 * n}) {
      if (width < 0) continue;
      std::vector<float> row(static_cast<size_t>(width) + 1, 9.f);
      cpu::spread_stride2(row.data(), src.data(), width);
      for (int64_t w = 0; w < width; ++w) CHECK(std::memcmp(&row[w], w % 2 ? &kZero : &src[w / 2], sizeof(float)) == 0);
      CHECK(row[width] == 9.f);
    }
  }
}

TEST_CASE("conv2d fast kernels agree with 1 and 2 threads, and only write what is asked") {
  Generator gen(3);
  const ConvShape s{8, 4, 6, 6, 5, 3, 3, 1, 1, 1, 1, 1};
  const size_t nin = 8 * 4 * 36, nw = 5 * 4 * 9, nout = 8 * 5 * 36;
  const auto in = random_values(nin, gen), w = random_values(nw, gen), dout = random_values(nout, gen);
  const int saved = get_num_threads();
  std::vector<std::vector<float>> outs, dws;
  for (int threads : {1, 2}) {
    set_num_threads(threads);
    std::vector<float> out(nout), dw(nw, 123.f);  // dw is overwritten, not accumulated
    cpu::conv2d_forward(out.data(), in.data(), w.data(), nullptr, s);
    cpu::conv2d_backward(nullptr, dw.data(), nullptr, dout.data(), in.data(), w.data(), s);
    outs.push_back(out);
    dws.push_back(dw);
  }
  set_num_threads(saved);
  std::vector<float> dw_ref(nw);
  cpu::reference::conv2d_backward(nullptr, dw_ref.data(), nullptr, dout.data(), in.data(), w.data(), s);
  CHECK(max_scaled_diff(outs[0], outs[1]) < 1e-6);
  CHECK(max_scaled_diff(dws[0], dw_ref) < 1e-5);
  CHECK(max_scaled_diff(dws[1], dw_ref) < 1e-5);
}

TEST_CASE("im2col conv with bias over several sgemm K slices: the same bits at any thread count and batch") {
  // crs = 47 * 3 * 3 = 423 > 256 (two K slices of sgemm), PQ = 5 * 3 = 15 < 256: one thread packs the
  // two images into one chunk, two threads give each its own, and a batch of one runs image 1 alone.
  // Each output must be summed in one order whatever the chunk: found by the shape fuzz against
  // PyTorch, the multi-image chunks added the bias after the GEMM, the single-image ones before it,
  // so outputs moved by up to 3e-5 with the thread count.
  Generator gen(41);
  const ConvShape s{2, 47, 10, 5, 64, 3, 3, 2, 2, 1, 1, 1};
  const ConvShape one{1, 47, 10, 5, 64, 3, 3, 2, 2, 1, 1, 1};
  const size_t nin = 2 * 47 * 50, nw = 64 * 47 * 9, nout = 2 * 64 * 15, img_in = nin / 2, img_out = nout / 2;
  const auto in = random_values(nin, gen), w = random_values(nw, gen), b = random_values(64, gen);
  std::vector<float> ref(nout);
  cpu::reference::conv2d_forward(ref.data(), in.data(), w.data(), b.data(), s);
  const int saved = get_num_threads();
  for (ConvEpilogue epi : {ConvEpilogue::None, ConvEpilogue::Relu}) {
    CAPTURE(static_cast<int>(epi));
    std::vector<std::vector<float>> outs;
    for (int threads : {1, 2}) {
      set_num_threads(threads);
      std::vector<float> out(nout);
      cpu::conv2d_forward(out.data(), in.data(), w.data(), b.data(), s, epi);
      outs.push_back(out);
    }
    set_num_threads(saved);
    CHECK(std::memcmp(outs[0].data(), outs[1].data(), nout * sizeof(float)) == 0);
    std::vector<float> alone(img_out);  // image 1 as a batch of one: a single-image chunk
    cpu::conv2d_forward(alone.data(), in.data() + img_in, w.data(), b.data(), one, epi);
    CHECK(std::memcmp(alone.data(), outs[0].data() + img_out, img_out * sizeof(float)) == 0);
    std::vector<float> want = ref;  // and the values: the double-precision reference loops
    if (epi == ConvEpilogue::Relu)
      for (float& v : want) v = v > 0.f ? v : 0.f;
    CHECK(max_scaled_diff(outs[0], want) < 1e-5);
  }
}

// ---------------- Winograd F(4x4, 3x3) ----------------
// Its transforms scale values by up to ~10 before the channel sums (winograd.h), so its rounding
// error is larger than the im2col path's: measured up to 1.5e-6 on this scale for <= 6 channels (bound
// 1e-5) and 1.1e-5 for 128 (bound 3e-5); a wrong transform coefficient gives errors of order 1e-1.

TEST_CASE("winograd: which convs take the Winograd path") {
  CHECK(cpu::winograd_applies({8, 16, 8, 8, 16, 3, 3, 1, 1, 1, 1, 1}));
  CHECK(cpu::winograd_applies({8, 64, 32, 32, 128, 3, 3, 1, 1, 0, 0, 1}));
  CHECK_FALSE(cpu::winograd_applies({8, 16, 8, 8, 16, 3, 3, 2, 2, 1, 1, 1}));  // strided
  CHECK_FALSE(cpu::winograd_applies({8, 16, 8, 8, 16, 5, 5, 1, 1, 2, 2, 1}));  // 5x5
  CHECK_FALSE(cpu::winograd_applies({8, 16, 8, 8, 16, 3, 3, 1, 1, 1, 1, 2}));  // grouped
  CHECK_FALSE(cpu::winograd_applies({8, 3, 32, 32, 32, 3, 3, 1, 1, 1, 1, 1}));  // too few input channels
  CHECK_FALSE(cpu::winograd_applies({8, 32, 32, 32, 8, 3, 3, 1, 1, 1, 1, 1}));  // too few output channels
  CHECK_FALSE(cpu::winograd_applies({8, 32, 2, 2, 32, 3, 3, 1, 1, 1, 1, 1}));   // 2x2 output: mostly padding tiles
  CHECK_FALSE(cpu::winograd_applies({8, 16, 8, 8, 16, 3, 3, 1, 1, 1, 1, 1, ConvAlgorithm::Gemm}));  // asked not to
}

TEST_CASE("winograd kernels match the direct reference on random shapes") {
  Generator gen(17);
  for (int trial = 0; trial < 60; ++trial) {
    ConvShape s{};
    s.groups = 1;
    s.R = s.S = 3;
    s.stride_h = s.stride_w = 1;
    s.N = 1 + static_cast<int64_t>(gen.below(trial % 5 == 0 ? 12 : 3));
    s.C = 1 + static_cast<int64_t>(gen.below(6));
    s.K = 1 + static_cast<int64_t>(gen.below(6));
    s.pad_h = static_cast<int64_t>(gen.below(3));
    s.pad_w = static_cast<int64_t>(gen.below(3));
    s.H = std::max<int64_t>(1, 3 - 2 * s.pad_h) + static_cast<int64_t>(gen.below(12));  // ragged last tiles
    s.W = std::max<int64_t>(1, 3 - 2 * s.pad_w) + static_cast<int64_t>(gen.below(12));
    const double err = fast_vs_reference(s, trial % 2 == 0, gen, /*winograd=*/true);
    CAPTURE(trial);
    CHECK_MESSAGE(err < 1e-5, "N" << s.N << " C" << s.C << " H" << s.H << " W" << s.W << " K" << s.K << " pad "
                                  << s.pad_h << "," << s.pad_w << ": err " << err);
  }
}

TEST_CASE("winograd kernels: chunks spanning images, many channels, both thread counts") {
  Generator gen(19);
  const int saved = get_num_threads();
  for (int threads : {1, 2}) {
    set_num_threads(threads);
    CAPTURE(threads);
    // 25 tiles per image: 64-tile chunks span images; 2 threads split the 7 images 3 + 4.
    CHECK(fast_vs_reference({7, 5, 20, 18, 6, 3, 3, 1, 1, 1, 1, 1}, true, gen, true) < 1e-5);
    // Deep enough for conv2d to route it to Winograd, one tile per image.
    CHECK(fast_vs_reference({9, 20, 4, 4, 17, 3, 3, 1, 1, 1, 1, 1}, false, gen, true) < 1e-5);
    CHECK(fast_vs_reference({3, 16, 9, 11, 24, 3, 3, 1, 1, 1, 1, 1}, true, gen, false) < 1e-5);
    // 128 x 128 channels: with 2 threads the backward runs the team on shared chunks. The forward's
    // error grows with the channels summed in the transformed domain: 1.1e-5 measured here.
    CHECK(fast_vs_reference({3, 128, 7, 6, 128, 3, 3, 1, 1, 1, 1, 1}, true, gen, true) < 3e-5);
  }
  set_num_threads(saved);
}

TEST_CASE("winograd: conv2d routes eligible convs there, and the result does not depend on the threads") {
  Generator gen(23);
  // 16 x 16 channels: the backward cuts the images into units the threads take as they come (6
  // images: 4 units, two of them 2 images; 19: 16 units, three of 2); 128 x 128: the team shares chunks.
  for (const ConvShape& s : {ConvShape{6, 16, 10, 10, 16, 3, 3, 1, 1, 1, 1, 1},
                                  ConvShape{19, 16, 8, 8, 16, 3, 3, 1, 1, 1, 1, 1},
                                  ConvShape{3, 128, 6, 5, 128, 3, 3, 1, 1, 1, 1, 1}}) {
    CAPTURE(s.N);
    CAPTURE(s.C);
    REQUIRE(cpu::winograd_applies(s));
    const size_t nin = s.N * s.C * s.H * s.W, nw = s.K * s.C * 9, nout = s.N * s.K * s.P() * s.Q();
    const auto in = random_values(nin, gen), w = random_values(nw, gen), b = random_values(s.K, gen);
    const auto dout = random_values(nout, gen);
    std::vector<float> via_conv(nout), direct(nout);
    cpu::conv2d_forward(via_conv.data(), in.data(), w.data(), b.data(), s);
    cpu::winograd_forward(direct.data(), in.data(), w.data(), b.data(), s);
    CHECK(via_conv == direct);
    const int saved = get_num_threads();
    std::vector<std::vector<float>> outs, dins, dws;
    for (int threads : {1, 2}) {
      set_num_threads(threads);
      std::vector<float> out(nout), din(nin), dw(nw);
      cpu::conv2d_forward(out.data(), in.data(), w.data(), b.data(), s);
      cpu::conv2d_backward(din.data(), dw.data(), nullptr, dout.data(), in.data(), w.data(), s);
      outs.push_back(out);
      dins.push_back(din);
      dws.push_back(dw);
    }
    set_num_threads(saved);
    // Each tile is computed the same way whichever thread takes it: bit-identical out and din. dw sums
    // per-unit partials in unit order when images are split (units fixed by the shape), chunk by chunk
    // in the same order when the team shares them: bit-identical too.
    CHECK(outs[0] == outs[1]);
    CHECK(dins[0] == dins[1]);
    std::vector<float> dw_ref(nw);
    cpu::reference::conv2d_backward(nullptr, dw_ref.data(), nullptr, dout.data(), in.data(), w.data(), s);
    CHECK(max_scaled_diff(dws[1], dw_ref) < 1e-4);
    CHECK(dws[0] == dws[1]);
  }
}

TEST_CASE("direct conv (1-4 input channels): routed, matches the reference, threads do not change a bit") {
  if (tg::cpu_isa() == tg::CpuIsa::Generic) {
    // The direct loops exist only in the AVX2 / AVX-512 kernels; generic routes these convs to im2col + GEMM.
    CHECK_FALSE(cpu::direct_applies({3, 1, 28, 28, 8, 3, 3, 1, 1, 1, 1, 1}));
    MESSAGE("skipped: direct conv loops need AVX2 + FMA (TG_CPU_ISA=generic or an older CPU)");
    return;
  }
  Generator gen(29);
  // Stems (1 and 3 channels at 28 and 32 wide), K not a multiple of the forward's six-channel block
  // (8 = 4 + 4, 13 = 6 + 4 + 3, 17 = 6 + 6 + 5, 1-6 alone), maps wider than one 16-column block with
  // a ragged end, narrower than one vector, padding 0 and mixed.
  // The input gradient cuts rows into blocks of up to 7/4/3/2 vectors (C = 1/2/3/4), V + 1 left as two
  // halves: 64 wide (C = 1: 4 + 4; C = 3: 3 + 3 + 2), 40 wide (C = 2: 2 + 3), 37 wide (C = 4: 2 + 1 + 2).
  const std::vector<ConvShape> shapes = {
      {3, 1, 28, 28, 8, 3, 3, 1, 1, 1, 1, 1},  {2, 3, 32, 32, 5, 3, 3, 1, 1, 1, 1, 1},
      {2, 4, 9, 37, 6, 3, 3, 1, 1, 1, 1, 1},   {3, 2, 10, 11, 4, 3, 3, 1, 1, 0, 0, 1},
      {1, 3, 5, 3, 3, 3, 3, 1, 1, 1, 1, 1},    {2, 3, 7, 70, 2, 3, 3, 1, 1, 1, 0, 1},
      {5, 3, 3, 3, 1, 3, 3, 1, 1, 0, 0, 1},    {2, 1, 6, 64, 17, 3, 3, 1, 1, 1, 1, 1},
      {2, 2, 5, 40, 3, 3, 3, 1, 1, 0, 1, 1},   {1, 3, 4, 64, 13, 3, 3, 1, 1, 1, 0, 1}};
  const int saved = get_num_threads();
  for (const ConvShape& s : shapes) {
    INFO("N" << s.N << " C" << s.C << " H" << s.H << " W" << s.W << " K" << s.K << " pad " << s.pad_h << ","
              << s.pad_w);
    REQUIRE(cpu::direct_applies(s));
    CHECK(fast_vs_reference(s, true, gen) < 2e-6);
    CHECK(fast_vs_reference(s, false, gen) < 2e-6);
    const size_t nin = s.N * s.C * s.H * s.W, nw = s.K * s.C * 9, nout = s.N * s.K * s.P() * s.Q();
    const auto in = random_values(nin, gen), w = random_values(nw, gen), b = random_values(s.K, gen);
    const auto dout = random_values(nout, gen);
    // Only the weight gradient, then only the input gradient, each alone; the input gradient's loops
    // called directly too (din starts at 7: every element must be overwritten).
    std::vector<float> dw_only(nw, 7.f), din_only(nin, 7.f), din_direct(nin, 7.f), dw_ref(nw), din_ref(nin);
    cpu::conv2d_backward(nullptr, dw_only.data(), nullptr, dout.data(), in.data(), w.data(), s);
    cpu::conv2d_backward(din_only.data(), nullptr, nullptr, dout.data(), in.data(), w.data(), s);
    cpu::direct_input_grad(din_direct.data(), dout.data(), w.data(), s);
    cpu::reference::conv2d_backward(din_ref.data(), dw_ref.data(), nullptr, dout.data(), in.data(), w.data(), s);
    CHECK(max_scaled_diff(dw_only, dw_ref) < 2e-6 * std::sqrt(double(s.N * s.P() * s.Q())));
    CHECK(max_scaled_diff(din_only, din_ref) < 2e-6 * std::sqrt(double(s.K * 9)));
    CHECK(din_direct == din_only);  // conv2d_backward routes din there
    // The relu epilogue is relu of the plain output, bit for bit; 1 and 2 threads give the same bits.
    std::vector<std::vector<float>> outs, relus, dws, dins;
    for (int threads : {1, 2}) {
      set_num_threads(threads);
      std::vector<float> out(nout), relu(nout), dw(nw), din(nin, 7.f);
      cpu::conv2d_forward(out.data(), in.data(), w.data(), b.data(), s);
      cpu::conv2d_forward(relu.data(), in.data(), w.data(), b.data(), s, ConvEpilogue::Relu);
      cpu::conv2d_backward(din.data(), dw.data(), nullptr, dout.data(), in.data(), w.data(), s);
      outs.push_back(out);
      relus.push_back(relu);
      dws.push_back(dw);
      dins.push_back(din);
    }
    set_num_threads(saved);
    CHECK(outs[0] == outs[1]);
    CHECK(dws[0] == dws[1]);
    CHECK(dins[0] == dins[1]);
    CHECK(dins[0] == din_only);  // with dw or without: the same loops
    CHECK(relus[0] == relus[1]);
    for (size_t i = 0; i < nout; ++i) REQUIRE(relus[0][i] == (outs[0][i] > 0.f ? outs[0][i] : 0.f));
  }
  // Not routed there: 5 channels, stride 2, padding 2, groups, 5x5, and the Gemm algorithm.
  ConvShape s{2, 5, 8, 8, 4, 3, 3, 1, 1, 1, 1, 1};
  CHECK_FALSE(cpu::direct_applies(s));
  s.C = 3;
  s.stride_h = 2;
  CHECK_FALSE(cpu::direct_applies(s));
  s.stride_h = 1;
  s.pad_w = 2;
  CHECK_FALSE(cpu::direct_applies(s));
  s.pad_w = 1;
  s.algorithm = ConvAlgorithm::Gemm;
  CHECK_FALSE(cpu::direct_applies(s));
  s.algorithm = ConvAlgorithm::Auto;
  CHECK(cpu::direct_applies(s));
}

// ---------------- conv2d epilogues: relu, relu + 2x2 max pool ----------------

// relu then the 2x2 stride-2 max pool (floor), the way the separate ops compute them.
std::vector<float> relu_pool_reference(const std::vector<float>& y, const ConvShape& s, bool pool) {
  std::vector<float> r(y.size());
  for (size_t i = 0; i < y.size(); ++i) r[i] = y[i] > 0.f ? y[i] : 0.f;
  if (!pool) return r;
  const int64_t P = s.P(), Q = s.Q(), PP = P / 2, QQ = Q / 2;
  std::vector<float> out(static_cast<size_t>(s.N * s.K * PP * QQ));
  for (int64_t pl = 0; pl < s.N * s.K; ++pl)
    for (int64_t p = 0; p < PP; ++p)
      for (int64_t q = 0; q < QQ; ++q) {
        const float* a = r.data() + pl * P * Q + 2 * p * Q + 2 * q;
        out[static_cast<size_t>((pl * PP + p) * QQ + q)] = std::max(std::max(a[0], a[1]), std::max(a[Q], a[Q + 1]));
      }
  return out;
}

TEST_CASE("conv2d epilogues: relu and relu + 2x2 max pool give exactly the separate ops' values") {
  Generator gen(41);
  const int saved = get_num_threads();
  // Winograd shapes with ragged tiles and odd maps (7x7 pools to 3x3, 9x13 to 4x6), im2col shapes
  // (few channels, strided, 1x1, grouped): the pooled variant falls back to conv + pool there.
  const std::vector<ConvShape> shapes = {
      {3, 16, 8, 8, 16, 3, 3, 1, 1, 1, 1, 1},   {2, 20, 7, 7, 24, 3, 3, 1, 1, 1, 1, 1},
      {2, 16, 9, 13, 17, 3, 3, 1, 1, 1, 1, 1},  {5, 32, 14, 14, 32, 3, 3, 1, 1, 1, 1, 1},
      {3, 16, 10, 11, 16, 3, 3, 1, 1, 0, 0, 1}, {2, 1, 12, 12, 8, 3, 3, 1, 1, 1, 1, 1},
      {2, 4, 9, 9, 6, 3, 3, 2, 2, 1, 1, 1},     {3, 6, 6, 5, 5, 1, 1, 1, 1, 0, 0, 1},
      {2, 4, 8, 8, 6, 3, 3, 1, 1, 1, 1, 2}};
  for (int threads : {1, 2}) {
    set_num_threads(threads);
    for (const ConvShape& s : shapes) {
      CAPTURE(threads);
      INFO("N" << s.N << " C" << s.C << " H" << s.H << " W" << s.W << " K" << s.K << " stride " << s.stride_h
               << " groups " << s.groups);
      const size_t nin = s.N * s.C * s.H * s.W, nw = s.K * (s.C / s.groups) * s.R * s.S;
      const size_t nout = s.N * s.K * s.P() * s.Q(), npool = s.N * s.K * (s.P() / 2) * (s.Q() / 2);
      const auto in = random_values(nin, gen), w = random_values(nw, gen), b = random_values(s.K, gen);
      std::vector<float> plain(nout), relu(nout, 7.f), pooled(npool, 7.f);
      cpu::conv2d_forward(plain.data(), in.data(), w.data(), b.data(), s);
      cpu::conv2d_forward(relu.data(), in.data(), w.data(), b.data(), s, ConvEpilogue::Relu);
      cpu::conv2d_forward(pooled.data(), in.data(), w.data(), b.data(), s, ConvEpilogue::ReluMaxPool2x2);
      CHECK(relu == relu_pool_reference(plain, s, false));
      CHECK(pooled == relu_pool_reference(plain, s, true));
      size_t zeros = 0;
      for (float v : relu) zeros += v == 0.f;
      CHECK(zeros > 0);  // the mask is exercised
      CHECK(zeros < nout);
    }
  }
  set_num_threads(saved);
}

TEST_CASE("conv2d_relu: same values and gradients as relu(conv2d), on both algorithms") {
  Generator gen(43);
  for (ConvAlgorithm algo : {ConvAlgorithm::Auto, ConvAlgorithm::Gemm}) {
    CAPTURE(static_cast<int>(algo));
    const Tensor x0 = Tensor::randn({3, 16, 9, 10}, gen), w0 = Tensor::randn({16, 16, 3, 3}, gen);
    const Tensor b0 = Tensor::randn({16}, gen), dout = Tensor::randn({3, 16, 9, 10}, gen);
    auto run = [&](bool fused) {
      Tensor x = x0.clone().set_requires_grad(true), w = w0.clone().set_requires_grad(true);
      Tensor b = b0.clone().set_requires_grad(true);
      Tensor y = fused ? conv2d_relu(x, w, b, 1, 1, 1, algo) : relu(conv2d(x, w, b, 1, 1, 1, algo));
      y.backward(dout);
      return std::vector<Tensor>{y, x.grad(), w.grad(), b.grad()};
    };
    const auto fused = run(true), plain = run(false);
    for (size_t i = 0; i < fused.size(); ++i) {
      CAPTURE(i);
      CHECK(fused[i].to_vector() == plain[i].to_vector());  // the same kernels, the same mask
    }
  }
}

TEST_CASE("conv2d_relu gradcheck (outputs kept away from the ReLU kink)") {
  // As for batch_norm2d_relu: the first seed whose conv outputs all have |y| >= 0.05.
  Tensor x, w, b;
  for (uint64_t seed = 0;; ++seed) {
    REQUIRE(seed < 400);
    x = leaf({2, 2, 4, 5}, 700 + seed);
    w = leaf({3, 2, 3, 3}, 900 + seed);
    b = leaf({3}, 1100 + seed);
    NoGradGuard no_grad;
    bool far = true;
    for (float v : conv2d(x, w, b, 1, 1).to_vector()) far = far && std::abs(v) >= 0.05f;
    if (far) break;
  }
  check_grad([](const std::vector<Tensor>& v) { return conv2d_relu(v[0], v[1], v[2], 1, 1); }, {x, w, b});
}

TEST_CASE("conv2d_relu_maxpool2x2: the separate ops' values; inference only") {
  Generator gen(47);
  const Tensor x = Tensor::randn({2, 16, 7, 11}, gen), w = Tensor::randn({24, 16, 3, 3}, gen);
  const Tensor b = Tensor::randn({24}, gen);
  for (ConvAlgorithm algo : {ConvAlgorithm::Auto, ConvAlgorithm::Gemm}) {
    const Tensor fused = conv2d_relu_maxpool2x2(x, w, b, 1, 1, 1, algo);
    CHECK(fused.shape() == Shape{2, 24, 3, 5});
    CHECK(fused.to_vector() == max_pool2d(relu(conv2d(x, w, b, 1, 1, 1, algo)), 2).to_vector());
  }
  Tensor wg = w.clone().set_requires_grad(true);
  CHECK(error_of([&] { conv2d_relu_maxpool2x2(x, wg, b, 1, 1); }).find("inference only") != std::string::npos);
  {
    NoGradGuard no_grad;  // no graph is recorded: allowed
    CHECK(conv2d_relu_maxpool2x2(x, wg, b, 1, 1).to_vector() == conv2d_relu_maxpool2x2(x, w, b, 1, 1).to_vector());
  }
  CHECK(error_of([&] { conv2d_relu_maxpool2x2(Tensor::randn({1, 16, 3, 3}, gen), w, b, 1, 0); })
            .find("smaller than the 2x2 pooling window") != std::string::npos);
}

TEST_CASE("max_pool2d without a backward (no indices kept) returns the same values, NaN and ties included") {
  Generator gen(53);
  for (const Shape& shape : {Shape{2, 3, 7, 9}, Shape{1, 2, 28, 28}, Shape{3, 2, 6, 6}, Shape{1, 1, 5, 3}}) {
    std::vector<float> xv(static_cast<size_t>(numel_of(shape)));
    for (auto& v : xv) v = static_cast<float>(gen.below(3)) - 1.f;
    for (size_t i = 5; i < xv.size(); i += 41) xv[i] = std::nanf("");
    xv[1] = -0.f;
    Tensor x = Tensor::from_vector(xv, shape);
    Tensor xg = x.clone().set_requires_grad(true);
    for (int kernel : {2, 3}) {
      const auto with_indices = max_pool2d(xg, kernel).to_vector();  // records a node: keeps indices
      const auto values_only = max_pool2d(x, kernel).to_vector();
      REQUIRE(with_indices.size() == values_only.size());
      for (size_t i = 0; i < values_only.size(); ++i) {
        if (std::isnan(with_indices[i])) CHECK(std::isnan(values_only[i]));
        else CHECK(std::memcmp(&with_indices[i], &values_only[i], sizeof(float)) == 0);  // bits: -0 vs +0 too
      }
    }
  }
}

TEST_CASE("relu backward is 0 where x <= 0 even for an infinite or NaN upstream gradient (as PyTorch)") {
  Tensor x = Tensor::from_vector({-1.f, 0.f, 2.f, -3.f}, {4}).set_requires_grad(true);
  relu(x).backward(Tensor::from_vector({INFINITY, std::nanf(""), 5.f, -INFINITY}, {4}));
  CHECK(x.grad().to_vector() == std::vector<float>{0.f, 0.f, 5.f, 0.f});
}

// ---------------- gradient checks ----------------

TEST_CASE("conv2d gradcheck: padded with bias, strided without bias, grouped, pointwise, non-square kernel") {
  SUBCASE("3x3 pad 1 with bias") {
    check_grad([](const std::vector<Tensor>& v) { return conv2d(v[0], v[1], v[2], 1, 1); },
               {leaf({2, 3, 5, 4}, 1), leaf({4, 3, 3, 3}, 2), leaf({4}, 3)});
  }
  SUBCASE("stride 2 pad 1 without bias") {
    check_grad([](const std::vector<Tensor>& v) { return conv2d(v[0], v[1], Tensor(), 2, 1); },
               {leaf({2, 2, 7, 6}, 4), leaf({3, 2, 3, 3}, 5)});
  }
  SUBCASE("groups 2") {
    check_grad([](const std::vector<Tensor>& v) { return conv2d(v[0], v[1], v[2], 1, 1, 2); },
               {leaf({2, 4, 4, 4}, 6), leaf({6, 2, 3, 3}, 7), leaf({6}, 8)});
  }
  SUBCASE("1x1") {
    check_grad([](const std::vector<Tensor>& v) { return conv2d(v[0], v[1], v[2]); },
               {leaf({2, 3, 3, 4}, 9), leaf({5, 3, 1, 1}, 10), leaf({5}, 11)});
  }
  SUBCASE("non-square 2x3 kernel, stride 3, pad 2") {
    check_grad([](const std::vector<Tensor>& v) { return conv2d(v[0], v[1], v[2], 3, 2); },
               {leaf({1, 2, 6, 7}, 12), leaf({3, 2, 2, 3}, 13), leaf({3}, 14)});
  }
  SUBCASE("one input channel, 3x3 pad 0, 11 wide (the direct loops, a ragged vector)") {
    check_grad([](const std::vector<Tensor>& v) { return conv2d(v[0], v[1], v[2]); },
               {leaf({2, 1, 6, 11}, 17), leaf({3, 1, 3, 3}, 18), leaf({3}, 19)});
  }
  SUBCASE("only the weight requires grad") {
    Tensor x = leaf({2, 2, 4, 4}, 15);
    x.set_requires_grad(false);
    check_grad([](const std::vector<Tensor>& v) { return conv2d(v[0], v[1], Tensor(), 1, 1); },
               {x, leaf({2, 2, 3, 3}, 16)});
  }
}

TEST_CASE("batch_norm2d gradcheck: training with and without affine, eval") {
  SUBCASE("training, affine") {
    Tensor rm = Tensor::zeros({3}), rv = Tensor::ones({3});
    check_grad([&](const std::vector<Tensor>& v) { return batch_norm2d(v[0], v[1], v[2], rm, rv, true); },
               {leaf({3, 3, 3, 2}, 21, -2.f, 3.f), leaf({3}, 22, 0.5f, 1.5f), leaf({3}, 23)});
  }
  SUBCASE("training, no affine, no running stats") {
    check_grad([](const std::vector<Tensor>& v) { return batch_norm2d(v[0], Tensor(), Tensor(), Tensor(), Tensor(), true); },
               {leaf({2, 2, 3, 3}, 24)});
  }
  SUBCASE("eval") {
    Tensor rm = Tensor::from_vector({0.1f, -0.3f}, {2}), rv = Tensor::from_vector({0.7f, 1.9f}, {2});
    check_grad([&](const std::vector<Tensor>& v) { return batch_norm2d(v[0], v[1], v[2], rm, rv, false); },
               {leaf({2, 2, 3, 3}, 25), leaf({2}, 26), leaf({2}, 27)});
  }
}

TEST_CASE("pooling gradcheck: max (distinct values), avg with padding, global avg") {
  SUBCASE("max 2x2") {
    check_grad([](const std::vector<Tensor>& v) { return max_pool2d(v[0], 2); }, {leaf({2, 2, 4, 6}, 31)});
  }
  SUBCASE("max 3x3 stride 2 pad 1") {
    check_grad([](const std::vector<Tensor>& v) { return max_pool2d(v[0], 3, 2, 1); }, {leaf({1, 2, 5, 5}, 32)});
  }
  SUBCASE("avg 3x3 stride 2 pad 1") {
    check_grad([](const std::vector<Tensor>& v) { return avg_pool2d(v[0], 3, 2, 1); }, {leaf({2, 2, 5, 6}, 33)});
  }
  SUBCASE("avg 2x2") {
    check_grad([](const std::vector<Tensor>& v) { return avg_pool2d(v[0], 2); }, {leaf({1, 3, 4, 4}, 34)});
  }
  SUBCASE("global avg") {
    check_grad([](const std::vector<Tensor>& v) { return global_avg_pool2d(v[0]); }, {leaf({2, 3, 3, 2}, 35)});
  }
}

TEST_CASE("dropout gradcheck with a fixed mask") {
  check_grad(
      [](const std::vector<Tensor>& v) {
        Generator gen(99);  // the same mask on every evaluation
        return dropout(v[0], 0.4f, true, gen);
      },
      {leaf({2, 3, 4}, 41)});
}

// ---------------- closed-form behaviour ----------------

TEST_CASE("max_pool2d ties go to the first maximum in the window, deterministically") {
  // Every 2x2 window holds four equal values: the gradient must land on its top-left element.
  Tensor x = Tensor::full({1, 1, 4, 4}, 2.f);
  x.set_requires_grad(true);
  Tensor y = max_pool2d(x, 2);
  y.backward(Tensor::from_vector({1.f, 2.f, 3.f, 4.f}, {1, 1, 2, 2}));
  const std::vector<float> expected = {1, 0, 2, 0, 0, 0, 0, 0, 3, 0, 4, 0, 0, 0, 0, 0};
  CHECK(x.grad().to_vector() == expected);
  CHECK(y.to_vector() == std::vector<float>{2, 2, 2, 2});

  // Overlapping 3x3 windows with padding over a plateau: each window's first in-image element wins.
  Tensor z = Tensor::full({1, 1, 3, 3}, -1.f);
  z.set_requires_grad(true);
  max_pool2d(z, 3, 1, 1).backward(Tensor::ones({1, 1, 3, 3}));
  // Window (p, q) starts at (max(p-1, 0), max(q-1, 0)): (0,0) wins 4 windows, (0,1) and (1,0) two, (1,1) one.
  const std::vector<float> expected_z = {4, 2, 0, 2, 1, 0, 0, 0, 0};
  CHECK(z.grad().to_vector() == expected_z);
}

TEST_CASE("max_pool2d 2x2 stride 2 (the unrolled path) matches the row-major first-max rule, with ties and NaN") {
  // Values in {0, 1, 2} make ties common; a few NaNs must take over their windows. Odd sizes leave
  // the last row and column outside every window (floor mode).
  Generator gen(5);
  const int64_t N = 2, C = 3, H = 7, W = 9, P = 3, Q = 4;
  std::vector<float> xv(static_cast<size_t>(N * C * H * W));
  for (auto& v : xv) v = static_cast<float>(gen.below(3));
  for (size_t i = 11; i < xv.size(); i += 97) xv[i] = std::nanf("");
  Tensor x = Tensor::from_vector(xv, {N, C, H, W});
  x.set_requires_grad(true);
  Tensor y = max_pool2d(x, 2);
  REQUIRE(y.shape() == Shape{N, C, P, Q});
  std::vector<float> dyv(static_cast<size_t>(N * C * P * Q));
  for (size_t i = 0; i < dyv.size(); ++i) dyv[i] = static_cast<float>(i + 1);
  y.backward(Tensor::from_vector(dyv, y.shape()));
  std::vector<float> expect_y(dyv.size()), expect_dx(xv.size(), 0.f);
  for (int64_t pl = 0; pl < N * C; ++pl)
    for (int64_t p = 0; p < P; ++p)
      for (int64_t q = 0; q < Q; ++q) {
        int64_t bi = pl * H * W + 2 * p * W + 2 * q;
        for (int64_t h = 2 * p; h < 2 * p + 2; ++h)
          for (int64_t w = 2 * q; w < 2 * q + 2; ++w) {
            const int64_t i = pl * H * W + h * W + w;
            if (i != bi && (xv[i] > xv[bi] || std::isnan(xv[i]))) bi = i;
          }
        const size_t o = static_cast<size_t>(pl * P * Q + p * Q + q);
        expect_y[o] = xv[bi];
        expect_dx[bi] += dyv[o];
      }
  const std::vector<float> got = y.to_vector();
  for (size_t i = 0; i < got.size(); ++i) {
    if (std::isnan(expect_y[i])) CHECK(std::isnan(got[i]));
    else CHECK(got[i] == expect_y[i]);
  }
  CHECK(x.grad().to_vector() == expect_dx);
}

TEST_CASE("avg_pool2d counts padding in the divisor (count_include_pad)") {
  Tensor x = Tensor::ones({1, 1, 2, 2});
  const std::vector<float> y = avg_pool2d(x, 3, 1, 1).to_vector();
  // Each 3x3 window over the zero-padded 4x4 sees all four ones: 4/9 everywhere.
  for (float v : y) CHECK(v == doctest::Approx(4.0 / 9.0).epsilon(1e-6));
}

TEST_CASE("batch_norm2d_relu equals relu(batch_norm2d): forward, backward, running stats, eval") {
  Generator gen(8);
  const Tensor x0 = Tensor::randn({4, 3, 5, 6}, gen), g0 = Tensor::randn({3}, gen), b0 = Tensor::randn({3}, gen);
  const Tensor dout = Tensor::randn({4, 3, 5, 6}, gen);
  auto run = [&](bool fused, bool training) {
    Tensor x = x0.clone().set_requires_grad(true), g = g0.clone().set_requires_grad(true);
    Tensor b = b0.clone().set_requires_grad(true);
    Tensor rm = Tensor::from_vector({0.1f, -0.2f, 0.3f}, {3}), rv = Tensor::from_vector({1.5f, 0.5f, 2.f}, {3});
    Tensor y = fused ? batch_norm2d_relu(x, g, b, rm, rv, training, 0.2f)
                     : relu(batch_norm2d(x, g, b, rm, rv, training, 0.2f));
    y.backward(dout);
    return std::vector<Tensor>{y, x.grad(), g.grad(), b.grad(), rm, rv};
  };
  for (bool training : {true, false}) {
    CAPTURE(training);
    const auto fused = run(true, training), plain = run(false, training);
    const char* names[] = {"out", "dx", "dgamma", "dbeta", "running_mean", "running_var"};
    for (size_t i = 0; i < fused.size(); ++i) {
      const std::string name = names[i];
      CAPTURE(name);
      const auto a = fused[i].to_vector(), b = plain[i].to_vector();
      REQUIRE(a.size() == b.size());
      float worst = 0.f;  // max |a - b| / (1 + |b|)
      for (size_t k = 0; k < a.size(); ++k) worst = std::max(worst, std::abs(a[k] - b[k]) / (1.f + std::abs(b[k])));
      // The same float operations; FMA contraction, and in a portable build (no AVX2) the way the
      // masked and the unmasked gradient-sum loops vectorise, may differ: measured 1.7e-6 absolute
      // on a dgamma of this size there, 0 with AVX2.
      CHECK(worst <= 1e-6f);
    }
    size_t zeros = 0;
    for (float v : fused[0].to_vector()) zeros += v == 0.f;
    CHECK(zeros > 20);  // the ReLU mask is exercised
  }
  SUBCASE("eval without gradient takes the fused kernel and matches") {
    NoGradGuard no_grad;
    Tensor rm = Tensor::from_vector({0.1f, -0.2f, 0.3f}, {3}), rv = Tensor::from_vector({1.5f, 0.5f, 2.f}, {3});
    const auto a = batch_norm2d_relu(x0, g0, b0, rm, rv, false).to_vector();
    const auto b = relu(batch_norm2d(x0, g0, b0, rm, rv, false)).to_vector();
    for (size_t k = 0; k < a.size(); ++k) CHECK(std::abs(a[k] - b[k]) <= 1e-6f);
  }
}

TEST_CASE("batch_norm2d_relu_maxpool2x2 equals max_pool2d(relu(batch_norm2d)): values, gradients, running stats") {
  Generator gen(12);
  // Even and odd maps (an odd last row / column is normalised but never pooled), the smallest map,
  // with and without the affine parameters.
  const std::vector<Shape> shapes = {{4, 3, 6, 8}, {3, 2, 5, 7}, {5, 2, 2, 2}, {2, 4, 17, 33}};
  size_t zero_windows = 0, kept_windows = 0, dx_nonzero = 0, dx_total = 0;
  for (const Shape& shape : shapes) {
    for (bool affine : {true, false}) {
      CAPTURE(shape_str(shape));
      CAPTURE(affine);
      const int64_t C = shape[1];
      const Tensor x0 = Tensor::randn(shape, gen), g0 = Tensor::randn({C}, gen), b0 = Tensor::randn({C}, gen);
      const Tensor dout = Tensor::randn({shape[0], C, shape[2] / 2, shape[3] / 2}, gen);
      auto run = [&](bool fused) {
        Tensor x = x0.clone().set_requires_grad(true);
        Tensor g = affine ? g0.clone().set_requires_grad(true) : Tensor();
        Tensor b = affine ? b0.clone().set_requires_grad(true) : Tensor();
        Tensor rm = Tensor::zeros({C}), rv = Tensor::ones({C});
        Tensor y = fused ? batch_norm2d_relu_maxpool2x2(x, g, b, rm, rv, true, 0.3f)
                         : max_pool2d(batch_norm2d_relu(x, g, b, rm, rv, true, 0.3f), 2);
        y.backward(dout);
        std::vector<std::vector<float>> r = {y.to_vector(), x.grad().to_vector(), rm.to_vector(), rv.to_vector()};
        if (affine) {
          r.push_back(g.grad().to_vector());
          r.push_back(b.grad().to_vector());
        }
        return r;
      };
      const auto fused = run(true), plain = run(false);
      const char* names[] = {"out", "dx", "running_mean", "running_var", "dgamma", "dbeta"};
      for (size_t i = 0; i < fused.size(); ++i) {
        const std::string name = names[i];
        CAPTURE(name);
        REQUIRE(fused[i].size() == plain[i].size());
        float worst = 0.f;  // max |a - b| / (1 + |b|)
        for (size_t k = 0; k < fused[i].size(); ++k)
          worst = std::max(worst, std::abs(fused[i][k] - plain[i][k]) / (1.f + std::abs(plain[i][k])));
        CHECK(worst == 0.f);  // the same row loops on the same floats: the same bits
      }
      for (float v : fused[0]) (v == 0.f ? zero_windows : kept_windows) += 1;
      for (float v : fused[1]) dx_nonzero += v != 0.f;
      dx_total += fused[1].size();
    }
  }
  // Over all cases: windows whose maximum the ReLU zeroed and windows it kept, and dx reaching the
  // non-winners too (b x + d), not only the quarter of the elements that won their window.
  CHECK(zero_windows > 20);
  CHECK(kept_windows > 20);
  CHECK(dx_nonzero > dx_total / 2);
  SUBCASE("eval mode runs the three ops; a map under 2x2 is refused by the fused op's name") {
    const Tensor x = Tensor::randn({2, 3, 4, 4}, gen);
    const Tensor rm = Tensor::from_vector({0.1f, -0.2f, 0.3f}, {3}), rv = Tensor::from_vector({1.5f, 0.5f, 2.f}, {3});
    const auto a = batch_norm2d_relu_maxpool2x2(x, Tensor(), Tensor(), rm, rv, false).to_vector();
    const auto b = max_pool2d(relu(batch_norm2d(x, Tensor(), Tensor(), rm, rv, false)), 2).to_vector();
    CHECK(a == b);
    const Tensor thin = Tensor::randn({4, 3, 1, 6}, gen);  // H < 2: no 2x2 window (it was max_pool2d's error)
    for (bool training : {true, false}) {
      const std::string e = error_of([&] { batch_norm2d_relu_maxpool2x2(thin, Tensor(), Tensor(), rm, rv, training); });
      CHECK(contains(e, "batch_norm2d_relu_maxpool2x2: the 2x2 max pool needs maps of at least 2x2"));
      CHECK(contains(e, "(4, 3, 1, 6)"));
    }
  }
  SUBCASE("argument errors name the fused op") {
    const Tensor x = Tensor::randn({2, 3, 4, 4}, gen);
    CHECK(error_of([&] { batch_norm2d_relu_maxpool2x2(Tensor::randn({3, 4, 4}, gen), Tensor(), Tensor(), Tensor(),
                                                      Tensor(), true); })
              .find("batch_norm2d_relu_maxpool2x2") != std::string::npos);
    CHECK(error_of([&] { batch_norm2d_relu_maxpool2x2(x, Tensor::ones({2}), Tensor(), Tensor(), Tensor(), true); })
              .find("batch_norm2d_relu_maxpool2x2") != std::string::npos);
  }
}

TEST_CASE("batch_norm2d_relu_maxpool2x2 gradcheck (away from the ReLU kink and from ties in a window)") {
  Tensor x, g, b;
  for (uint64_t seed = 0;; ++seed) {
    REQUIRE(seed < 500);
    x = leaf({2, 2, 4, 6}, 70 + seed);
    g = leaf({2}, 330 + seed, 0.5f, 1.5f);
    b = leaf({2}, 530 + seed, -0.5f, 0.5f);
    NoGradGuard no_grad;
    const auto z = batch_norm2d(x, g, b, Tensor(), Tensor(), true).to_vector();  // (2, 2, 4, 6)
    bool far = true;
    for (float v : z) far = far && std::abs(v) >= 0.05f;
    for (int64_t plane = 0; plane < 4 && far; ++plane)  // each window's largest value leads by 0.05
      for (int64_t p = 0; p < 2; ++p)
        for (int64_t q = 0; q < 3; ++q) {
          std::vector<float> w;
          for (int64_t i = 0; i < 2; ++i)
            for (int64_t j = 0; j < 2; ++j) w.push_back(z[static_cast<size_t>(plane * 24 + (2 * p + i) * 6 + 2 * q + j)]);
          std::sort(w.begin(), w.end());
          far = far && (w[3] <= 0.f || w[3] - w[2] >= 0.05f);
        }
    if (far) break;
  }
  check_grad([](const std::vector<Tensor>& v) {
    return batch_norm2d_relu_maxpool2x2(v[0], v[1], v[2], Tensor(), Tensor(), true);
  }, {x, g, b});
}

TEST_CASE("add_relu equals relu(add): values, both gradients, broadcasting, errors") {
  Generator gen(9);
  const Tensor a0 = Tensor::randn({3, 4, 5, 7}, gen), b0 = Tensor::randn({3, 4, 5, 7}, gen);
  const Tensor dout = Tensor::randn({3, 4, 5, 7}, gen);
  auto run = [&](bool fused, const Tensor& b_init) {
    Tensor a = a0.clone().set_requires_grad(true), b = b_init.clone().set_requires_grad(true);
    Tensor y = fused ? add_relu(a, b) : relu(add(a, b));
    y.backward(dout);
    return std::vector<std::vector<float>>{y.to_vector(), a.grad().to_vector(), b.grad().to_vector()};
  };
  // Same shapes: the fused CPU pass; then b per channel (1, 4, 1, 1): the composed broadcasting path.
  for (const Tensor& b_init : {b0, Tensor::randn({1, 4, 1, 1}, gen)}) {
    CAPTURE(b_init.numel());
    const auto fused = run(true, b_init), plain = run(false, b_init);
    for (size_t i = 0; i < fused.size(); ++i) {
      CAPTURE(i);  // 0 out, 1 da, 2 db
      REQUIRE(fused[i].size() == plain[i].size());
      for (size_t k = 0; k < fused[i].size(); ++k) CHECK(fused[i][k] == plain[i][k]);  // the same float operations
    }
    size_t zeros = 0, positives = 0;
    for (float v : fused[0]) (v == 0.f ? zeros : positives) += 1;
    CHECK(zeros > 100);  // the mask is exercised on both sides
    CHECK(positives > 100);
  }
  // Values against the definition (exact sums: small binary fractions).
  const Tensor x = Tensor::from_vector({1.f, -2.f, 0.5f, -0.5f, 3.f}, {5});
  const Tensor y = Tensor::from_vector({1.f, 1.f, -0.5f, 0.25f, -4.f}, {5});
  const std::vector<float> want = {2.f, 0.f, 0.f, 0.f, 0.f};
  CHECK(add_relu(x, y).to_vector() == want);
  const std::string mismatch = error_of([&] { add_relu(x, Tensor::ones({4})); });
  CHECK(mismatch.find("add_relu") != std::string::npos);
  CHECK(mismatch.find("(5,) and (4,)") != std::string::npos);
  CHECK(error_of([&] { add_relu(Tensor(), x); }).find("add_relu") != std::string::npos);
}

TEST_CASE("add_relu gradcheck (sums away from the ReLU kink)") {
  Tensor a, b;
  for (uint64_t seed = 0;; ++seed) {
    REQUIRE(seed < 200);
    a = leaf({2, 3, 3, 4}, 80 + seed);
    b = leaf({2, 3, 3, 4}, 400 + seed);
    NoGradGuard no_grad;
    bool far = true;
    for (float v : add(a, b).to_vector()) far = far && std::abs(v) >= 0.05f;
    if (far) break;
  }
  check_grad([](const std::vector<Tensor>& v) { return add_relu(v[0], v[1]); }, {a, b});
}

TEST_CASE("batch_norm2d_relu gradcheck (inputs whose normalised values stay away from the ReLU kink)") {
  // Finite differences across the kink at 0 are meaningless: pick the first seed whose batch-norm
  // outputs all have |z| >= 0.05, so each central difference (step 1e-3) stays on one side.
  Tensor x, g, b;
  for (uint64_t seed = 0;; ++seed) {
    REQUIRE(seed < 200);
    x = leaf({2, 2, 3, 3}, 60 + seed);
    g = leaf({2}, 300 + seed, 0.5f, 1.5f);
    b = leaf({2}, 500 + seed, -0.5f, 0.5f);
    NoGradGuard no_grad;
    const auto z = batch_norm2d(x, g, b, Tensor(), Tensor(), true).to_vector();
    bool far = true;
    for (float v : z) far = far && std::abs(v) >= 0.05f;
    if (far) break;
  }
  check_grad([](const std::vector<Tensor>& v) { return batch_norm2d_relu(v[0], v[1], v[2], Tensor(), Tensor(), true); },
             {x, g, b});
}

TEST_CASE("batch_norm2d training: zero mean, unit variance, running stats update") {
  Tensor x = leaf({4, 2, 3, 3}, 51, -3.f, 5.f);
  Tensor rm = Tensor::zeros({2}), rv = Tensor::ones({2});
  const std::vector<float> xv = x.to_vector();
  const std::vector<float> y = batch_norm2d(x, Tensor(), Tensor(), rm, rv, true, 0.25f, 1e-5f).to_vector();
  for (int c = 0; c < 2; ++c) {
    double s = 0, s2 = 0, xs = 0, xs2 = 0;
    for (int n = 0; n < 4; ++n)
      for (int i = 0; i < 9; ++i) {
        const size_t k = (n * 2 + c) * 9 + i;
        s += y[k];
        s2 += double(y[k]) * y[k];
        xs += xv[k];
        xs2 += double(xv[k]) * xv[k];
      }
    CHECK(std::abs(s / 36) < 1e-6);
    CHECK(s2 / 36 == doctest::Approx(1.0).epsilon(1e-4));  // var / (var + eps)
    const double mean = xs / 36, var = xs2 / 36 - mean * mean;
    CHECK(rm.to_vector()[c] == doctest::Approx(0.25 * mean).epsilon(1e-5));
    CHECK(rv.to_vector()[c] == doctest::Approx(0.75 + 0.25 * var * 36 / 35).epsilon(1e-5));
  }
}

TEST_CASE("batch_norm2d training statistics: exact for a large mean and rows with different means") {
  // x = 1000 + 0.01 n + noise in [-0.05, 0.05]: the variance (~4e-4) is 1e-9 of mean^2, so E[x^2] - mean^2
  // in double would keep ~7 digits, in float none; the row means differ, so the variance between rows
  // counts. Reference: two passes in long double over the same floats.
  const int64_t N = 64, C = 2, HW = 50;
  Generator gen(13);
  std::vector<float> in(N * C * HW), out(in.size()), mean(C), invstd(C);
  for (int64_t n = 0; n < N; ++n)
    for (int64_t i = 0; i < C * HW; ++i) in[n * C * HW + i] = 1000.f + 0.01f * n + gen.uniform(-0.05f, 0.05f);
  cpu::batchnorm2d_forward_train(out.data(), mean.data(), invstd.data(), in.data(), nullptr, nullptr, N, C, HW, 0.f);
  for (int64_t c = 0; c < C; ++c) {
    long double sum = 0, sq = 0;
    for (int64_t n = 0; n < N; ++n)
      for (int64_t i = 0; i < HW; ++i) sum += in[(n * C + c) * HW + i];
    const long double m = sum / (N * HW);
    for (int64_t n = 0; n < N; ++n)
      for (int64_t i = 0; i < HW; ++i) sq += (in[(n * C + c) * HW + i] - m) * (in[(n * C + c) * HW + i] - m);
    const double var = static_cast<double>(sq / (N * HW));
    CAPTURE(c);
    CHECK(mean[c] == doctest::Approx(static_cast<double>(m)).epsilon(1e-7));
    CHECK(1.0 / (double(invstd[c]) * invstd[c]) == doctest::Approx(var).epsilon(1e-4));
  }
}

// The float64 batch norm of float inputs x (N, C, HW), per channel: mean, invstd, and for the upstream
// gradient dy, out = gamma xhat + beta, din = gamma invstd / M (M dy - sum dy - xhat sum dy xhat),
// xhat = (x - mean) invstd, all in double from the floats (the independent computation).
struct BnTruth {
  std::vector<double> mean, invstd, sum_dy, sum_dy_xhat, out, din;
};
BnTruth batch_norm_in_double(const std::vector<float>& x, const std::vector<float>& dy, const std::vector<float>& gamma,
                             const std::vector<float>& beta, int64_t N, int64_t C, int64_t HW, double eps) {
  BnTruth t;
  t.out.resize(x.size());
  t.din.resize(x.size());
  const double M = static_cast<double>(N * HW);
  for (int64_t c = 0; c < C; ++c) {
    auto at = [&](int64_t n, int64_t i) { return static_cast<size_t>((n * C + c) * HW + i); };
    double sum = 0, sq = 0, sdy = 0, sdyx = 0;
    for (int64_t n = 0; n < N; ++n)
      for (int64_t i = 0; i < HW; ++i) sum += x[at(n, i)];
    const double mean = sum / M;
    for (int64_t n = 0; n < N; ++n)
      for (int64_t i = 0; i < HW; ++i) sq += (x[at(n, i)] - mean) * (x[at(n, i)] - mean);
    const double invstd = 1.0 / std::sqrt(sq / M + eps);
    for (int64_t n = 0; n < N; ++n)
      for (int64_t i = 0; i < HW; ++i) {
        sdy += dy[at(n, i)];
        sdyx += dy[at(n, i)] * (x[at(n, i)] - mean) * invstd;
      }
    const double g = gamma[static_cast<size_t>(c)];
    for (int64_t n = 0; n < N; ++n)
      for (int64_t i = 0; i < HW; ++i) {
        const double xhat = (x[at(n, i)] - mean) * invstd;
        t.out[at(n, i)] = g * xhat + beta[static_cast<size_t>(c)];
        t.din[at(n, i)] = g * invstd / M * (M * dy[at(n, i)] - sdy - xhat * sdyx);
      }
    t.mean.push_back(mean);
    t.invstd.push_back(invstd);
    t.sum_dy.push_back(sdy);
    t.sum_dy_xhat.push_back(sdyx);
  }
  return t;
}

double float_spacing(double v) {  // the distance from |v| (as a float) to the next float up
  const float f = static_cast<float>(std::fabs(v));
  return static_cast<double>(std::nextafter(f, INFINITY) - f);
}

TEST_CASE("batch_norm2d at a mean far above its spread: output and input gradient within their float roundings") {
  // x = 1e6 + k/4 (k ~ 4 * 0.7 z rounded): float spacing 0.0625 at 1e6, 0.25 at gamma invstd 1e6.
  // 2x2 planes: every row sum (4 values, multiples of 1/4 below 2^22) is exact in float whatever the
  // order of the lanes, so each kernel's batch mean is exact and the output's error is the fold's own:
  // x * scale + shift, shift = beta - mean * scale (PyTorch's arithmetic too). With shift computed
  // from the float scale the rows multiply by, that is (x - mean) * scale + beta up to shift's one
  // rounding, half a spacing of mean * scale: the bound (plus, in eval, the float running mean's
  // error times scale; without FMA the product's rounding, as much again). Computed from the unrounded gamma invstd, scale's rounding times x ~ 1e6 came
  // on top (0.21 against the bound 0.125 on the AVX-512 kernels, gamma = 2). The input gradient a dy + b (x - mean)
  // + d is bounded by the float mean's rounding carried through xhat (derivative below); folded into
  // b x + (d - b mean) it exceeded that bound with the ReLU's mask (2.4x at AVX2 / AVX-512, 1.1x at
  // the generic level; without the ReLU it stayed within it).
  // Every fast path (train, eval, fused with ReLU, with ReLU + pool) and the reference mode.
  const int64_t N = 36, C = 3, H = 2, W = 2, HW = H * W;
  const double M = static_cast<double>(N * HW);
  Generator gen(29);
  std::vector<float> xv(static_cast<size_t>(N * C * HW)), dyv(xv.size());
  for (auto& v : xv) v = 1e6f + std::round(4.f * 0.7f * gen.normal()) / 4.f;
  for (auto& v : dyv) v = gen.uniform(-1.f, 1.f);
  const std::vector<float> gamma = {1.f, 0.5f, 2.f}, beta = {0.25f, -1.f, 3.f};
  const BnTruth truth = batch_norm_in_double(xv, dyv, gamma, beta, N, C, HW, 1e-5);
  std::vector<float> running_mean(C), running_var(C);  // eval: the batch statistics as floats
  for (size_t c = 0; c < static_cast<size_t>(C); ++c) {
    running_mean[c] = static_cast<float>(truth.mean[c]);
    running_var[c] = static_cast<float>(1.0 / (truth.invstd[c] * truth.invstd[c]) - 1e-5);
  }
  for (const auto mode : {KernelMode::Fast, KernelMode::Reference}) {
    KernelModeGuard guard(mode);
    for (const std::string op : {"bn", "bn_relu", "bn_relu_pool", "bn_eval", "bn_relu_eval"}) {
      const std::string mode_name = kernel_mode_name(mode);
      CAPTURE(mode_name);
      CAPTURE(op);
      const bool eval = op.find("eval") != std::string::npos, relu = op != "bn" && op != "bn_eval";
      Tensor x = Tensor::from_vector(xv, {N, C, H, W}).set_requires_grad(!eval);
      Tensor g = Tensor::from_vector(gamma, {C}), b = Tensor::from_vector(beta, {C});
      // momentum 1 in training: running_mean becomes the op's own float batch mean (the backward's)
      Tensor rm = Tensor::from_vector(running_mean, {C}), rv = Tensor::from_vector(running_var, {C});
      Tensor y = op == "bn" || op == "bn_eval" ? batch_norm2d(x, g, b, rm, rv, !eval, 1.f)
                 : op == "bn_relu_pool"         ? batch_norm2d_relu_maxpool2x2(x, g, b, rm, rv, true, 1.f)
                                                : batch_norm2d_relu(x, g, b, rm, rv, !eval, 1.f);
      const std::vector<float> out = y.to_vector(), mean_used = rm.to_vector();
      // The generic kernels (baseline x86-64) and the reference loops have no FMA: x * scale rounds too.
      const bool fma = mode == KernelMode::Fast && cpu_isa() != CpuIsa::Generic;
      std::vector<double> mean_err(C), bound(C);  // per channel: |float mean - mean|, the output bound
      for (size_t c = 0; c < static_cast<size_t>(C); ++c) {
        const double scale = gamma[c] * truth.invstd[c], shift_spacing = float_spacing(truth.mean[c] * scale);
        mean_err[c] = std::fabs(mean_used[c] - truth.mean[c]);
        // eval, and the reference loops in training, fold the float mean (the fast kernels the double one)
        const double float_mean_err = eval ? mean_err[c] : mode == KernelMode::Reference ? 0.5 * float_spacing(truth.mean[c]) : 0.0;
        bound[c] = (fma ? 0.5 : 1.0) * shift_spacing + float_mean_err * scale + 1e-6;
      }
      if (op == "bn_relu_pool") {  // the pooled values: the max of relu(out) over each 2x2 window
        for (int64_t n = 0; n < N; ++n)
          for (int64_t c = 0; c < C; ++c)
            for (int64_t p = 0; p < H / 2; ++p)
              for (int64_t q = 0; q < W / 2; ++q) {
                double m = 0;
                for (int64_t i = 0; i < 2; ++i)
                  for (int64_t j = 0; j < 2; ++j)
                    m = std::max(m, truth.out[static_cast<size_t>(((n * C + c) * H + 2 * p + i) * W + 2 * q + j)]);
                const float got = out[static_cast<size_t>(((n * C + c) * (H / 2) + p) * (W / 2) + q)];
                CHECK(std::fabs(got - m) <= bound[static_cast<size_t>(c)]);
              }
      } else {
        double worst = 0;  // the largest error / bound
        for (size_t i = 0; i < out.size(); ++i) {
          const size_t c = (i / static_cast<size_t>(HW)) % static_cast<size_t>(C);
          const double want = relu ? std::max(truth.out[i], 0.0) : truth.out[i];
          worst = std::max(worst, std::fabs(out[i] - want) / bound[c]);
        }
        CHECK(worst <= 1.0);
      }
      if (eval || op == "bn_relu_pool") continue;  // the pool's gradient is checked by its own cases
      y.backward(Tensor::from_vector(dyv, {N, C, H, W}));
      const std::vector<float> din = x.grad().to_vector();
      // With the ReLU: dy masked where our output is 0 (an element within the error bound of the
      // kink may fall either way; the mask is the forward's, the gradient through it is checked).
      std::vector<float> dy_masked(dyv);
      if (relu)
        for (size_t i = 0; i < out.size(); ++i) dy_masked[i] = out[i] > 0.f ? dyv[i] : 0.f;
      const BnTruth want = batch_norm_in_double(xv, dy_masked, gamma, beta, N, C, HW, 1e-5);
      // A mean error e moves xhat by -e invstd everywhere and sum dy xhat by -e invstd sum dy:
      // |d din| <= gamma invstd^2 e (|sum dy xhat| + max|xhat| |sum dy|) / M; e is the error of the
      // float mean the backward subtracts (at least half its spacing).
      double worst = 0, din_scale = 0;
      for (size_t i = 0; i < din.size(); ++i) {
        const size_t c = (i / static_cast<size_t>(HW)) % static_cast<size_t>(C);
        const double e = std::max(mean_err[c], 0.5 * float_spacing(truth.mean[c]));
        const double inv = want.invstd[c], max_xhat = 4.0;  // |z| < 4 for these 144 normal draws
        const double b = gamma[c] * inv * inv * e * (std::fabs(want.sum_dy_xhat[c]) + max_xhat * std::fabs(want.sum_dy[c])) / M;
        worst = std::max(worst, std::fabs(din[i] - want.din[i]) / (b + 1e-5 * std::fabs(want.din[i]) + 1e-6));
        din_scale = std::max(din_scale, std::fabs(want.din[i]));
      }
      CAPTURE(din_scale);
      CHECK(worst <= 1.0);
    }
  }
}

TEST_CASE("batch_norm2d kernels give the same bits with 1 and 2 threads (rows split between threads)") {
  const int64_t N = 9, C = 5, HW = 37 * 11;  // odd sizes: the row split falls mid-image
  Generator gen(17);
  const std::vector<float> in = random_values(N * C * HW, gen), dout = random_values(N * C * HW, gen);
  const std::vector<float> gamma = random_values(C, gen), beta = random_values(C, gen);
  const int saved = get_num_threads();
  std::vector<std::vector<float>> results[2];
  for (int threads : {1, 2}) {
    set_num_threads(threads);
    std::vector<float> out(in.size()), mean(C), invstd(C), affine(2 * C), din(in.size()), dg(C), db(C);
    cpu::batchnorm2d_relu_forward_train(out.data(), mean.data(), invstd.data(), affine.data(), in.data(), gamma.data(),
                                        beta.data(), N, C, HW, 1e-5f);
    cpu::batchnorm2d_relu_backward(din.data(), dg.data(), db.data(), dout.data(), affine.data(), in.data(),
                                   gamma.data(), mean.data(), invstd.data(), N, C, HW);
    results[threads - 1] = {out, mean, invstd, affine, din, dg, db};
  }
  set_num_threads(saved);
  for (size_t i = 0; i < results[0].size(); ++i) {
    CAPTURE(i);
    REQUIRE(results[0][i].size() == results[1][i].size());
    CHECK(std::memcmp(results[0][i].data(), results[1][i].data(), results[0][i].size() * sizeof(float)) == 0);
  }
  CHECK(std::count(results[0][0].begin(), results[0][0].end(), 0.f) > 0);  // the ReLU masks some gradients
}

TEST_CASE("dropout: eval is the identity, masks follow the generator, survivors are scaled") {
  Tensor x = Tensor::ones({100, 100});
  Generator g0(5);
  CHECK(dropout(x, 0.5f, false, g0).same_as(x));
  Generator g1(5), g2(5);
  const std::vector<float> a = dropout(x, 0.3f, true, g1).to_vector(), b = dropout(x, 0.3f, true, g2).to_vector();
  CHECK(a == b);
  int zeros = 0;
  for (float v : a) {
    if (v == 0.f) ++zeros;
    else CHECK(v == doctest::Approx(1.0 / 0.7));
  }
  // 10^4 Bernoulli(0.3) draws: std 46, so +-5 sigma is about +-230.
  CHECK(std::abs(zeros - 3000) < 230);
  Generator g3(6);
  for (float v : dropout(x, 1.f, true, g3).to_vector()) CHECK(v == 0.f);
}

// ---------------- argument errors ----------------

TEST_CASE("nn ops reject bad arguments with messages naming the op and the shapes") {
  Tensor x = Tensor::zeros({2, 3, 5, 5}), w = Tensor::zeros({4, 3, 3, 3});
  std::string msg = error_of([&] { conv2d(Tensor::zeros({2, 3, 5}), w, Tensor()); });
  CHECK(msg.find("conv2d") != std::string::npos);
  CHECK(msg.find("(2, 3, 5)") != std::string::npos);

  msg = error_of([&] { conv2d(x, Tensor::zeros({4, 2, 3, 3}), Tensor()); });
  CHECK(msg.find("conv2d") != std::string::npos);
  CHECK(msg.find("(2, 3, 5, 5)") != std::string::npos);
  CHECK(msg.find("(4, 2, 3, 3)") != std::string::npos);

  msg = error_of([&] { conv2d(x, w, Tensor::zeros({5})); });
  CHECK(msg.find("bias") != std::string::npos);
  CHECK(msg.find("(5,)") != std::string::npos);

  msg = error_of([&] { conv2d(Tensor::zeros({1, 4, 5, 5}), Tensor::zeros({3, 2, 3, 3}), Tensor(), 1, 0, 2); });
  CHECK(msg.find("groups") != std::string::npos);

  msg = error_of([&] { conv2d(Tensor::zeros({1, 3, 2, 2}), w, Tensor()); });
  CHECK(msg.find("larger than the padded input") != std::string::npos);
  CHECK(msg.find("(1, 3, 2, 2)") != std::string::npos);

  msg = error_of([&] { batch_norm2d(x, Tensor::ones({4}), Tensor(), Tensor(), Tensor(), true); });
  CHECK(msg.find("batch_norm2d") != std::string::npos);
  CHECK(msg.find("(4,)") != std::string::npos);
  CHECK(msg.find("(2, 3, 5, 5)") != std::string::npos);

  msg = error_of([&] { batch_norm2d(Tensor::zeros({1, 2, 1, 1}), Tensor(), Tensor(), Tensor(), Tensor(), true); });
  CHECK(msg.find("more than 1 value per channel") != std::string::npos);

  msg = error_of([&] { batch_norm2d(x, Tensor(), Tensor(), Tensor(), Tensor(), false); });
  CHECK(msg.find("running_mean") != std::string::npos);

  msg = error_of([&] { max_pool2d(Tensor::zeros({3, 4, 4}), 2); });
  CHECK(msg.find("max_pool2d") != std::string::npos);
  CHECK(msg.find("(3, 4, 4)") != std::string::npos);

  msg = error_of([&] { avg_pool2d(x, 2, 2, 2); });
  CHECK(msg.find("avg_pool2d") != std::string::npos);
  CHECK(msg.find("half the kernel") != std::string::npos);

  msg = error_of([&] { max_pool2d(Tensor::zeros({1, 1, 2, 2}), 3); });
  CHECK(msg.find("larger than the padded input") != std::string::npos);

  msg = error_of([&] { global_avg_pool2d(Tensor::zeros({2, 3})); });
  CHECK(msg.find("global_avg_pool2d") != std::string::npos);
  CHECK(msg.find("(2, 3)") != std::string::npos);

  Generator gen(1);
  msg = error_of([&] { dropout(x, 1.5f, true, gen); });
  CHECK(msg.find("dropout") != std::string::npos);
}

TEST_CASE("batch norm ops reject a momentum outside [0, 1] before touching the running stats") {
  using doctest::Contains;
  const float nan = std::numeric_limits<float>::quiet_NaN();
  Tensor x = Tensor::arange(2 * 3 * 4 * 4).reshape({2, 3, 4, 4});
  Tensor rm = Tensor::zeros({3}), rv = Tensor::ones({3});
  CHECK_THROWS_WITH_AS(batch_norm2d(x, Tensor(), Tensor(), rm, rv, true, nan),
                       Contains("batch_norm2d: momentum must be in [0, 1], got nan"), Error);
  CHECK_THROWS_WITH_AS(batch_norm2d(x, Tensor(), Tensor(), rm, rv, true, 5.f),
                       Contains("batch_norm2d: momentum must be in [0, 1], got 5"), Error);
  CHECK_THROWS_WITH_AS(batch_norm2d_relu(x, Tensor(), Tensor(), rm, rv, true, -0.5f),
                       Contains("batch_norm2d_relu: momentum must be in [0, 1], got -0.5"), Error);
  CHECK_THROWS_WITH_AS(batch_norm2d_relu_maxpool2x2(x, Tensor(), Tensor(), rm, rv, true, 1.5f),
                       Contains("batch_norm2d_relu_maxpool2x2: momentum must be in [0, 1], got 1.5"), Error);
  CHECK_THROWS_WITH_AS(batch_norm2d(x, Tensor(), Tensor(), rm, rv, true, 0.1f, nan),
                       Contains("batch_norm2d: eps must be positive, got nan"), Error);
  CHECK(rm.to_vector() == std::vector<float>(3, 0.f));
  CHECK(rv.to_vector() == std::vector<float>(3, 1.f));
  batch_norm2d(x, Tensor(), Tensor(), rm, rv, true, 1.f);  // the bounds themselves are fine
}

TEST_CASE("conv and pool paddings of 2^30 and more: computed in int64, named in the message") {
  using doctest::Contains;
  Tensor x = Tensor::zeros({1, 1, 4, 4});
  // 2 * (2^30) overflows int: this used to pass the half-kernel check or print a negative padded size.
  CHECK_THROWS_WITH_AS(max_pool2d(x, INT_MAX, 1, (1 << 30)),
                       Contains("max_pool2d: padding 1073741824 must be at most half the kernel size 2147483647"),
                       Error);
  CHECK_THROWS_WITH_AS(avg_pool2d(x, INT_MAX, 1, INT_MAX / 2 + 1), Contains("padding 1073741824 must be at most half"),
                       Error);
  // conv2d used to wrap 4 + 2 * padding negative and call the kernel "larger than the padded input";
  // the padding is legal, the output (N, K, H + 2p - R + 1, ...) is what cannot exist.
  CHECK_THROWS_WITH_AS(conv2d(x, Tensor::zeros({1, 1, 3, 3}), Tensor(), 1, INT_MAX),
                       Contains("shape (1, 1, 4294967296, 4294967296) is too large"), Error);
  CHECK_THROWS_WITH_AS(conv2d(Tensor::zeros({1, 1, 1, 1}), Tensor::zeros({1, 1, 1, 1}), Tensor(), 1, 1 << 30),
                       Contains("shape (1, 1, 2147483649, 2147483649) is too large"), Error);
}

// ---------------- golden fixtures (PyTorch) ----------------

TEST_CASE("conv2d matches PyTorch forward and backward (fixture nn_ops_conv)") {
  const auto f = test::load_fixture("nn_ops_conv");
  for (const std::string c : {"basic", "strided", "grouped", "pointwise", "wide"}) {
    CAPTURE(c);
    const bool bias = meta_int(f, c + ".bias") != 0;
    Tensor x = fixture_leaf(f, c + ".x"), w = fixture_leaf(f, c + ".w");
    Tensor b = bias ? fixture_leaf(f, c + ".b") : Tensor();
    Tensor y = conv2d(x, w, b, static_cast<int>(meta_int(f, c + ".stride")), static_cast<int>(meta_int(f, c + ".padding")),
                      static_cast<int>(meta_int(f, c + ".groups")));
    test::expect_close(y, f.at(c + ".out"), 1e-4, 1e-5, c + " out");
    y.backward(f.at(c + ".dout"));
    test::expect_close(x.grad(), f.at(c + ".dx"), 1e-4, 1e-5, c + " dx");
    test::expect_close(w.grad(), f.at(c + ".dw"), 1e-4, 1e-5, c + " dw");
    if (bias) test::expect_close(b.grad(), f.at(c + ".db"), 1e-4, 1e-5, c + " db");
  }
}

TEST_CASE("batch_norm2d matches PyTorch in training (with running stats) and eval (fixture nn_ops_bn)") {
  const auto f = test::load_fixture("nn_ops_bn");
  SUBCASE("training, affine") {
    Tensor x = fixture_leaf(f, "train.x"), g = fixture_leaf(f, "train.gamma"), b = fixture_leaf(f, "train.beta");
    Tensor rm = f.at("train.running_mean_before").clone(), rv = f.at("train.running_var_before").clone();
    Tensor y = batch_norm2d(x, g, b, rm, rv, true, meta_float(f, "train.momentum"), meta_float(f, "train.eps"));
    test::expect_close(y, f.at("train.out"), 1e-4, 1e-5, "train out");
    test::expect_close(rm, f.at("train.running_mean_after"), 1e-4, 1e-6, "running_mean");
    test::expect_close(rv, f.at("train.running_var_after"), 1e-4, 1e-6, "running_var");
    y.backward(f.at("train.dout"));
    test::expect_close(x.grad(), f.at("train.dx"), 1e-4, 1e-5, "train dx");
    test::expect_close(g.grad(), f.at("train.dgamma"), 1e-4, 1e-5, "train dgamma");
    test::expect_close(b.grad(), f.at("train.dbeta"), 1e-4, 1e-5, "train dbeta");
  }
  SUBCASE("training, no affine") {
    Tensor x = fixture_leaf(f, "train_noaffine.x");
    Tensor y = batch_norm2d(x, Tensor(), Tensor(), Tensor(), Tensor(), true, 0.1f, meta_float(f, "train_noaffine.eps"));
    test::expect_close(y, f.at("train_noaffine.out"), 1e-4, 1e-5, "noaffine out");
    y.backward(f.at("train_noaffine.dout"));
    test::expect_close(x.grad(), f.at("train_noaffine.dx"), 1e-4, 1e-5, "noaffine dx");
  }
  SUBCASE("eval") {
    Tensor x = fixture_leaf(f, "eval.x"), g = fixture_leaf(f, "eval.gamma"), b = fixture_leaf(f, "eval.beta");
    Tensor rm = f.at("eval.running_mean").clone(), rv = f.at("eval.running_var").clone();
    Tensor y = batch_norm2d(x, g, b, rm, rv, false, 0.1f, meta_float(f, "eval.eps"));
    test::expect_close(y, f.at("eval.out"), 1e-4, 1e-5, "eval out");
    test::expect_close(rm, f.at("eval.running_mean"), 0, 0, "eval leaves running_mean alone");
    y.backward(f.at("eval.dout"));
    test::expect_close(x.grad(), f.at("eval.dx"), 1e-4, 1e-5, "eval dx");
    test::expect_close(g.grad(), f.at("eval.dgamma"), 1e-4, 1e-5, "eval dgamma");
    test::expect_close(b.grad(), f.at("eval.dbeta"), 1e-4, 1e-5, "eval dbeta");
  }
}

TEST_CASE("pooling matches PyTorch, ties included (fixture nn_ops_pool)") {
  const auto f = test::load_fixture("nn_ops_pool");
  for (const std::string c : {"max2", "max3_pad", "max_ties", "avg2", "avg3_pad", "global"}) {
    CAPTURE(c);
    Tensor x = fixture_leaf(f, c + ".x");
    Tensor y;
    if (c == "global") {
      y = global_avg_pool2d(x);
    } else {
      const int k = static_cast<int>(meta_int(f, c + ".kernel")), s = static_cast<int>(meta_int(f, c + ".stride")),
                p = static_cast<int>(meta_int(f, c + ".padding"));
      y = c.rfind("max", 0) == 0 ? max_pool2d(x, k, s, p) : avg_pool2d(x, k, s, p);
    }
    test::expect_close(y, f.at(c + ".out"), 1e-5, 1e-6, c + " out");
    y.backward(f.at(c + ".dout"));
    test::expect_close(x.grad(), f.at(c + ".dx"), 1e-5, 1e-6, c + " dx");
  }
}

TEST_CASE("nn ops on CUDA match the CPU, forward, backward and running stats") {
  if (cuda_device_count() == 0) {
    MESSAGE("skipped: no CUDA device (" << backends_summary() << ")");
    return;
  }
  using V = std::vector<Tensor>;
  using Fn = std::function<Tensor(const V&)>;
  // Runs fn on copies of the inputs on `device` (all requiring grad) and backward from a seeded random
  // dout; returns output and grads on the host. fn runs once per device (BN updates running stats).
  auto run_on = [](Device device, const V& inputs, const Fn& fn) {
    V xs;
    for (const Tensor& t : inputs) {
      Tensor c = t.clone().to(device);
      c.set_requires_grad(true);
      xs.push_back(c);
    }
    Tensor y = fn(xs);
    V out{y.to(Device::cpu())};
    Generator dout_gen(99);
    y.backward(Tensor::randn(y.shape(), dout_gen).to(device));
    for (const Tensor& x : xs) out.push_back(x.grad().to(Device::cpu()));
    return out;
  };
  Generator gen(17);
  struct Case {
    std::string name;
    V inputs;
    Fn fn;
  };
  const Device dev = Device::cuda();
  Tensor rm_cpu = Tensor::zeros({4}), rv_cpu = Tensor::ones({4});
  Tensor rm_gpu = rm_cpu.to(dev), rv_gpu = rv_cpu.to(dev);
  const Tensor erm = Tensor::from_vector({0.1f, -0.2f, 0.f, 0.3f}, {4}), erv = Tensor::from_vector({1.f, 0.5f, 2.f, 0.8f}, {4});
  std::vector<Case> cases = {
      {"conv2d", {Tensor::randn({3, 4, 9, 8}, gen), Tensor::randn({6, 2, 3, 3}, gen), Tensor::randn({6}, gen)},
       [](const V& v) { return conv2d(v[0], v[1], v[2], 2, 1, 2); }},
      {"conv2d 1x1", {Tensor::randn({2, 8, 5, 5}, gen), Tensor::randn({4, 8, 1, 1}, gen)},
       [](const V& v) { return conv2d(v[0], v[1], Tensor()); }},
      {"conv2d_relu", {Tensor::randn({2, 16, 7, 6}, gen), Tensor::randn({16, 16, 3, 3}, gen), Tensor::randn({16}, gen)},
       [](const V& v) { return conv2d_relu(v[0], v[1], v[2], 1, 1); }},
      {"batch_norm2d train", {Tensor::randn({3, 4, 5, 5}, gen), Tensor::randn({4}, gen), Tensor::randn({4}, gen)},
       [&](const V& v) {
         const bool gpu = v[0].device().is_cuda();
         return batch_norm2d(v[0], v[1], v[2], gpu ? rm_gpu : rm_cpu, gpu ? rv_gpu : rv_cpu, true);
       }},
      {"batch_norm2d eval", {Tensor::randn({3, 4, 5, 5}, gen), Tensor::randn({4}, gen), Tensor::randn({4}, gen)},
       [&](const V& v) { return batch_norm2d(v[0], v[1], v[2], erm.to(v[0].device()), erv.to(v[0].device()), false); }},
      {"max_pool2d", {Tensor::randn({2, 3, 7, 7}, gen)}, [](const V& v) { return max_pool2d(v[0], 3, 2, 1); }},
      {"avg_pool2d", {Tensor::randn({2, 3, 7, 7}, gen)}, [](const V& v) { return avg_pool2d(v[0], 3, 2, 1); }},
      {"global_avg_pool2d", {Tensor::randn({2, 3, 4, 5}, gen)}, [](const V& v) { return global_avg_pool2d(v[0]); }},
      {"dropout", {Tensor::randn({4, 50}, gen)}, [](const V& v) {
         Generator g(5);
         return dropout(v[0], 0.3f, true, g);
       }},
  };
  for (const Case& c : cases) {
    CAPTURE(c.name);
    const V a = run_on(Device::cpu(), c.inputs, c.fn), b = run_on(dev, c.inputs, c.fn);
    for (size_t i = 0; i < a.size(); ++i) test::expect_close(b[i], a[i], 1e-4, 1e-5, c.name + " #" + std::to_string(i));
  }
  {  // inference only: no backward to compare
    NoGradGuard no_grad;
    const Tensor x = Tensor::randn({2, 16, 9, 7}, gen), w = Tensor::randn({16, 16, 3, 3}, gen), b = Tensor::randn({16}, gen);
    test::expect_close(conv2d_relu_maxpool2x2(x.to(dev), w.to(dev), b.to(dev), 1, 1).to(Device::cpu()),
                       conv2d_relu_maxpool2x2(x, w, b, 1, 1), 1e-4, 1e-5, "conv2d_relu_maxpool2x2");
  }
  test::expect_close(rm_gpu.to(Device::cpu()), rm_cpu, 1e-5, 1e-6, "running_mean");
  test::expect_close(rv_gpu.to(Device::cpu()), rv_cpu, 1e-5, 1e-6, "running_var");
}

}  // TEST_SUITE
