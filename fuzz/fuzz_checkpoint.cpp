// libFuzzer target: a full training checkpoint along the train program's --resume path:
// load_checkpoint (safetensors + trainer metadata), merge_resume_config (the saved config JSON),
// resolve_defaults + validate, make_optimizer, then the model's and the optimizer's
// load_state_dict. The model is the tiny one of fuzz_support.h (the saved "model" name is kept in
// the config checks but not built: a resnet18 per input would make the target too slow).
#include "examples/train/checkpoint.h"
#include "examples/train/run.h"
#include "examples/train/setup.h"
#include "fuzz/fuzz_support.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace tg;
  const std::string path = fuzz::write_temp(data, size, ".ckpt.safetensors");
  fuzz::expect_clean_refusal([&] {
    train::LoadedCheckpoint ck = train::load_checkpoint(path);
    train::TrainConfig given;
    given.resume = path;
    train::TrainConfig c = train::merge_resume_config(given, {"resume"}, ck);
    train::resolve_defaults(c);
    train::validate(c);
    auto model = fuzz::tiny_model();
    auto optimizer = train::make_optimizer(c, *model);
    model->load_state_dict(ck.model, /*strict=*/true, ck.path);
    optimizer->load_state_dict(ck.optimizer);
  });
  return 0;
}
