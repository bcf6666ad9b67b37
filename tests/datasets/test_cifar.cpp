// CIFAR-10/100 binary loaders: exact pixels, labels and channel order from generated files,
// from the extracted directory and from a .tar.gz, and every kind of bad input.
#include <doctest/doctest.h>

#include <filesystem>

#include "datasets/archive.h"
#include "datasets/cifar.h"
#include "tests/datasets/data_fixtures.h"

using namespace tg;
using namespace tg::data;
using tg::test::contains;
using tg::test::io_error_of;

namespace {

const char* const kMeta10 = "airplane\nautomobile\nbird\ncat\ndeer\ndog\nfrog\nhorse\nship\ntruck\n\n";
const int kTrainCounts[5] = {2, 3, 1, 2, 2};  // records per data_batch_k.bin
const int kTestCount = 3;

uint8_t label10(int64_t i) { return static_cast<uint8_t>((i * 3 + 1) % 10); }

// {member name -> bytes} of a tiny CIFAR-10: train images 0..9, test images 100..102.
std::map<std::string, Bytes> tiny_cifar10() {
  std::map<std::string, Bytes> files;
  files["batches.meta.txt"] = test::text_bytes(kMeta10);
  int64_t first = 0;
  for (int k = 0; k < 5; ++k) {
    std::vector<std::vector<uint8_t>> labels;
    for (int r = 0; r < kTrainCounts[k]; ++r) labels.push_back({label10(first + r)});
    files["data_batch_" + std::to_string(k + 1) + ".bin"] = test::cifar_file_bytes(labels, first);
    first += kTrainCounts[k];
  }
  std::vector<std::vector<uint8_t>> test_labels;
  for (int r = 0; r < kTestCount; ++r) test_labels.push_back({label10(100 + r)});
  files["test_batch.bin"] = test::cifar_file_bytes(test_labels, 100);
  return files;
}

std::string write_dir(const test::TempDir& tmp, const std::map<std::string, Bytes>& files, const std::string& sub) {
  const std::string dir = tmp.file(sub);
  std::filesystem::create_directories(dir);
  for (const auto& [name, bytes] : files) write_file(dir + "/" + name, bytes);
  return dir;
}

// Every pixel and label of `ds` equals the generator's, image i of the split = generated image first + i.
void check_cifar_content(const Dataset& ds, int64_t n, int64_t first, uint8_t (*label_of)(int64_t)) {
  REQUIRE(ds.size() == n);
  CHECK(ds.channels == 3);
  CHECK(ds.height == 32);
  CHECK(ds.width == 32);
  int64_t mismatches = 0;
  for (int64_t i = 0; i < n; ++i) {
    CHECK(ds.labels[i] == label_of(first + i));
    const uint8_t* img = ds.image(i);  // (3, 32, 32): R plane, G plane, B plane
    for (int c = 0; c < 3; ++c)
      for (int y = 0; y < 32; ++y)
        for (int x = 0; x < 32; ++x) mismatches += img[(c * 32 + y) * 32 + x] != test::test_pixel(first + i, c, y, x);
  }
  CHECK(mismatches == 0);
}

}  // namespace

TEST_CASE("cifar10: extracted directory reads back exact pixels, labels and class names") {
  test::TempDir tmp("cifar10_dir");
  const std::string dir = write_dir(tmp, tiny_cifar10(), "cifar-10-batches-bin");
  const Dataset train = load_cifar10(dir, Split::Train);
  check_cifar_content(train, 10, 0, label10);
  REQUIRE(train.num_classes() == 10);
  CHECK(train.class_names[0] == "airplane");
  CHECK(train.class_names[9] == "truck");
  // Channel order: the first 1024 bytes after the label are red. The generator's channel term
  // (c * 71) makes the planes differ, so a G/B swap would fail here.
  CHECK(train.image(3)[0] == test::test_pixel(3, 0, 0, 0));
  CHECK(train.image(3)[1024] == test::test_pixel(3, 1, 0, 0));
  CHECK(train.image(3)[2048 + 32 * 5 + 7] == test::test_pixel(3, 2, 5, 7));
  const Dataset testset = load_cifar10(dir, Split::Test);
  check_cifar_content(testset, kTestCount, 100, label10);
  CHECK_NOTHROW(train.validate());
}

TEST_CASE("cifar10: the .tar.gz archive gives the same data as the directory") {
  if (!archive_supported()) {
    MESSAGE("skipped: this build has no libarchive");
    return;
  }
  test::TempDir tmp("cifar10_tar");
  std::map<std::string, Bytes> members;
  for (auto& [name, bytes] : tiny_cifar10()) members["cifar-10-batches-bin/" + name] = bytes;
  members["cifar-10-batches-bin/readme.html"] = test::text_bytes("<html></html>");
  const std::string tgz = tmp.file("cifar-10-binary.tar.gz");
  write_tar_gz(tgz, members);
  const DatasetSplits s = load_cifar10(tgz);
  check_cifar_content(s.train, 10, 0, label10);
  check_cifar_content(s.test, kTestCount, 100, label10);
  CHECK(s.train.class_names[3] == "cat");
  const Dataset only_test = load_cifar10(tgz, Split::Test);
  CHECK(only_test.images == s.test.images);
}

TEST_CASE("cifar100: coarse + fine label bytes, same record path") {
  test::TempDir tmp("cifar100");
  std::string fine_names, coarse_names;
  for (int i = 0; i < 100; ++i) fine_names += "fine" + std::to_string(i) + "\n";
  for (int i = 0; i < 20; ++i) coarse_names += "coarse" + std::to_string(i) + "\n";
  auto fine_of = [](int64_t i) { return static_cast<uint8_t>((i * 37) % 100); };
  auto coarse_of = [](int64_t i) { return static_cast<uint8_t>((i * 7) % 20); };
  std::vector<std::vector<uint8_t>> train_labels, test_labels;
  for (int i = 0; i < 4; ++i) train_labels.push_back({coarse_of(i), fine_of(i)});
  for (int i = 0; i < 2; ++i) test_labels.push_back({coarse_of(50 + i), fine_of(50 + i)});
  std::map<std::string, Bytes> files{{"train.bin", test::cifar_file_bytes(train_labels, 0)},
                                     {"test.bin", test::cifar_file_bytes(test_labels, 50)},
                                     {"fine_label_names.txt", test::text_bytes(fine_names)},
                                     {"coarse_label_names.txt", test::text_bytes(coarse_names)}};
  const std::string dir = write_dir(tmp, files, "cifar-100-binary");
  const DatasetSplits fine = load_cifar100(dir);
  check_cifar_content(fine.train, 4, 0, +fine_of);
  check_cifar_content(fine.test, 2, 50, +fine_of);
  CHECK(fine.train.num_classes() == 100);
  CHECK(fine.train.class_names[42] == "fine42");
  const Dataset coarse = load_cifar100(dir, Split::Train, Cifar100Label::Coarse);
  check_cifar_content(coarse, 4, 0, +coarse_of);
  CHECK(coarse.num_classes() == 20);

  // The same files inside an archive.
  if (!archive_supported()) return;
  std::map<std::string, Bytes> members;
  for (auto& [name, bytes] : files) members["cifar-100-binary/" + name] = bytes;
  write_tar_gz(tmp.file("cifar-100-binary.tar.gz"), members);
  const DatasetSplits from_tar = load_cifar100(tmp.file("cifar-100-binary.tar.gz"));
  CHECK(from_tar.train.images == fine.train.images);
  CHECK(from_tar.train.labels == fine.train.labels);

  // A coarse label byte out of range is caught even when loading fine labels.
  files["train.bin"][0] = 20;
  write_file(dir + "/train.bin", files["train.bin"]);
  const std::string msg = io_error_of([&] { load_cifar100(dir, Split::Train); });
  CHECK(contains(msg, "train.bin"));
  CHECK(contains(msg, "coarse label 20"));
  CHECK(contains(msg, "[0, 20)"));
}

TEST_CASE("cifar10: bad input throws IOError naming the file, the expectation and the finding") {
  test::TempDir tmp("cifar10_bad");
  const auto files = tiny_cifar10();

  SUBCASE("missing directory") {
    const std::string msg = io_error_of([&] { load_cifar10(tmp.file("nowhere"), Split::Train); });
    CHECK(contains(msg, tmp.file("nowhere")));
    CHECK(contains(msg, "found nothing"));
  }
  SUBCASE("missing file") {
    const std::string dir = write_dir(tmp, files, "d");
    std::filesystem::remove(dir + "/data_batch_3.bin");
    const std::string msg = io_error_of([&] { load_cifar10(dir, Split::Train); });
    CHECK(contains(msg, "data_batch_3.bin"));
    CHECK_NOTHROW(load_cifar10(dir, Split::Test));  // the test split does not need it
  }
  SUBCASE("size not a multiple of the record size (truncated)") {
    auto f = files;
    f["data_batch_2.bin"].resize(3073 * 2 + 100);
    const std::string dir = write_dir(tmp, f, "d");
    const std::string msg = io_error_of([&] { load_cifar10(dir, Split::Train); });
    CHECK(contains(msg, "data_batch_2.bin"));
    CHECK(contains(msg, "not a multiple of the record size 3073"));
    CHECK(contains(msg, std::to_string(3073 * 2 + 100)));
  }
  SUBCASE("empty file") {
    auto f = files;
    f["test_batch.bin"].clear();
    const std::string dir = write_dir(tmp, f, "d");
    const std::string msg = io_error_of([&] { load_cifar10(dir, Split::Test); });
    CHECK(contains(msg, "test_batch.bin"));
    CHECK(contains(msg, "empty"));
  }
  SUBCASE("label out of range") {
    auto f = files;
    f["data_batch_4.bin"][3073] = 10;  // second record's label byte
    const std::string dir = write_dir(tmp, f, "d");
    const std::string msg = io_error_of([&] { load_cifar10(dir, Split::Train); });
    CHECK(contains(msg, "data_batch_4.bin"));
    CHECK(contains(msg, "record 1 has label 10"));
    CHECK(contains(msg, "[0, 10)"));
  }
  SUBCASE("class names file with the wrong number of names") {
    auto f = files;
    f["batches.meta.txt"] = test::text_bytes("airplane\nautomobile\n");
    const std::string dir = write_dir(tmp, f, "d");
    const std::string msg = io_error_of([&] { load_cifar10(dir, Split::Test); });
    CHECK(contains(msg, "batches.meta.txt"));
    CHECK(contains(msg, "expected 10 non-empty lines, found 2"));
  }
  SUBCASE("a path that is neither a directory nor an archive") {
    write_file(tmp.file("cifar.zip"), test::text_bytes("PK"));
    const std::string msg = io_error_of([&] { load_cifar10(tmp.file("cifar.zip"), Split::Test); });
    CHECK(contains(msg, "cifar.zip"));
    CHECK(contains(msg, "expected a directory"));
  }
}

TEST_CASE("cifar10 archive: corrupt, truncated or incomplete .tar.gz throws IOError") {
  if (!archive_supported()) {
    MESSAGE("skipped: this build has no libarchive");
    return;
  }
  test::TempDir tmp("cifar10_badtar");
  std::map<std::string, Bytes> members;
  for (auto& [name, bytes] : tiny_cifar10()) members["cifar-10-batches-bin/" + name] = bytes;
  const std::string good = tmp.file("good.tar.gz");
  write_tar_gz(good, members);
  const Bytes gz = read_file(good);
  REQUIRE(gz.size() > 200);

  SUBCASE("corrupt gzip stream") {
    Bytes bad = gz;
    for (size_t i = bad.size() / 3; i < bad.size() / 3 + 64; ++i) bad[i] ^= 0x5a;
    write_file(tmp.file("corrupt.tar.gz"), bad);
    const std::string msg = io_error_of([&] { load_cifar10(tmp.file("corrupt.tar.gz")); });
    CHECK(contains(msg, "corrupt.tar.gz"));
  }
  SUBCASE("truncated archive") {
    Bytes cut(gz.begin(), gz.begin() + static_cast<std::ptrdiff_t>(gz.size() / 2));
    write_file(tmp.file("cut.tar.gz"), cut);
    const std::string msg = io_error_of([&] { load_cifar10(tmp.file("cut.tar.gz")); });
    CHECK(contains(msg, "cut.tar.gz"));
  }
  SUBCASE("member missing from the archive") {
    auto partial = members;
    partial.erase("cifar-10-batches-bin/data_batch_5.bin");
    write_tar_gz(tmp.file("partial.tar.gz"), partial);
    const std::string msg = io_error_of([&] { load_cifar10(tmp.file("partial.tar.gz"), Split::Train); });
    CHECK(contains(msg, "partial.tar.gz"));
    CHECK(contains(msg, "lacks expected member(s): data_batch_5.bin"));
  }
  SUBCASE("malformed record inside the archive names the member") {
    auto bad = members;
    bad["cifar-10-batches-bin/data_batch_1.bin"].pop_back();
    write_tar_gz(tmp.file("short.tar.gz"), bad);
    const std::string msg = io_error_of([&] { load_cifar10(tmp.file("short.tar.gz"), Split::Train); });
    CHECK(contains(msg, "short.tar.gz:data_batch_1.bin"));
    CHECK(contains(msg, "not a multiple"));
  }
}

TEST_CASE("append_cifar_records: a malformed record format is refused before any read") {
  Dataset d;
  const Bytes bytes(3072 * 4, 0);
  auto format = [](int label_bytes, int label_index, int limit0) {
    CifarRecordFormat f;
    f.label_bytes = label_bytes;
    f.label_index = label_index;
    f.label_limits[0] = limit0;
    f.label_limits[1] = 100;
    return f;
  };
  // label_bytes -1 made the record 3071 bytes and read rec[-1].
  CHECK_THROWS_WITH_AS(append_cifar_records(bytes, "x.bin", format(-1, 0, 10), d),
                       doctest::Contains("label_bytes must be 1 or 2, got -1"), tg::Error);
  CHECK_THROWS_WITH_AS(append_cifar_records(bytes, "x.bin", format(3, 0, 10), d),
                       doctest::Contains("label_bytes must be 1 or 2, got 3"), tg::Error);
  CHECK_THROWS_WITH_AS(append_cifar_records(bytes, "x.bin", format(2, -1, 10), d),
                       doctest::Contains("label_index must be in [0, label_bytes=2), got -1"), tg::Error);
  CHECK_THROWS_WITH_AS(append_cifar_records(bytes, "x.bin", format(1, 1, 10), d),
                       doctest::Contains("label_index must be in [0, label_bytes=1), got 1"), tg::Error);
  CHECK_THROWS_WITH_AS(append_cifar_records(bytes, "x.bin", format(1, 0, 0), d),
                       doctest::Contains("label_limits[0] must be in [1, 256], got 0"), tg::Error);
  CHECK(d.size() == 0);
}
