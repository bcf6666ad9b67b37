// Compiles the trust-clipping study's pieces (examples/trust_clipping_study/*.cpp minus main.cpp)
// into the examples test suite, as train_sources.cpp does for the train program.
#include "examples/trust_clipping_study/interval_chart.cpp"
#include "examples/trust_clipping_study/report_page.cpp"
#include "examples/trust_clipping_study/stats.cpp"
#include "examples/trust_clipping_study/study.cpp"
