// Compiles the train program's pieces (examples/train/*.cpp minus main.cpp) into the examples test
// suite. tests/CMakeLists.txt links only tg_test_support, and the sanitizer build leaves examples/
// out, so the suite builds these sources itself (exactly once, here).
#include "examples/train/checkpoint.cpp"
#include "examples/train/cli.cpp"
#include "examples/train/config.cpp"
#include "examples/train/distributed.cpp"
#include "examples/train/divergence.cpp"
#include "examples/train/finite_check.cpp"
#include "examples/train/interrupt.cpp"
#include "examples/train/metrics.cpp"
#include "examples/train/output_files.cpp"
#include "examples/train/progress.cpp"
#include "examples/train/report.cpp"
#include "examples/train/run.cpp"
#include "examples/train/setup.cpp"
#include "examples/train/svg_chart.cpp"
#include "examples/train/trainer.cpp"
