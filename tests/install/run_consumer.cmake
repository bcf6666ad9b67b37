# CTest script: install trustgrad into a temporary prefix, then configure, build and run a tiny
# consumer project (find_package(trustgrad), #include <trustgrad/...>) against it, twice:
#   static  the install of this build tree (libtrustgrad.a)
#   shared  a second build of the library with -DBUILD_SHARED_LIBS=ON (libtrustgrad.so beside the .a;
#           tests/examples off), also compiled once through pkg-config
# Where MPI is built, the install has trustgrad::dist (static) and the consumer links and runs it too.
# and checks that no machine flag (-march, -mavx...) reaches the consumer's compile lines.
#   cmake -DSOURCE_DIR=<repo> -DBINARY_DIR=<build> -DCXX=<compiler> [-DLAUNCHER=ccache] -P run_consumer.cmake
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
endfunction()

# static: this build tree
run("cmake --install (static)" ${CMAKE_COMMAND} --install ${BINARY_DIR} --prefix ${root}/static)
check_consumer(static ${root}/static)

# shared: a library-only build with BUILD_SHARED_LIBS=ON
set(launcher "")
if(LAUNCHER)
  set(launcher -DCMAKE_CXX_COMPILER_LAUNCHER=${LAUNCHER})
endif()
run("configuring the shared library" ${CMAKE_COMMAND} -S ${SOURCE_DIR} -B ${root}/shared_build -DCMAKE_BUILD_TYPE=Release
    -DBUILD_SHARED_LIBS=ON -DTRUSTGRAD_BUILD_TESTS=OFF -DTRUSTGRAD_BUILD_EXAMPLES=OFF -DTRUSTGRAD_CUDA=OFF ${launcher})
run("building the shared library" ${CMAKE_COMMAND} --build ${root}/shared_build -j 2 --target trustgrad trustgrad_static
    trustgrad_dist)
run("cmake --install (shared)" ${CMAKE_COMMAND} --install ${root}/shared_build --prefix ${root}/shared)
file(GLOB so ${root}/shared/lib*/libtrustgrad.so)
if(NOT so)
  message(FATAL_ERROR "BUILD_SHARED_LIBS=ON installed no libtrustgrad.so")
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
  file(GLOB pcdir ${root}/shared/lib*/pkgconfig)
  set(ENV{PKG_CONFIG_PATH} ${pcdir})
  run("pkg-config" ${PKG_CONFIG} --cflags --libs trustgrad)
  string(STRIP "${run_output}" flags)
  separate_arguments(flags UNIX_COMMAND "${flags}")
  run("compiling the consumer with pkg-config's flags" ${CXX} ${SOURCE_DIR}/tests/install/consumer/main.cpp ${flags}
      -Wl,-rpath,${root}/shared/lib -o ${root}/consumer_pc)
  run("the pkg-config consumer" ${root}/consumer_pc)
  message(STATUS "pkg-config: ${run_output}")
endif()
