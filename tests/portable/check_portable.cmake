# Compiles every CPU kernel source without -march flags, syntax only: engine/cpu/*.cpp as the
# baseline library builds them (and the reference kernels, engine/cpu/reference/),
# engine/cpu/kernels/*.cpp as their generic copy (TG_ISA_LEVEL=0: the AVX2 / AVX-512 paths are #if'd
# out, and their portable twins must stand on their own). Then engine/cpu/*.cpp once more with
# -mavx2 -mfma, as TRUSTGRAD_NATIVE=ON builds them: their `#if defined(__AVX__)` paths (the optimizer
# kernels' 8-wide sqrt and streaming stores, optimizer_kernels.cpp / simd_sqrt.h) are compiled
# nowhere else by default.
#   cmake -DSOURCE_DIR=<repo> -DCXX=<compiler> -DEIGEN_INCLUDE=<dirs ;-separated> -P check_portable.cmake
file(GLOB sources ${SOURCE_DIR}/engine/cpu/*.cpp ${SOURCE_DIR}/engine/cpu/reference/*.cpp
                  ${SOURCE_DIR}/engine/cpu/kernels/*.cpp)
set(includes -I${SOURCE_DIR})
foreach(dir ${EIGEN_INCLUDE})
  list(APPEND includes -I${dir})
endforeach()
set(failed "")
# Syntax-only compile of one source with extra flags; a failure is printed and remembered.
function(check_compiles src)
  execute_process(COMMAND ${CXX} -std=c++20 -fopenmp -fsyntax-only -Wall -Wextra ${ARGN} ${includes} ${src}
                  RESULT_VARIABLE rc ERROR_VARIABLE err)
  if(NOT rc EQUAL 0)
    message("${src} (${ARGN}):\n${err}")
    set(failed ${failed} "${src} (${ARGN})" PARENT_SCOPE)
  endif()
endfunction()
foreach(src ${sources})
  check_compiles(${src} -DTG_ISA_NS=generic -DTG_ISA_LEVEL=0)
endforeach()
file(GLOB baseline_sources ${SOURCE_DIR}/engine/cpu/*.cpp)
foreach(src ${baseline_sources})
  check_compiles(${src} -mavx2 -mfma)
endforeach()
list(LENGTH sources n)
list(LENGTH baseline_sources n_avx)
if(failed)
  message(FATAL_ERROR "portable build: these CPU kernel sources do not compile with the flags given: ${failed}")
endif()
message("portable build: ${n} CPU kernel sources compile without -march flags, ${n_avx} baseline sources with -mavx2 -mfma")
