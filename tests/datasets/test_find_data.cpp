// Finding datasets by name, channel statistics, and the real Fashion-MNIST when Debian's
// dataset-fashion-mnist package is installed.
#include <doctest/doctest.h>

#include <filesystem>

#include "datasets/archive.h"
#include "datasets/find_data.h"
#include "datasets/idx.h"
#include "tests/datasets/data_fixtures.h"

using namespace tg;
using namespace tg::data;
using tg::test::contains;
using tg::test::io_error_of;

TEST_CASE("find_data: names are canonicalised; unknown names throw") {
  CHECK(canonical_dataset_name("CIFAR-10") == "cifar10");
  CHECK(canonical_dataset_name("cifar100") == "cifar100");
  CHECK(canonical_dataset_name("Fashion_MNIST") == "fashion-mnist");
  CHECK(canonical_dataset_name("mnist") == "mnist");
  CHECK_THROWS_AS(canonical_dataset_name("imagenet"), tg::Error);
}

TEST_CASE("find_data: the error lists every place looked at") {
  test::TempDir tmp("find_none");
  const std::string msg = io_error_of([&] { load_dataset("cifar10", tmp.str()); });
  for (const auto& c : dataset_candidates("cifar10", tmp.str())) CHECK(contains(msg, c));
  CHECK(contains(msg, tmp.file("cifar-10-batches-bin")));
  CHECK(contains(msg, tmp.file("cifar-10-binary.tar.gz")));
  CHECK(contains(msg, "download_data.sh"));
}

TEST_CASE("find_data: cifar10 from data/cifar-10-binary.tar.gz, mnist from data/mnist") {
  test::TempDir tmp("find_some");
  if (archive_supported()) {  // the tarball path needs libarchive
    std::map<std::string, Bytes> members;
    std::string meta;
    for (int i = 0; i < 10; ++i) meta += "class" + std::to_string(i) + "\n";
    members["cifar-10-batches-bin/batches.meta.txt"] = test::text_bytes(meta);
    for (int k = 1; k <= 5; ++k)
      members["cifar-10-batches-bin/data_batch_" + std::to_string(k) + ".bin"] =
          test::cifar_file_bytes({{static_cast<uint8_t>(k)}}, k);
    members["cifar-10-batches-bin/test_batch.bin"] = test::cifar_file_bytes({{9}, {8}}, 50);
    write_tar_gz(tmp.file("cifar-10-binary.tar.gz"), members);
    const DatasetSplits c = load_dataset("cifar10", tmp.str());
    CHECK(c.source == tmp.file("cifar-10-binary.tar.gz"));
    CHECK(c.train.size() == 5);
    CHECK(c.train.labels == std::vector<int32_t>{1, 2, 3, 4, 5});
    CHECK(c.test.size() == 2);
    CHECK(c.test.image(1)[0] == test::test_pixel(51, 0, 0, 0));
  } else {
    MESSAGE("skipped the .tar.gz part: this build has no libarchive");
  }

  std::filesystem::create_directories(tmp.file("mnist"));
  for (const std::string prefix : {"train", "t10k"}) {
    write_file(tmp.file("mnist/" + prefix + "-images-idx3-ubyte.gz"), gzip(test::idx_bytes({2, 2, 2}, Bytes(8, 7))));
    write_file(tmp.file("mnist/" + prefix + "-labels-idx1-ubyte.gz"), gzip(test::idx_bytes({2}, Bytes{3, 4})));
  }
  const DatasetSplits m = load_dataset("mnist", tmp.str());
  CHECK(m.source == tmp.file("mnist"));
  CHECK(m.train.labels == std::vector<int32_t>{3, 4});

  // A candidate that exists but is broken is reported as such, not skipped.
  write_file(tmp.file("mnist/t10k-labels-idx1-ubyte.gz"), Bytes{0x1f, 0x8b, 0, 0});
  const std::string msg = io_error_of([&] { load_dataset("mnist", tmp.str()); });
  CHECK(contains(msg, "found mnist at '" + tmp.file("mnist") + "'"));
  CHECK(contains(msg, "t10k-labels-idx1-ubyte.gz"));
}

TEST_CASE("channel stats: closed form on a two-image dataset") {
  Dataset ds;
  ds.name = "stats";
  ds.channels = 2;
  ds.height = 1;
  ds.width = 2;
  ds.class_names = {"a"};
  ds.labels = {0, 0};
  ds.images = {0, 255, 51, 51, /* image 2 */ 0, 255, 102, 102};  // (N=2, C=2, 1, 2)
  const ChannelStats st = compute_channel_stats(ds);
  // channel 0: values {0, 1, 0, 1} -> mean 0.5, std 0.5; channel 1: {0.2, 0.2, 0.4, 0.4} -> 0.3, 0.1
  CHECK(st.mean[0] == doctest::Approx(0.5));
  CHECK(st.std[0] == doctest::Approx(0.5));
  CHECK(st.mean[1] == doctest::Approx(0.3));
  CHECK(st.std[1] == doctest::Approx(0.1));
  CHECK(ds.class_histogram() == std::vector<int64_t>{2});
  const Dataset s = slice(ds, 1, 1);
  CHECK(s.images == std::vector<uint8_t>{0, 255, 102, 102});
}

TEST_CASE("fashion-mnist: the real dataset from Debian's dataset-fashion-mnist, when installed") {
  const std::string dir = "/usr/share/datasets/fashion-mnist";
  if (!std::filesystem::exists(dir + "/train-images-idx3-ubyte.gz")) {
    MESSAGE("skipped: " << dir << " is absent (apt install dataset-fashion-mnist to run this test)");
    return;
  }
  const DatasetSplits s = load_dataset("fashion-mnist", "/nonexistent-data-dir");
  CHECK(s.source == dir);
  REQUIRE(s.train.size() == 60000);
  REQUIRE(s.test.size() == 10000);
  CHECK(s.train.height == 28);
  CHECK(s.train.width == 28);
  CHECK(s.train.class_histogram() == std::vector<int64_t>(10, 6000));
  CHECK(s.test.class_histogram() == std::vector<int64_t>(10, 1000));
  // Checksums of the first image's 784 bytes, computed once from the package's files with:
  //   python3 -c "import gzip; d=gzip.open('/usr/share/datasets/fashion-mnist/train-images-idx3-ubyte.gz').read()[16:16+784];
  //               h=0xcbf29ce484222325
  //               for b in d: h=((h^b)*0x100000001b3)&0xFFFFFFFFFFFFFFFF
  //               print(hex(h), sum(d))"
  // (FNV-1a 64; the same for t10k-images). First training label = 9 (ankle boot).
  CHECK(test::fnv1a64(s.train.image(0), 784) == 0x01fdf72590541338ULL);
  CHECK(s.train.labels[0] == 9);
  CHECK(test::fnv1a64(s.test.image(0), 784) == 0xcb45b7589f1b853bULL);
  // Statistics agree with the published constants (0.2860, 0.3530) to their printed precision.
  const ChannelStats st = compute_channel_stats(s.train);
  CHECK(st.mean[0] == doctest::Approx(0.2860).epsilon(0.0005));
  CHECK(st.std[0] == doctest::Approx(0.3530).epsilon(0.0005));
}

TEST_CASE("slice and channel stats: validate the dataset first; a range past int64 is refused") {
  Dataset ds;
  ds.name = "tiny";
  ds.channels = 1;
  ds.height = 1;
  ds.width = 2;
  ds.class_names = {"a"};
  ds.labels = {0, 0, 0};
  ds.images = {1, 2, 3, 4, 5, 6};
  // begin + count wrapped around, passed the range check and read out of bounds.
  CHECK_THROWS_WITH_AS(slice(ds, INT64_MAX, 1), doctest::Contains("range of 1 samples from 9223372036854775807 is outside"),
                       tg::Error);
  CHECK(slice(ds, 3, 0).size() == 0);
  // Fewer pixel bytes than N*C*H*W: both read past the buffer before.
  ds.images.resize(4);
  CHECK_THROWS_WITH_AS(slice(ds, 2, 1), doctest::Contains("3 labels need 6 pixel bytes, found 4"), tg::Error);
  CHECK_THROWS_WITH_AS(compute_channel_stats(ds), doctest::Contains("3 labels need 6 pixel bytes, found 4"), tg::Error);
}
