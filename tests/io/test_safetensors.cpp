// safetensors I/O: round trips, atomic writes, dtype conversion, and one crafted bad file per
// malformation the loader must reject (each error must name the file and the offending tensor).
#include <doctest/doctest.h>
#include <unistd.h>

#include <bit>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "engine/error.h"
#include "io/safetensors.h"
#include "support/fixtures.h"

using namespace tg;

namespace {

// Writes [u64 LE header_len][header][data]; header_len defaults to header.size().
void write_raw(const std::string& path, const std::string& header, const std::string& data,
               int64_t header_len = -1) {
  std::ofstream f(path, std::ios::binary | std::ios::trunc);
  uint64_t n = header_len < 0 ? header.size() : static_cast<uint64_t>(header_len);
  for (int i = 0; i < 8; ++i) f.put(static_cast<char>((n >> (8 * i)) & 0xff));
  f << header << data;
}

std::string floats_bytes(const std::vector<float>& v) {
  return std::string(reinterpret_cast<const char*>(v.data()), v.size() * sizeof(float));
}

template <class T>
std::string pod_bytes(const std::vector<T>& v) {
  return std::string(reinterpret_cast<const char*>(v.data()), v.size() * sizeof(T));
}

// Loading `path` must throw tg::IOError whose message contains the path and every `needle`.
void expect_load_error(const std::string& path, const std::vector<std::string>& needles) {
  bool threw = false;
  try {
    io::load_safetensors(path);
  } catch (const IOError& e) {
    threw = true;
    const std::string msg = e.what();
    INFO("message: " << msg);
    CHECK(msg.find(path) != std::string::npos);
    for (const auto& n : needles) CHECK_MESSAGE(msg.find(n) != std::string::npos, "missing '" << n << "'");
  }
  CHECK_MESSAGE(threw, "no IOError for " << path);
}

const std::string kTwo = floats_bytes({1.f, 2.f});  // 8 bytes

}  // namespace

TEST_CASE("safetensors: round trip keeps names, order, shapes, values and metadata") {
  const std::string path = test::temp_path("roundtrip.safetensors");
  Tensor a = Tensor::from_vector({1.5f, -2.f, 3.25f, 0.f, 1e-30f, -7.f}, {2, 3});
  Tensor s = Tensor::scalar(42.f);
  Tensor e = Tensor::zeros({0, 4});
  Tensor b = Tensor::from_vector({9.f}, {1, 1, 1});
  io::save_safetensors(path, {{"z.first", a}, {"scalar", s}, {"empty", e}, {"b", b}}, {{"k", "v"}, {"epoch", "3"}});

  io::SafetensorsFile f = io::load_safetensors(path);
  REQUIRE(f.tensors.size() == 4);
  CHECK(f.tensors[0].first == "z.first");
  CHECK(f.tensors[1].first == "scalar");
  CHECK(f.at("z.first").shape() == Shape{2, 3});
  CHECK(f.at("z.first").to_vector() == a.to_vector());
  CHECK(f.at("scalar").shape() == Shape{});
  CHECK(f.at("scalar").item() == 42.f);
  CHECK(f.at("empty").shape() == Shape{0, 4});
  CHECK(f.at("b").to_vector() == std::vector<float>{9.f});
  CHECK(f.metadata.at("k") == "v");
  CHECK(f.metadata.at("epoch") == "3");
  CHECK(f.find("nope") == nullptr);
  CHECK_THROWS_AS(f.at("nope"), IOError);

  // The header is padded so the data starts 8-byte aligned, and the file is exactly header + data.
  std::ifstream in(path, std::ios::binary);
  uint64_t n = 0;
  in.read(reinterpret_cast<char*>(&n), 8);
  CHECK(n % 8 == 0);
  CHECK(std::filesystem::file_size(path) == 8 + n + (6 + 1 + 0 + 1) * 4);
}

TEST_CASE("safetensors: saves are atomic and leave no temporary file") {
  const std::string path = test::temp_path("atomic.safetensors");
  io::save_safetensors(path, {{"w", Tensor::full({3}, 1.f)}});
  io::save_safetensors(path, {{"w", Tensor::full({3}, 2.f)}});  // overwrite in place
  CHECK(io::load_safetensors(path).at("w").to_vector() == std::vector<float>{2.f, 2.f, 2.f});
  const std::string tmp = path + ".tmp." + std::to_string(::getpid());
  CHECK_FALSE(std::filesystem::exists(tmp));

  // A save that fails at the rename (target is a directory) keeps the target and cleans up.
  const std::string dir = test::temp_path("atomic_dir.safetensors");
  std::filesystem::create_directories(dir);
  CHECK_THROWS_AS(io::save_safetensors(dir, {{"w", Tensor::full({3}, 3.f)}}), IOError);
  CHECK(std::filesystem::is_directory(dir));
  CHECK_FALSE(std::filesystem::exists(dir + ".tmp." + std::to_string(::getpid())));

  // A save into a missing directory throws naming the path.
  const std::string bad = test::temp_path("no/such/dir/x.safetensors");
  try {
    io::save_safetensors(bad, {{"w", Tensor::full({3}, 3.f)}});
    FAIL("expected an IOError");
  } catch (const IOError& e) {
    CHECK(std::string(e.what()).find(bad) != std::string::npos);
  }
  // Invalid inputs are refused before anything is written.
  CHECK_THROWS_AS(io::save_safetensors(path, {{"w", Tensor()}}), IOError);
  CHECK_THROWS_AS(io::save_safetensors(path, {{"w", Tensor::ones({1})}, {"w", Tensor::ones({1})}}), IOError);
  CHECK_THROWS_AS(io::save_safetensors(path, {{"__metadata__", Tensor::ones({1})}}), IOError);
  CHECK(io::load_safetensors(path).at("w").to_vector() == std::vector<float>{2.f, 2.f, 2.f});
}

TEST_CASE("safetensors: other dtypes convert to float32") {
  const std::string path = test::temp_path("dtypes.safetensors");
  // Half-precision bit patterns with closed-form values: 1, -2, 65504 (max), 2^-24 (smallest
  // subnormal), 2^-14 (smallest normal), 0.5 + 2^-11, +inf.
  const std::vector<uint16_t> f16 = {0x3C00, 0xC000, 0x7BFF, 0x0001, 0x0400, 0x3801, 0x7C00};
  const std::vector<float> f16_expect = {1.f, -2.f, 65504.f, std::ldexp(1.f, -24), std::ldexp(1.f, -14),
                                         0.5f + std::ldexp(1.f, -11), INFINITY};
  const std::vector<float> bf_src = {1.f, -3.5f, 1024.f};
  std::vector<uint16_t> bf16;
  for (float v : bf_src) bf16.push_back(static_cast<uint16_t>(std::bit_cast<uint32_t>(v) >> 16));
  const std::vector<double> f64 = {0.1, -1e10};
  const std::vector<int64_t> i64 = {-5, 1LL << 40};
  const std::vector<int32_t> i32 = {7, -8};
  const std::vector<int8_t> i8 = {-128, 127};
  const std::vector<uint8_t> u8 = {0, 255};
  const std::vector<uint8_t> bools = {1, 0, 1};
  std::string data;
  std::string header = "{";
  auto add = [&](const std::string& name, const std::string& dtype, size_t n, const std::string& bytes) {
    if (header.size() > 1) header += ",";
    header += "\"" + name + "\":{\"dtype\":\"" + dtype + "\",\"shape\":[" + std::to_string(n) +
              "],\"data_offsets\":[" + std::to_string(data.size()) + "," + std::to_string(data.size() + bytes.size()) +
              "]}";
    data += bytes;
  };
  add("f16", "F16", f16.size(), pod_bytes(f16));
  add("bf16", "BF16", bf16.size(), pod_bytes(bf16));
  add("f64", "F64", f64.size(), pod_bytes(f64));
  add("i64", "I64", i64.size(), pod_bytes(i64));
  add("i32", "I32", i32.size(), pod_bytes(i32));
  add("i8", "I8", i8.size(), pod_bytes(i8));
  add("u8", "U8", u8.size(), pod_bytes(u8));
  add("bool", "BOOL", bools.size(), pod_bytes(bools));
  header += "}";
  write_raw(path, header, data);

  io::SafetensorsFile f = io::load_safetensors(path);
  CHECK(f.at("f16").to_vector() == f16_expect);
  CHECK(f.at("bf16").to_vector() == bf_src);
  CHECK(f.at("f64").to_vector() == std::vector<float>{0.1f, -1e10f});
  CHECK(f.at("i64").to_vector() == std::vector<float>{-5.f, std::ldexp(1.f, 40)});
  CHECK(f.at("i32").to_vector() == std::vector<float>{7.f, -8.f});
  CHECK(f.at("i8").to_vector() == std::vector<float>{-128.f, 127.f});
  CHECK(f.at("u8").to_vector() == std::vector<float>{0.f, 255.f});
  CHECK(f.at("bool").to_vector() == std::vector<float>{1.f, 0.f, 1.f});
}

TEST_CASE("safetensors: every malformed file is a clear IOError") {
  const std::string p = test::temp_path("bad.safetensors");
  const std::string ok_entry = R"("w":{"dtype":"F32","shape":[2],"data_offsets":[0,8]})";

  SUBCASE("missing file") { expect_load_error(test::temp_path("does_not_exist.safetensors"), {"cannot open"}); }
  SUBCASE("shorter than the length prefix") {
    std::ofstream(p, std::ios::binary) << "abc";
    expect_load_error(p, {"too short"});
  }
  SUBCASE("header length beyond the file") {
    write_raw(p, "{" + ok_entry + "}", kTwo, 4096);
    expect_load_error(p, {"beyond the end of the file"});
  }
  SUBCASE("header over 100 MB") {
    write_raw(p, "{" + ok_entry + "}", kTwo, 200'000'000);
    expect_load_error(p, {"100 MB"});
  }
  SUBCASE("malformed JSON") {
    write_raw(p, R"({"w":{"dtype":"F32",)", "");
    expect_load_error(p, {"malformed JSON"});
  }
  SUBCASE("header is not an object") {
    write_raw(p, "[1, 2]", "");
    expect_load_error(p, {"must be an object"});
  }
  SUBCASE("entry missing data_offsets") {
    write_raw(p, R"({"w":{"dtype":"F32","shape":[2]}})", kTwo);
    expect_load_error(p, {"'w'", "data_offsets"});
  }
  SUBCASE("entry missing dtype") {
    write_raw(p, R"({"w":{"shape":[2],"data_offsets":[0,8]}})", kTwo);
    expect_load_error(p, {"'w'", "dtype"});
  }
  SUBCASE("entry missing shape") {
    write_raw(p, R"({"w":{"dtype":"F32","data_offsets":[0,8]}})", kTwo);
    expect_load_error(p, {"'w'", "shape"});
  }
  SUBCASE("unknown dtype") {
    write_raw(p, R"({"w":{"dtype":"F8_E4M3","shape":[2],"data_offsets":[0,2]}})", "ab");
    expect_load_error(p, {"'w'", "F8_E4M3"});
  }
  SUBCASE("shape and byte count disagree") {
    write_raw(p, R"({"w":{"dtype":"F32","shape":[3],"data_offsets":[0,8]}})", kTwo);
    expect_load_error(p, {"'w'", "needs 12 bytes"});
  }
  SUBCASE("negative dimension") {
    write_raw(p, R"({"w":{"dtype":"F32","shape":[-2],"data_offsets":[0,8]}})", kTwo);
    expect_load_error(p, {"'w'", "non-negative"});
  }
  SUBCASE("offsets out of range") {
    write_raw(p, R"({"w":{"dtype":"F32","shape":[4],"data_offsets":[0,16]}})", kTwo);
    expect_load_error(p, {"'w'", "beyond the data buffer"});
  }
  SUBCASE("truncated data") {
    write_raw(p, "{" + ok_entry + R"(,"v":{"dtype":"F32","shape":[2],"data_offsets":[8,16]}})", kTwo + "abc");
    expect_load_error(p, {"'v'", "truncated"});
  }
  SUBCASE("end before begin") {
    write_raw(p, R"({"w":{"dtype":"F32","shape":[0],"data_offsets":[8,0]}})", kTwo);
    expect_load_error(p, {"'w'", "end before begin"});
  }
  SUBCASE("overlapping tensors") {
    write_raw(p, "{" + ok_entry + R"(,"v":{"dtype":"F32","shape":[2],"data_offsets":[4,12]}})", kTwo + "abcd");
    expect_load_error(p, {"'v'", "overlaps", "'w'"});
  }
  SUBCASE("hole between tensors") {
    write_raw(p, "{" + ok_entry + R"(,"v":{"dtype":"F32","shape":[1],"data_offsets":[12,16]}})", kTwo + "abcdefgh");
    expect_load_error(p, {"'v'", "hole"});
  }
  SUBCASE("trailing bytes after the last tensor") {
    write_raw(p, "{" + ok_entry + "}", kTwo + "xyz");
    expect_load_error(p, {"trailing", "'w'"});
  }
  SUBCASE("non-string metadata") {
    write_raw(p, "{" + ok_entry + R"(,"__metadata__":{"epoch":3}})", kTwo);
    expect_load_error(p, {"__metadata__", "epoch"});
  }
  SUBCASE("duplicate tensor name") {
    write_raw(p, "{" + ok_entry + "," + ok_entry + "}", kTwo);
    expect_load_error(p, {"'w'", "twice"});
  }
}
