// libFuzzer target: the train program's JSON run config through load_config_file (JSON parse,
// apply_json), then resolve_defaults and validate as the CLI does. A config that validates must
// survive to_json -> apply_json unchanged (the form saved next to each run and in checkpoints).
#include "fuzz/fuzz_support.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace tg;
  const std::string path = fuzz::write_temp(data, size, ".config.json");
  fuzz::expect_clean_refusal([&] {
    train::TrainConfig c;
    const std::set<std::string> keys = train::load_config_file(c, path);
    train::resolve_defaults(c);
    train::validate(c, keys);
    const nlohmann::json saved = train::to_json(c);
    train::TrainConfig back;
    train::apply_json(back, saved, "round trip");
    if (train::to_json(back) != saved) {
      std::fprintf(stderr, "fuzz: config changed in a to_json/apply_json round trip:\n%s\n%s\n", saved.dump().c_str(),
                   train::to_json(back).dump().c_str());
      std::abort();
    }
  });
  return 0;
}
