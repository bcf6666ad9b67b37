# Compiles every CPU kernel source without -march flags, syntax only: engine/cpu/*.cpp as the
# baseline library builds them (and the reference kernels, engine/cpu/reference/), engine/cpu/kernels/*.cpp as their generic copy (TG_ISA_LEVEL=0: the
# AVX2 / AVX-512 paths are #if'd out, and their portable twins must stand on their own).
#   cmake -DSOURCE_DIR=<repo> -DCXX=<compiler> -DEIGEN_INCLUDE=<dirs ;-separated> -P check_portable.cmake
file(GLOB sources ${SOURCE_DIR}/engine/cpu/*.cpp ${SOURCE_DIR}/engine/cpu/reference/*.cpp
                  ${SOURCE_DIR}/engine/cpu/kernels/*.cpp)
set(includes -I${SOURCE_DIR})
foreach(dir ${EIGEN_INCLUDE})
  list(APPEND includes -I${dir})
endforeach()
set(failed "")
foreach(src ${sources})
  execute_process(COMMAND ${CXX} -std=c++20 -fopenmp -fsyntax-only -Wall -Wextra -DTG_ISA_NS=generic -DTG_ISA_LEVEL=0
                          ${includes} ${src}
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
