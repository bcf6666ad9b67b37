// Test helpers for the datasets suite: a per-test temporary directory and generators that write
// tiny CIFAR / IDX files byte by byte in the published formats (independently of the loaders).
#pragma once
#include <unistd.h>

#include <atomic>
#include <cstdint>
#include <filesystem>
#include <string>
#include <vector>

#include "datasets/file_io.h"
#include "engine/error.h"

namespace tg::test {

// Creates <tmp>/tg_test_<pid>_<tag>_<counter>/ and removes it (recursively) on destruction.
class TempDir {
 public:
  explicit TempDir(const std::string& tag) {
    static std::atomic<int> counter{0};
    path_ = std::filesystem::temp_directory_path() /
            ("tg_test_" + std::to_string(::getpid()) + "_" + tag + "_" + std::to_string(counter++));
    std::filesystem::remove_all(path_);
    std::filesystem::create_directories(path_);
  }
  ~TempDir() {
    std::error_code ec;
    std::filesystem::remove_all(path_, ec);
  }
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;
  std::string str() const { return path_.string(); }
  std::string file(const std::string& name) const { return (path_ / name).string(); }

 private:
  std::filesystem::path path_;
};

// Deterministic pixel value of image `i`, channel c, row y, column x: distinct enough that a
// swapped channel, flipped row or shifted record changes it.
inline uint8_t test_pixel(int64_t i, int64_t c, int64_t y, int64_t x) {
  return static_cast<uint8_t>((i * 131 + c * 71 + y * 17 + x * 5 + (y * x) % 7) & 0xff);
}

// One CIFAR file: for each record, label bytes then R, G, B planes of 32x32, rows top to bottom.
inline data::Bytes cifar_file_bytes(const std::vector<std::vector<uint8_t>>& label_bytes, int64_t first_image) {
  data::Bytes out;
  for (size_t r = 0; r < label_bytes.size(); ++r) {
    out.insert(out.end(), label_bytes[r].begin(), label_bytes[r].end());
    for (int c = 0; c < 3; ++c)
      for (int y = 0; y < 32; ++y)
        for (int x = 0; x < 32; ++x) out.push_back(test_pixel(first_image + static_cast<int64_t>(r), c, y, x));
  }
  return out;
}

inline data::Bytes text_bytes(const std::string& s) { return data::Bytes(s.begin(), s.end()); }

inline void put_be32(data::Bytes& b, uint32_t v) {
  b.push_back(static_cast<uint8_t>(v >> 24));
  b.push_back(static_cast<uint8_t>(v >> 16));
  b.push_back(static_cast<uint8_t>(v >> 8));
  b.push_back(static_cast<uint8_t>(v));
}

// IDX bytes: 00 00 08 ndim, big-endian dims, then the data.
inline data::Bytes idx_bytes(const std::vector<uint32_t>& dims, const data::Bytes& payload) {
  data::Bytes b{0, 0, 0x08, static_cast<uint8_t>(dims.size())};
  for (uint32_t d : dims) put_be32(b, d);
  b.insert(b.end(), payload.begin(), payload.end());
  return b;
}

// FNV-1a 64-bit hash, used to checksum real-data images.
inline uint64_t fnv1a64(const uint8_t* p, size_t n) {
  uint64_t h = 0xcbf29ce484222325ULL;
  for (size_t i = 0; i < n; ++i) h = (h ^ p[i]) * 0x100000001b3ULL;
  return h;
}

// Runs f, which must throw tg::IOError; returns its message ("" and a failed check otherwise).
template <class F>
std::string io_error_of(F&& f) {
  try {
    f();
  } catch (const IOError& e) {
    return e.what();
  } catch (const std::exception& e) {
    return std::string("<not an IOError: ") + e.what() + ">";
  }
  return "<no exception>";
}

inline bool contains(const std::string& s, const std::string& part) { return s.find(part) != std::string::npos; }

}  // namespace tg::test
