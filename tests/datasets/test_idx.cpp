// IDX (MNIST / Fashion-MNIST) and gzip reading: exact round trips from generated files, raw and
// compressed, and every kind of bad header or stream.
#include <doctest/doctest.h>

#include <filesystem>

#include "datasets/idx.h"
#include "tests/datasets/data_fixtures.h"

using namespace tg;
using namespace tg::data;
using tg::test::contains;
using tg::test::io_error_of;

namespace {

// N images of H x W with pixel (i, y, x) = test_pixel(i, 0, y, x), labels (i * 7) % 10.
Bytes images_idx(uint32_t n, uint32_t h, uint32_t w) {
  Bytes payload;
  for (uint32_t i = 0; i < n; ++i)
    for (uint32_t y = 0; y < h; ++y)
      for (uint32_t x = 0; x < w; ++x) payload.push_back(test::test_pixel(i, 0, y, x));
  return test::idx_bytes({n, h, w}, payload);
}

Bytes labels_idx(uint32_t n) {
  Bytes payload;
  for (uint32_t i = 0; i < n; ++i) payload.push_back(static_cast<uint8_t>((i * 7) % 10));
  return test::idx_bytes({n}, payload);
}

void write_split(const test::TempDir& tmp, const std::string& prefix, uint32_t n, bool gz) {
  const std::string ext = gz ? ".gz" : "";
  Bytes im = images_idx(n, 5, 4), lb = labels_idx(n);
  write_file(tmp.file(prefix + "-images-idx3-ubyte" + ext), gz ? gzip(im) : im);
  write_file(tmp.file(prefix + "-labels-idx1-ubyte" + ext), gz ? gzip(lb) : lb);
}

void check_content(const Dataset& ds, int64_t n) {
  REQUIRE(ds.size() == n);
  CHECK(ds.channels == 1);
  CHECK(ds.height == 5);
  CHECK(ds.width == 4);
  int64_t bad = 0;
  for (int64_t i = 0; i < n; ++i) {
    bad += ds.labels[i] != (i * 7) % 10;
    for (int y = 0; y < 5; ++y)
      for (int x = 0; x < 4; ++x) bad += ds.image(i)[y * 4 + x] != test::test_pixel(i, 0, y, x);
  }
  CHECK(bad == 0);
}

}  // namespace

TEST_CASE("gzip: round trip, concatenated members, corrupt and truncated streams") {
  Bytes raw;
  for (uint32_t i = 0; i < 100000; ++i) raw.push_back(static_cast<uint8_t>((i * i) >> 3));
  const Bytes gz = gzip(raw);
  CHECK(is_gzip(gz));
  CHECK_FALSE(is_gzip(raw));
  CHECK(gunzip(gz, "mem") == raw);

  Bytes two = gz;  // `cat a.gz b.gz` is a valid gzip file holding a + b
  two.insert(two.end(), gz.begin(), gz.end());
  Bytes raw2 = raw;
  raw2.insert(raw2.end(), raw.begin(), raw.end());
  CHECK(gunzip(two, "mem") == raw2);

  Bytes corrupt = gz;
  for (size_t i = 20; i < 60; ++i) corrupt[i] ^= 0xff;
  std::string msg = io_error_of([&] { gunzip(corrupt, "corrupt.gz"); });
  CHECK(contains(msg, "corrupt.gz"));

  Bytes cut(gz.begin(), gz.begin() + static_cast<std::ptrdiff_t>(gz.size() - 10));
  msg = io_error_of([&] { gunzip(cut, "cut.gz"); });
  CHECK(contains(msg, "truncated gzip stream in 'cut.gz'"));

  Bytes flipped_crc = gz;  // payload intact, CRC32 trailer wrong
  flipped_crc[flipped_crc.size() - 6] ^= 1;
  msg = io_error_of([&] { gunzip(flipped_crc, "crc.gz"); });
  CHECK(contains(msg, "crc.gz"));
}

TEST_CASE("idx: raw and gzip files read back exactly") {
  test::TempDir tmp("idx_ok");
  write_split(tmp, "train", 7, /*gz=*/false);
  write_split(tmp, "t10k", 3, /*gz=*/true);
  const DatasetSplits s = load_mnist(tmp.str());
  check_content(s.train, 7);
  check_content(s.test, 3);
  CHECK(s.train.num_classes() == 10);
  CHECK(s.train.class_names[3] == "3");
  const Dataset f = load_fashion_mnist(tmp.str(), Split::Test);
  check_content(f, 3);
  CHECK(f.class_names[9] == "Ankle boot");
  const IdxArray arr = read_idx(tmp.file("t10k-images-idx3-ubyte.gz"), 3);
  CHECK(arr.dims == std::vector<int64_t>{3, 5, 4});
  CHECK(arr.data.size() == 60u);
}

TEST_CASE("idx: bad input throws IOError naming the file, the expectation and the finding") {
  test::TempDir tmp("idx_bad");
  write_split(tmp, "train", 6, false);
  const std::string images = tmp.file("train-images-idx3-ubyte"), labels = tmp.file("train-labels-idx1-ubyte");
  auto load = [&] { return load_idx_dataset(images, labels, mnist_class_names(), "t"); };

  SUBCASE("missing file") {
    std::filesystem::remove(labels);
    const std::string msg = io_error_of([&] { load_mnist(tmp.str(), Split::Train); });
    CHECK(contains(msg, "train-labels-idx1-ubyte"));
    CHECK(contains(msg, "train-labels-idx1-ubyte.gz"));
    CHECK(contains(msg, "found neither"));
  }
  SUBCASE("wrong magic") {
    Bytes b = images_idx(6, 5, 4);
    b[2] = 0x0d;  // float data
    write_file(images, b);
    const std::string msg = io_error_of(load);
    CHECK(contains(msg, images));
    CHECK(contains(msg, "wrong magic: expected 00 00 08 03"));
    CHECK(contains(msg, "found 00 00 0d 03"));
  }
  SUBCASE("wrong dimension count") {
    write_file(images, labels_idx(6));  // a 1-d file where 3-d images are expected
    const std::string msg = io_error_of(load);
    CHECK(contains(msg, images));
    CHECK(contains(msg, "has 1 dimensions, expected 3"));
  }
  SUBCASE("truncated data") {
    Bytes b = images_idx(6, 5, 4);
    b.erase(b.end() - 11, b.end());
    write_file(images, b);
    const std::string msg = io_error_of(load);
    CHECK(contains(msg, images));
    CHECK(contains(msg, "truncated"));
    CHECK(contains(msg, "need 120 data bytes"));
    CHECK(contains(msg, "found 109"));
  }
  SUBCASE("truncated header") {
    write_file(images, Bytes{0, 0, 8, 3, 0, 0});
    const std::string msg = io_error_of(load);
    CHECK(contains(msg, "expected a 16-byte header, found 6 bytes"));
  }
  SUBCASE("trailing bytes") {
    Bytes b = labels_idx(6);
    b.push_back(0);
    write_file(labels, b);
    const std::string msg = io_error_of(load);
    CHECK(contains(msg, labels));
    CHECK(contains(msg, "longer than its header says"));
  }
  SUBCASE("image/label count mismatch") {
    write_file(labels, labels_idx(5));
    const std::string msg = io_error_of(load);
    CHECK(contains(msg, "holds 6 images"));
    CHECK(contains(msg, "holds 5 labels"));
  }
  SUBCASE("label out of range") {
    Bytes b = labels_idx(6);
    b.back() = 12;
    write_file(labels, b);
    const std::string msg = io_error_of(load);
    CHECK(contains(msg, labels));
    CHECK(contains(msg, "label 12 of sample 5"));
  }
  SUBCASE("corrupt gzip") {
    Bytes gz = gzip(images_idx(6, 5, 4));
    for (size_t i = 12; i < gz.size() - 8; ++i) gz[i] = static_cast<uint8_t>(i * 13);
    std::filesystem::remove(images);
    write_file(images + ".gz", gz);
    const std::string msg = io_error_of([&] { load_mnist(tmp.str(), Split::Train); });
    CHECK(contains(msg, images + ".gz"));
  }
}

TEST_CASE("idx_dataset: arrays given by a caller are checked for rank, then as a Dataset") {
  auto make = [](IdxArray images, IdxArray labels) { return idx_dataset(images, labels, {"a"}, "t", "im.idx", "lb.idx"); };
  // Empty dims indexed dims[0..2] (SEGV), 1-D dims read dims[1], short data was accepted.
  CHECK_THROWS_WITH_AS(make({{}, Bytes(4, 0)}, {{1}, Bytes(1, 0)}), doctest::Contains("'im.idx' has 0 dimensions, expected 3"),
                       IOError);
  CHECK_THROWS_WITH_AS(make({{5}, Bytes(5, 0)}, {{5}, Bytes(5, 0)}), doctest::Contains("'im.idx' has 1 dimensions, expected 3"),
                       IOError);
  CHECK_THROWS_WITH_AS(make({{1, 2, 2}, Bytes(4, 0)}, {{}, Bytes(1, 0)}),
                       doctest::Contains("'lb.idx' has 0 dimensions, expected 1"), IOError);
  // Data that disagrees with the dims: Dataset::validate's byte count (it was accepted).
  CHECK_THROWS_WITH_AS(make({{5, 3, 3}, Bytes(18, 0)}, {{5}, Bytes(5, 0)}),
                       doctest::Contains("dataset 't': 5 labels need 45 pixel bytes, found 18"), Error);
  CHECK_THROWS_WITH_AS(make({{2, 3, 3}, Bytes(18, 0)}, {{2}, Bytes(5, 0)}),
                       doctest::Contains("dataset 't': 5 labels need 45 pixel bytes, found 18"), Error);
  CHECK(make({{2, 3, 3}, Bytes(18, 0)}, {{2}, Bytes(2, 0)}).size() == 2);
}
