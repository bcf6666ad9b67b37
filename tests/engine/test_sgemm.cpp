// The packed SGEMM (engine/cpu/sgemm.h) against a double-precision triple loop: all four
// transpose cases, sizes that leave ragged edge tiles (not multiples of 6 or 16), depths beyond one
// packed K slice, widths beyond one packed panel, row strides larger than the row, alpha and beta
// (beta = 0 must overwrite NaN), and the degenerate sizes.
#include <doctest/doctest.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <limits>
#include <vector>

#include "engine/cpu/scratch.h"
#include "engine/cpu/sgemm.h"
#include "engine/random.h"

using tg::cpu::sgemm;

namespace {

struct Case {
  bool ta, tb;
  int64_t M, N, K;
  int64_t pad = 0;  // extra floats at the end of every row of A, B and C (ld = width + pad)
  float alpha = 1.f, beta = 0.f;
};

// A case's operands, stored as op(A) and op(B) ask (rows ld apart), uniform in [-1, 1]; C is NaN
// where beta = 0 (sgemm must not read it then), its padding past each row included.
struct Operands {
  int64_t lda, ldb, ldc;
  std::vector<float> A, B, C;
};

Operands make_operands(const Case& c) {
  tg::Generator gen(static_cast<uint64_t>(c.M * 131 + c.N * 17 + c.K));
  const int64_t a_rows = c.ta ? c.K : c.M, a_cols = c.ta ? c.M : c.K;
  const int64_t b_rows = c.tb ? c.N : c.K, b_cols = c.tb ? c.K : c.N;
  Operands o{a_cols + c.pad, b_cols + c.pad, c.N + c.pad, {}, {}, {}};
  o.A.resize(static_cast<size_t>(a_rows * o.lda));
  o.B.resize(static_cast<size_t>(b_rows * o.ldb));
  o.C.resize(static_cast<size_t>(c.M * o.ldc));
  for (float& v : o.A) v = gen.uniform(-1.f, 1.f);
  for (float& v : o.B) v = gen.uniform(-1.f, 1.f);
  for (float& v : o.C) v = c.beta == 0.f ? std::numeric_limits<float>::quiet_NaN() : gen.uniform(-1.f, 1.f);
  return o;
}

// Returns the largest |ours - reference| / (1 + |reference|) over C.
double check_case(const Case& c) {
  Operands o = make_operands(c);
  const std::vector<float>& A = o.A;
  const std::vector<float>& B = o.B;
  std::vector<float>& C = o.C;
  const int64_t lda = o.lda, ldb = o.ldb, ldc = o.ldc;
  const std::vector<float> C0 = C;
  sgemm(c.ta, c.tb, c.M, c.N, c.K, c.alpha, A.data(), lda, B.data(), ldb, c.beta, C.data(), ldc);
  double worst = 0.0;
  for (int64_t i = 0; i < c.M; ++i) {
    for (int64_t j = 0; j < c.N; ++j) {
      double acc = 0.0;  // sum_k op(A)[i, k] op(B)[k, j]
      for (int64_t k = 0; k < c.K; ++k) {
        const double a = c.ta ? A[k * lda + i] : A[i * lda + k];
        const double b = c.tb ? B[j * ldb + k] : B[k * ldb + j];
        acc += a * b;
      }
      const double prev = c.beta == 0.f ? 0.0 : static_cast<double>(c.beta) * C0[i * ldc + j];
      const double ref = c.alpha * acc + prev;
      worst = std::max(worst, std::abs(C[i * ldc + j] - ref) / (1.0 + std::abs(ref)));
    }
    for (int64_t j = c.N; j < ldc; ++j) {  // padding past each row is never written
      const float before = C0[i * ldc + j], after = C[i * ldc + j];
      if (!(std::isnan(before) && std::isnan(after))) REQUIRE(after == before);
    }
  }
  return worst;
}

}  // namespace

TEST_CASE("sgemm matches a double-precision loop in every transpose case, with edges, strides, alpha and beta") {
  std::vector<Case> cases;
  for (bool ta : {false, true})
    for (bool tb : {false, true}) {
      cases.push_back({ta, tb, 1, 1, 1});
      cases.push_back({ta, tb, 6, 16, 8});           // exactly one register tile
      cases.push_back({ta, tb, 7, 17, 5});           // one past the tile in both directions
      cases.push_back({ta, tb, 32, 48, 33, 2});      // last sliver of 2 rows (the short-sliver kernel), K % 8 = 1
      cases.push_back({ta, tb, 3, 16, 16});          // a single sliver of 3 rows, full columns
      cases.push_back({ta, tb, 37, 53, 29, 3});      // ragged everywhere, padded rows
      cases.push_back({ta, tb, 130, 40, 300, 0, 0.5f, 1.f});   // M > one packed A block, K > one slice, C += ...
      cases.push_back({ta, tb, 13, 3100, 20, 1, -2.f, 0.25f});  // N > one packed B panel, beta scales C
    }
  cases.push_back({false, false, 64, 21, 4608});     // a deep, narrow conv GEMM (ResNet layer4)
  for (const Case& c : cases) {
    const double err = check_case(c);
    CHECK_MESSAGE(err <= 1e-5 * std::sqrt(static_cast<double>(c.K)), "ta=" << c.ta << " tb=" << c.tb << " " << c.M << "x"
                                                                          << c.N << "x" << c.K << ": error " << err);
  }
}

TEST_CASE("sgemm_packed with a pre-packed A equals sgemm bit for bit, and leaves the packed A for the next call") {
  // The cases of the test above that reach every part of the packed layout: a short last sliver,
  // M past one MC block (12 x 12 rows at AVX-512, 120 with AVX2), K past one KC slice (256), both
  // transposes of A, a transposed B, strides, alpha and beta; the AVX2 packing's spill past the
  // last sliver must stay in the slack.
  const std::vector<Case> cases = {
      {false, false, 32, 48, 33, 2},           {true, false, 32, 48, 33},
      {false, true, 37, 53, 29, 3},            {true, true, 7, 17, 5},
      {false, false, 150, 40, 300, 1, 0.5f, 1.f}, {true, false, 150, 70, 520, 0, -2.f, 0.25f},
      {false, false, 1, 1, 1},                 {false, false, 64, 33, 576}};
  for (const Case& c : cases) {
    CAPTURE(c.ta);
    CAPTURE(c.tb);
    CAPTURE(c.M);
    CAPTURE(c.K);
    Operands o = make_operands(c);
    std::vector<float>& A = o.A;
    const std::vector<float>& B = o.B;
    const int64_t lda = o.lda, ldb = o.ldb, ldc = o.ldc;
    const std::vector<float> C0 = o.C;
    std::vector<float> want = C0, got = C0;
    sgemm(c.ta, c.tb, c.M, c.N, c.K, c.alpha, A.data(), lda, B.data(), ldb, c.beta, want.data(), ldc);
    const int64_t n = tg::cpu::sgemm_packed_a_floats(c.M, c.K);
    REQUIRE(n >= c.M * c.K);
    std::vector<float> packed_buf;
    float* packed = tg::cpu::grow_aligned(packed_buf, static_cast<size_t>(n));
    tg::cpu::sgemm_pack_a(packed, c.ta, c.M, c.K, A.data(), lda);
    std::fill(A.begin(), A.end(), std::numeric_limits<float>::quiet_NaN());  // the product reads only the packed copy
    for (int call = 0; call < 2; ++call) {  // the packed A is not consumed: a second call gives the same
      got = C0;
      tg::cpu::sgemm_packed(packed, c.M, c.K, c.tb, c.N, c.alpha, B.data(), ldb, c.beta, got.data(), ldc);
      // The same bits, the untouched NaN padding of C included.
      CHECK(std::memcmp(got.data(), want.data(), got.size() * sizeof(float)) == 0);
    }
  }
}

TEST_CASE("sgemm degenerate sizes: K = 0 or alpha = 0 gives beta C; M or N = 0 touches nothing") {
  std::vector<float> A(12, 1.f), B(12, 1.f), C(12, 3.f);
  sgemm(false, false, 3, 4, 0, 1.f, A.data(), 1, B.data(), 4, 0.5f, C.data(), 4);
  for (float v : C) CHECK(v == 1.5f);
  std::fill(C.begin(), C.end(), std::numeric_limits<float>::quiet_NaN());
  sgemm(false, false, 3, 4, 3, 0.f, A.data(), 3, B.data(), 4, 0.f, C.data(), 4);
  for (float v : C) CHECK(v == 0.f);  // beta = 0 overwrites NaN
  std::fill(C.begin(), C.end(), 7.f);
  sgemm(false, false, 0, 4, 3, 1.f, A.data(), 3, B.data(), 4, 0.f, C.data(), 4);
  sgemm(false, false, 3, 0, 3, 1.f, A.data(), 3, B.data(), 4, 0.f, C.data(), 4);
  for (float v : C) CHECK(v == 7.f);
}

TEST_CASE("grow_aligned hands out 64-byte aligned room for n floats, growing the buffer when needed") {
  std::vector<float> buf;
  for (size_t n : {size_t(1), size_t(15), size_t(1000), size_t(3), size_t(100000)}) {
    CAPTURE(n);
    float* p = tg::cpu::grow_aligned(buf, n);
    CHECK(reinterpret_cast<uintptr_t>(p) % 64 == 0);
    CHECK(p >= buf.data());
    CHECK(p + n <= buf.data() + buf.size());  // n floats fit after the aligned start
    for (size_t i = 0; i < n; ++i) p[i] = static_cast<float>(i);  // (ASan: all of it writable)
  }
  const size_t kept = buf.size();
  tg::cpu::grow_aligned(buf, 10);  // smaller requests do not shrink or reallocate
  CHECK(buf.size() == kept);
}
