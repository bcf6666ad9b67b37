// Compiles the benchmarks' shared command-line parser (bench/support/flags.cpp) into the examples
// test suite, as train_sources.cpp does for the train program.
#include "bench/support/flags.cpp"
