# CTest script: install trustgrad into a temporary prefix, then configure, build and run a tiny
# consumer project (find_package(trustgrad), #include <trustgrad/...>) against it, twice:
#   static  the install of this build tree (libtrustgrad.a)
#   shared  a second build of the library with -DBUILD_SHARED_LIBS=ON (libtrustgrad.so beside the .a),
#           made as a parent project that add_subdirectory()s trustgrad (tests/install/parent: its own
#           Debug build type, #include <trustgrad/...> from the tree, -Wshadow -Werror, no -fopenmp or
#           Eigen handed down), installed with Debian's two-level libdir (lib/x86_64-linux-gnu; lib64
#           where the compiler names no library architecture);
#           the consumer links the shared library and its static twin, and is
#           compiled once more through pkg-config with the consumer's own -std=c++23 and -Wshadow -Werror
# Where MPI is built, the install has trustgrad::dist (static) and the consumer links and runs it too.
# and checks that no machine flag (-march, -mavx...) reaches the consumer's compile lines.
#   cmake -DSOURCE_DIR=<repo> -DBINARY_DIR=<build> -DCXX=<compiler> [-DLAUNCHER=ccache]
#         [-DLIBRARY_ARCHITECTURE=x86_64-linux-gnu] -P run_consumer.cmake
set(root ${BINARY_DIR}/install_test)
file(REMOVE_RECURSE ${root})

function(run what)
  execute_process(COMMAND ${ARGN} RESULT_VARIABLE rc OUTPUT_VARIABLE out ERROR_VARIABLE err)
  if(NOT rc EQUAL 0)
    message(FATAL_ERROR "${what} failed (${rc}):\n${out}\n${err}")
  endif()
  set(run_output "${out}" PARENT_SCOPE)
endfunction()

function(check_consumer kind prefix)
  # The implementation's dependencies are private: no installed header may include one (a consumer
  # has no Eigen, json or libarchive to find).
  file(GLOB_RECURSE installed_headers ${prefix}/include/trustgrad/*.h)
  foreach(header ${installed_headers})
    file(STRINGS ${header} private_includes REGEX "#include <(Eigen/|nlohmann/|archive|zlib|omp\\.h|mpi\\.h|CLI/)")
    if(private_includes)
      message(FATAL_ERROR "the ${kind} install's ${header} includes a private dependency: ${private_includes}")
    endif()
  endforeach()
  set(build ${root}/consumer_${kind})
  run("configuring the consumer against the ${kind} install" ${CMAKE_COMMAND} -S ${SOURCE_DIR}/tests/install/consumer
      -B ${build} -DCMAKE_PREFIX_PATH=${prefix} -DCMAKE_BUILD_TYPE=Release -DCMAKE_EXPORT_COMPILE_COMMANDS=ON)
  run("building the consumer against the ${kind} install" ${CMAKE_COMMAND} --build ${build} -j 2)
  file(READ ${build}/compile_commands.json commands)
  if(commands MATCHES "-march|-mavx|-mfma|-mtune")
    message(FATAL_ERROR "a machine flag reached the consumer's compile lines (${kind}):\n${commands}")
  endif()
  run("the ${kind} consumer program" ${build}/consumer)
  if(NOT run_output MATCHES "consumer ok")
    message(FATAL_ERROR "the ${kind} consumer printed: ${run_output}")
  endif()
  # A package built with MPI installs trustgrad::dist and its headers; the consumer then links it.
  if(EXISTS ${prefix}/include/trustgrad/dist/process_group.h AND run_output MATCHES "dist: not linked")
    message(FATAL_ERROR "the ${kind} install has trustgrad::dist's headers but the consumer did not link it: ${run_output}")
  endif()
  message(STATUS "${kind}: ${run_output}")
  if(EXISTS ${prefix}/${libdir}/libtrustgrad.so)  # a shared package: its static twin links too
    if(NOT EXISTS ${build}/consumer_static_twin)
      message(FATAL_ERROR "the ${kind} install's trustgrad::trustgrad_static was not usable by the consumer")
    endif()
    run("the ${kind} consumer linked against trustgrad::trustgrad_static" ${build}/consumer_static_twin)
  endif()
endfunction()

# static: this build tree
set(libdir lib)
run("cmake --install (static)" ${CMAKE_COMMAND} --install ${BINARY_DIR} --prefix ${root}/static)
check_consumer(static ${root}/static)

# An install whose include folder leads through the in-tree links (build/tree_include/trustgrad/engine
# -> <source>/engine) must refuse, naming the file, instead of writing its prefixed copies over the
# sources (cmake/install_headers.cmake).
file(MAKE_DIRECTORY ${root}/through_links)
file(CREATE_LINK ${BINARY_DIR}/tree_include ${root}/through_links/include SYMBOLIC)
file(SHA256 ${SOURCE_DIR}/engine/ops.h ops_before)
execute_process(COMMAND ${CMAKE_COMMAND} --install ${BINARY_DIR} --prefix ${root}/through_links
                RESULT_VARIABLE rc OUTPUT_VARIABLE out ERROR_VARIABLE err)
file(SHA256 ${SOURCE_DIR}/engine/ops.h ops_after)
if(rc EQUAL 0 OR NOT err MATCHES "would overwrite the source file" OR NOT ops_before STREQUAL ops_after)
  message(FATAL_ERROR "an install through the in-tree links was not refused (rc ${rc}):\n${out}\n${err}")
endif()

# shared: a library-only build with BUILD_SHARED_LIBS=ON
set(launcher "")
if(LAUNCHER)
  set(launcher -DCMAKE_CXX_COMPILER_LAUNCHER=${LAUNCHER})
endif()
# Debian's libdir for a /usr install (lib/x86_64-linux-gnu: two levels below the prefix, where
# find_package still looks); lib64 where the compiler names no library architecture.
if(LIBRARY_ARCHITECTURE)
  set(libdir lib/${LIBRARY_ARCHITECTURE})
else()
  set(libdir lib64)
endif()
run("configuring the parent project (add_subdirectory, shared library)" ${CMAKE_COMMAND}
    -S ${SOURCE_DIR}/tests/install/parent -B ${root}/shared_build -DTRUSTGRAD_SOURCE_DIR=${SOURCE_DIR}
    -DCMAKE_BUILD_TYPE=Debug -DBUILD_SHARED_LIBS=ON -DTRUSTGRAD_CUDA=OFF -DCMAKE_INSTALL_LIBDIR=${libdir}
    -DCMAKE_EXPORT_COMPILE_COMMANDS=ON ${launcher})
file(STRINGS ${root}/shared_build/CMakeCache.txt parent_build_type REGEX "^CMAKE_BUILD_TYPE:")
if(NOT parent_build_type MATCHES "=Debug$")
  message(FATAL_ERROR "trustgrad changed its parent project's build type: ${parent_build_type}")
endif()
run("building the parent project" ${CMAKE_COMMAND} --build ${root}/shared_build -j 2 --target parent_consumer trustgrad
    trustgrad_static trustgrad_dist)
if(EXISTS ${root}/shared_build/trustgrad/tests OR EXISTS ${root}/shared_build/trustgrad/bench)
  message(FATAL_ERROR "trustgrad built its tests or benches inside a parent project")
endif()
file(STRINGS ${root}/shared_build/compile_commands.json parent_line REGEX "\"command\".*parent_consumer")
if(NOT parent_line)
  message(FATAL_ERROR "no compile line for parent_consumer in ${root}/shared_build/compile_commands.json")
endif()
if(parent_line MATCHES "-fopenmp|eigen3|-march")
  message(FATAL_ERROR "trustgrad handed an implementation dependency to its parent's code: ${parent_line}")
endif()
run("the parent project's program" ${root}/shared_build/parent_consumer)
run("cmake --install (shared, from the parent project)" ${CMAKE_COMMAND} --install ${root}/shared_build
    --prefix ${root}/shared)
set(so ${root}/shared/${libdir}/libtrustgrad.so)
if(NOT EXISTS ${so})
  message(FATAL_ERROR "BUILD_SHARED_LIBS=ON installed no ${so}")
endif()
check_consumer(shared ${root}/shared)

# The kernels and engine/cpu internals are hidden in the shared library; the public API is not.
run("nm -D" nm -D -C --defined-only ${so})
if(run_output MATCHES "tg::cpu::(generic|avx2|avx512)::|tg::cpu::sgemm")
  message(FATAL_ERROR "internal kernel symbols are exported by ${so}")
endif()
if(NOT run_output MATCHES "tg::cpu_isa\\(\\)" OR NOT run_output MATCHES "tg::Tensor::")
  message(FATAL_ERROR "the public API is missing from the exports of ${so}")
endif()

# pkg-config (non-CMake consumers), against the shared install.
find_program(PKG_CONFIG pkg-config)
if(PKG_CONFIG)
  set(ENV{PKG_CONFIG_PATH} ${root}/shared/${libdir}/pkgconfig)
  run("pkg-config" ${PKG_CONFIG} --cflags --libs trustgrad)
  string(STRIP "${run_output}" flags)
  if(flags MATCHES "-std=")
    message(FATAL_ERROR "pkg-config's flags choose the consumer's C++ standard: ${flags}")
  endif()
  separate_arguments(flags UNIX_COMMAND "${flags}")
  # The headers through -I (not -isystem, as CMake's imported targets give them): their warnings show.
  run("compiling the consumer with pkg-config's flags" ${CXX} -std=c++23 -Wall -Wextra -Wshadow -Werror
      ${SOURCE_DIR}/tests/install/consumer/main.cpp ${flags} -Wl,-rpath,${root}/shared/${libdir} -o ${root}/consumer_pc)
  run("the pkg-config consumer" ${root}/consumer_pc)
  message(STATUS "pkg-config: ${run_output}")
endif()
