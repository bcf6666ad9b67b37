// Reference conv2d (conv2d.h): direct loops over n, k, p, q and the window c, r, s.
#include "engine/cpu/reference/conv2d.h"

#include <vector>

#include "engine/cpu/reference/elementwise.h"
#include "engine/cpu/reference/pool.h"

namespace tg::cpu::reference {
namespace {

// The plain convolution, out (N, K, P, Q) = conv(in, w) + b.
void conv2d_plain(float* out, const float* in, const float* w, const float* b, const ConvShape& s) {
  const int64_t P = s.P(), Q = s.Q(), Cg = s.C / s.groups, Kg = s.K / s.groups;
  for (int64_t n = 0; n < s.N; ++n)
    for (int64_t k = 0; k < s.K; ++k) {
      const int64_t g = k / Kg;  // the group of output channel k reads input channels g*Cg .. g*Cg + Cg - 1
      for (int64_t p = 0; p < P; ++p)
        for (int64_t q = 0; q < Q; ++q) {
          double acc = b ? b[k] : 0.0;
          for (int64_t c = 0; c < Cg; ++c)
            for (int64_t r = 0; r < s.R; ++r)
              for (int64_t sx = 0; sx < s.S; ++sx) {
                const int64_t h = p * s.stride_h - s.pad_h + r, x = q * s.stride_w - s.pad_w + sx;
                if (h < 0 || h >= s.H || x < 0 || x >= s.W) continue;  // zero padding
                acc += static_cast<double>(w[((k * Cg + c) * s.R + r) * s.S + sx]) *
                       in[((n * s.C + g * Cg + c) * s.H + h) * s.W + x];
              }
          out[((n * s.K + k) * P + p) * Q + q] = static_cast<float>(acc);
        }
    }
}

}  // namespace

void conv2d_forward(float* out, const float* in, const float* w, const float* b, const ConvShape& s,
                    ConvEpilogue epi) {
  const int64_t full = s.N * s.K * s.P() * s.Q();  // elements of the conv's (N, K, P, Q) map
  if (epi != ConvEpilogue::ReluMaxPool2x2) {
    conv2d_plain(out, in, w, b, s);
    if (epi == ConvEpilogue::Relu) reference::unary_forward(out, out, UnaryOp::Relu, 0.f, full);  // max(out, 0)
    return;
  }
  // relu(conv) into a full-size map, then the max over its 2x2 windows with stride 2
  std::vector<float> map(static_cast<size_t>(full));
  conv2d_plain(map.data(), in, w, b, s);
  reference::unary_forward(map.data(), map.data(), UnaryOp::Relu, 0.f, full);
  reference::max_pool2d_forward(out, nullptr, map.data(), PoolShape{s.N, s.K, s.P(), s.Q(), 2, 2, 2, 2, 0, 0});
}

void conv2d_backward(float* din, float* dw, float* db, const float* dout, const float* in, const float* w,
                     const ConvShape& s) {
  const int64_t P = s.P(), Q = s.Q(), Cg = s.C / s.groups, Kg = s.K / s.groups;
  const int64_t wsize = s.K * Cg * s.R * s.S;
  std::vector<double> din_acc(din ? s.N * s.C * s.H * s.W : 0), dw_acc(dw ? wsize : 0), db_acc(db ? s.K : 0);
  for (int64_t n = 0; n < s.N; ++n)
    for (int64_t k = 0; k < s.K; ++k) {
      const int64_t g = k / Kg;
      for (int64_t p = 0; p < P; ++p)
        for (int64_t q = 0; q < Q; ++q) {
          const double d = dout[((n * s.K + k) * P + p) * Q + q];
          if (db) db_acc[k] += d;
          for (int64_t c = 0; c < Cg; ++c)
            for (int64_t r = 0; r < s.R; ++r)
              for (int64_t sx = 0; sx < s.S; ++sx) {
                const int64_t h = p * s.stride_h - s.pad_h + r, x = q * s.stride_w - s.pad_w + sx;
                if (h < 0 || h >= s.H || x < 0 || x >= s.W) continue;
                const int64_t wi = ((k * Cg + c) * s.R + r) * s.S + sx;
                const int64_t ii = ((n * s.C + g * Cg + c) * s.H + h) * s.W + x;
                if (dw) dw_acc[wi] += d * in[ii];
                if (din) din_acc[ii] += d * w[wi];
              }
        }
    }
  for (size_t i = 0; i < din_acc.size(); ++i) din[i] = static_cast<float>(din_acc[i]);
  for (size_t i = 0; i < dw_acc.size(); ++i) dw[i] = static_cast<float>(dw_acc[i]);
  for (size_t i = 0; i < db_acc.size(); ++i) db[i] = static_cast<float>(db_acc[i]);
}

}  // namespace tg::cpu::reference
