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
