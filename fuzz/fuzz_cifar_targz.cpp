// libFuzzer target: a CIFAR-10 .tar.gz archive through load_cifar10 (libarchive: gzip filter, tar
// headers, member lookup, then the batch and class-name parsers), both splits as the train program
// loads them. Without libarchive in the build every archive is refused, which is also checked.
#include "datasets/archive.h"
#include "datasets/cifar.h"
#include "fuzz/idx_check.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace tg;
  const std::string path = fuzz::write_temp(data, size, "-cifar-10-binary.tar.gz");
  fuzz::expect_clean_refusal([&] {
    data::DatasetSplits s = data::load_cifar10(path);
    fuzz::check_loaded(s.train);
    fuzz::check_loaded(s.test);
  });
  return 0;
}
