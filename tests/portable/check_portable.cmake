# Compiles every CPU kernel source without -march flags (what a TRUSTGRAD_NATIVE=OFF build does),
# syntax only: the AVX2 paths are #if'd, and their portable twins must stand on their own.
#   cmake -DSOURCE_DIR=<repo> -DCXX=<compiler> -DEIGEN_INCLUDE=<dirs ;-separated> -P check_portable.cmake
file(GLOB sources ${SOURCE_DIR}/engine/cpu/*.cpp)
set(includes -I${SOURCE_DIR})
foreach(dir ${EIGEN_INCLUDE})
  list(APPEND includes -I${dir})
endforeach()
set(failed "")
foreach(src ${sources})
  execute_process(COMMAND ${CXX} -std=c++20 -fopenmp -fsyntax-only -Wall -Wextra ${includes} ${src}
                  RESULT_VARIABLE rc ERROR_VARIABLE err)
  if(NOT rc EQUAL 0)
    message("${src}:\n${err}")
    list(APPEND failed ${src})
  endif()
endforeach()
list(LENGTH sources n)
if(failed)
  message(FATAL_ERROR "portable build: these CPU kernel sources do not compile without -march: ${failed}")
endif()
message("portable build: ${n} CPU kernel sources compile without -march flags")
