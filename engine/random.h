// Generator: a seeded pseudo-random source (xoshiro256** with splitmix64 seeding). Same seed,
// same numbers, on every platform. A default generator (per thread) exists for convenience; everything
// that matters for reproducibility (init, shuffling, augmentation, dropout) takes one explicitly.
#pragma once
#include <array>
#include <cstdint>

namespace tg {

class Generator {
 public:
  explicit Generator(uint64_t seed = 0) { manual_seed(seed); }
  void manual_seed(uint64_t seed);

  uint64_t next_u64();
  uint32_t next_u32() { return static_cast<uint32_t>(next_u64() >> 32); }
  float uniform();                        // U[0, 1) with 24 random bits
  float uniform(float lo, float hi);      // U[lo, hi)
  float normal();                         // N(0, 1), Box-Muller (caches the second value)
  uint64_t below(uint64_t n);             // uniform integer in [0, n), unbiased
  Generator fork();                       // an independent stream derived from this one

  // Full state for checkpoints: 4 state words + cached-normal flag + cached value bits.
  std::array<uint64_t, 6> state() const;
  void set_state(const std::array<uint64_t, 6>& st);

 private:
  std::array<uint64_t, 4> s_{};
  bool has_cached_normal_ = false;
  float cached_normal_ = 0.f;
};

// The default generator, one per thread like the grad mode (seed 0 when a thread first uses it):
// two threads that each build a model with the default arguments get the same weights, with no
// data race (a process-wide one was drawn from by both at once). Prefer passing your own.
Generator& default_generator();
void manual_seed(uint64_t seed);  // reseeds the calling thread's default generator

}  // namespace tg
