# Compiler warnings for trustgrad's own code; included by the root CMakeLists.txt before its targets.
# -Wall -Wextra on every C++ target of this tree (library, tests, benchmarks, examples); with
# TRUSTGRAD_WERROR=ON (`make test`, `.ci/run`) they are errors, so a new warning cannot land.
# Third-party headers stay out of it: Eigen, doctest, nlohmann_json and CLI11 come in through imported
# targets (their include folders are SYSTEM) or /usr/include. The one third-party warning that still
# leaks through (GCC 12, AVX-512 intrinsics inlined into Eigen's GEMM) is silenced where Eigen is
# included: engine/cpu/eigen_core.h.
option(TRUSTGRAD_WERROR "Treat warnings in trustgrad's own sources as errors (make test and CI turn it on)" OFF)

add_compile_options("$<$<COMPILE_LANGUAGE:CXX>:-Wall;-Wextra>")
# Clang reports an `omp simd` loop it could not vectorise (std::erf per element, an op switch per
# element: engine/cpu/elementwise.cpp) as -Wpass-failed; a note on speed, not on the code.
add_compile_options("$<$<AND:$<COMPILE_LANGUAGE:CXX>,$<CXX_COMPILER_ID:Clang>>:-Wno-pass-failed>")
if(TRUSTGRAD_WERROR)
  add_compile_options("$<$<COMPILE_LANGUAGE:CXX>:-Werror>")
endif()
