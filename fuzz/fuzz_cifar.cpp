// libFuzzer target: one CIFAR binary batch file through append_cifar_records. The first byte picks
// the record format (CIFAR-10; CIFAR-100 fine; CIFAR-100 coarse), the rest is the file; the same
// bytes are also read as a class-names file. Every dataset that loads must pass Dataset::validate.
#include "datasets/cifar.h"
#include "fuzz/idx_check.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace tg;
  if (size == 0) return 0;
  const data::CifarRecordFormat formats[3] = {{1, 0, {10, 0}}, {2, 1, {20, 100}}, {2, 0, {20, 100}}};
  const data::CifarRecordFormat& fmt = formats[data[0] % 3];
  const data::Bytes file(data + 1, data + size);
  fuzz::expect_clean_refusal([&] {
    data::Dataset ds;
    ds.name = "fuzz";
    ds.channels = data::kCifarChannels;
    ds.height = ds.width = data::kCifarSide;
    ds.class_names.assign(fmt.label_index == 1 ? 100 : (fmt.label_bytes == 2 ? 20 : 10), "c");
    data::append_cifar_records(file, "fuzz.bin", fmt, ds);
    fuzz::check_loaded(ds);
  });
  fuzz::expect_clean_refusal([&] { data::parse_class_names(file, "fuzz.txt", 10); });
  return 0;
}
