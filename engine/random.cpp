// xoshiro256** generator seeded by splitmix64; uniform and normal draws.
#include "engine/random.h"

#include <cmath>
#include <cstring>

namespace tg {

namespace {
uint64_t splitmix64(uint64_t& x) {
  uint64_t z = (x += 0x9E3779B97F4A7C15ull);
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
  return z ^ (z >> 31);
}
uint64_t rotl(uint64_t x, int k) { return (x << k) | (x >> (64 - k)); }
}  // namespace

void Generator::manual_seed(uint64_t seed) {
  uint64_t x = seed;
  for (auto& w : s_) w = splitmix64(x);
  has_cached_normal_ = false;
  cached_normal_ = 0.f;
}

uint64_t Generator::next_u64() {
  const uint64_t result = rotl(s_[1] * 5, 7) * 9;
  const uint64_t t = s_[1] << 17;
  s_[2] ^= s_[0];
  s_[3] ^= s_[1];
  s_[1] ^= s_[2];
  s_[0] ^= s_[3];
  s_[2] ^= t;
  s_[3] = rotl(s_[3], 45);
  return result;
}

float Generator::uniform() { return static_cast<float>(next_u64() >> 40) * (1.0f / 16777216.0f); }

float Generator::uniform(float lo, float hi) { return lo + (hi - lo) * uniform(); }

// Box-Muller in double: z0 = sqrt(-2 ln u1) cos(2 pi u2), z1 = ... sin(...).
float Generator::normal() {
  if (has_cached_normal_) {
    has_cached_normal_ = false;
    return cached_normal_;
  }
  double u1 = (static_cast<double>(next_u64() >> 11) + 1.0) * (1.0 / 9007199254740993.0);  // (0, 1]
  double u2 = static_cast<double>(next_u64() >> 11) * (1.0 / 9007199254740992.0);          // [0, 1)
  const double r = std::sqrt(-2.0 * std::log(u1));
  const double theta = 2.0 * M_PI * u2;
  cached_normal_ = static_cast<float>(r * std::sin(theta));
  has_cached_normal_ = true;
  return static_cast<float>(r * std::cos(theta));
}

uint64_t Generator::below(uint64_t n) {
  if (n <= 1) return 0;
  // Rejection sampling removes modulo bias: accept only below the largest multiple of n.
  const uint64_t limit = UINT64_MAX - (UINT64_MAX % n);
  uint64_t x;
  do {
    x = next_u64();
  } while (x >= limit);
  return x % n;
}

Generator Generator::fork() {
  Generator g;
  uint64_t seed = next_u64();
  g.manual_seed(seed);
  return g;
}

std::array<uint64_t, 6> Generator::state() const {
  uint32_t bits;
  std::memcpy(&bits, &cached_normal_, 4);
  return {s_[0], s_[1], s_[2], s_[3], has_cached_normal_ ? 1u : 0u, bits};
}

void Generator::set_state(const std::array<uint64_t, 6>& st) {
  for (int i = 0; i < 4; ++i) s_[i] = st[i];
  has_cached_normal_ = st[4] != 0;
  const uint32_t bits = static_cast<uint32_t>(st[5]);
  std::memcpy(&cached_normal_, &bits, 4);
}

Generator& default_generator() {
  thread_local Generator gen(0);
  return gen;
}

void manual_seed(uint64_t seed) { default_generator().manual_seed(seed); }

}  // namespace tg
