// Regression tests for what the hostile run (issue 22) and the fuzz targets (fuzz/) found in the
// dataset parsers; each input is also in fuzz/corpus/ so the fuzzers start from it.
#include <doctest/doctest.h>

#include "datasets/idx.h"
#include "tests/datasets/data_fixtures.h"

using namespace tg;
using namespace tg::data;
using tg::test::contains;
using tg::test::io_error_of;

TEST_CASE("gzip: bytes after the last member are refused, naming the file and where the member ended") {
  const Bytes labels = test::idx_bytes({3}, {1, 2, 3});
  const Bytes gz = gzip(labels);
  for (const Bytes& tail : {Bytes{'x'}, Bytes{'g', 'a', 'r', 'b', 'a', 'g', 'e'}, Bytes(512, 0), Bytes{0x1f}}) {
    Bytes bad = gz;
    bad.insert(bad.end(), tail.begin(), tail.end());
    const std::string msg = io_error_of([&] { gunzip(bad, "labels.gz"); });
    CHECK(contains(msg, "trailing garbage in 'labels.gz'"));
    CHECK(contains(msg, "member ending at compressed byte " + std::to_string(gz.size())));
    CHECK(contains(msg, "found " + std::to_string(tail.size()) + " more bytes"));
  }
  // Through the file loader too: the whole path names the file.
  test::TempDir tmp("gz_tail");
  Bytes bad = gz;
  bad.push_back('!');
  write_file(tmp.file("t10k-labels-idx1-ubyte.gz"), bad);
  CHECK(contains(io_error_of([&] { read_idx(tmp.file("t10k-labels-idx1-ubyte.gz"), 1); }), "trailing garbage in '"));
  // A second member is deliberate gzip (`cat a.gz b.gz`) and still reads as the concatenation.
  Bytes two = gzip(Bytes(labels.begin(), labels.begin() + 5));
  const Bytes rest = gzip(Bytes(labels.begin() + 5, labels.end()));
  two.insert(two.end(), rest.begin(), rest.end());
  CHECK(gunzip(two, "two.gz") == labels);
  CHECK(parse_idx(maybe_gunzip(two, "two.gz"), "two.gz", 1).data == Bytes{1, 2, 3});
}

TEST_CASE("idx: zero images of absurd sides are refused, not multiplied into a signed overflow") {
  // fuzz_idx found it (UBSan: signed overflow in Dataset::image_numel): dims (0, 4278190079,
  // 4294967295) need 0 data bytes, so the header parsed and an empty label file matched it.
  test::TempDir tmp("idx_sides");
  const std::string images = tmp.file("images"), labels = tmp.file("labels");
  write_file(labels, test::idx_bytes({0}, {}));
  for (auto [h, w] : {std::pair<uint32_t, uint32_t>{0xfeffffffu, 0xffffffffu}, {0, 28}, {28, 0}, {65536, 1}}) {
    write_file(images, test::idx_bytes({0, h, w}, {}));
    const std::string msg = io_error_of([&] { load_idx_dataset(images, labels, mnist_class_names(), "t"); });
    CHECK(contains(msg, "IDX image file '" + images + "' holds images of " + std::to_string(h) + " x " + std::to_string(w)));
    CHECK(contains(msg, "expected each side in [1, 65535]"));
  }
  write_file(images, test::idx_bytes({0, 65535, 2}, {}));  // the largest side still loads (no images)
  CHECK(load_idx_dataset(images, labels, mnist_class_names(), "t").height == 65535);
}

TEST_CASE("dataset: validate refuses a shape whose size overflows int64, naming it") {
  Dataset ds;
  ds.name = "huge";
  ds.channels = 3;
  ds.height = ds.width = int64_t{1} << 31;
  ds.class_names = {"a"};
  std::string msg;
  try {
    ds.validate();
  } catch (const Error& e) {
    msg = e.what();
  }
  CHECK(contains(msg, "dataset 'huge': 0 images of shape (3, 2147483648, 2147483648) overflow a 64-bit size"));
  ds.height = ds.width = 2;
  ds.labels = {0};
  ds.images.assign(12, 0);
  CHECK_NOTHROW(ds.validate());
}
