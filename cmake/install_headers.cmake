# Install-time script (install(SCRIPT), CMakeLists.txt): copies the public headers to
# ${TG_HEADER_DEST} (<prefix>/include/trustgrad) with their includes of the library's own headers
# prefixed: #include "engine/tensor.h" -> #include "trustgrad/engine/tensor.h". The public headers
# are those of the public folders (dist/ when trustgrad::dist is installed), engine/cpu/isa.h,
# engine/cpu/kernel_mode.h, the umbrella trustgrad.h plus, transitively, every library header they
# include (e.g. engine/kernel_params/conv2d.h for ConvAlgorithm); kernel internals, cuda/ and the
# tests' headers stay out.
# In the tree the sources keep their short includes; only the installed copies carry the prefix.
set(public_dirs engine io nn nn/models optim datasets)
if(TG_INSTALL_DIST)  # trustgrad::dist's headers, when it is installed (built with MPI)
  list(APPEND public_dirs dist)
endif()
# tg::cpu_isa() and tg::kernel_mode(): which kernels run; trustgrad.h: the umbrella header
# (-> <trustgrad/trustgrad.h>)
set(queue engine/cpu/isa.h engine/cpu/kernel_mode.h trustgrad.h)
# Headers of the public folders that only the library's sources include (OpenMP loops, the ops'
# device switch): not installed unless a public header includes them.
set(internal optim/tensor_loops.h engine/dispatch.h engine/optimizer_kernels.h)
foreach(dir ${public_dirs})
  file(GLOB hdrs RELATIVE ${TG_SOURCE_DIR} ${TG_SOURCE_DIR}/${dir}/*.h)
  list(REMOVE_ITEM hdrs ${internal})
  list(APPEND queue ${hdrs})
endforeach()
set(done "")
while(queue)
  list(POP_FRONT queue hdr)
  list(FIND done ${hdr} seen)
  if(NOT seen EQUAL -1)
    continue()
  endif()
  list(APPEND done ${hdr})
  file(READ ${TG_SOURCE_DIR}/${hdr} text)
  # Includes of other library headers (quoted, with a library folder) are queued and prefixed.
  string(REGEX MATCHALL "#include \"(engine|io|nn|optim|datasets|cuda|dist)/[^\"]+\"" incs "${text}")
  foreach(inc ${incs})
    string(REGEX REPLACE "#include \"([^\"]+)\"" "\\1" dep "${inc}")
    if(EXISTS ${TG_SOURCE_DIR}/${dep})
      list(APPEND queue ${dep})
    endif()
  endforeach()
  string(REGEX REPLACE "#include \"((engine|io|nn|optim|datasets|cuda|dist)/[^\"]+)\"" "#include \"trustgrad/\\1\"" text "${text}")
  set(dest ${TG_HEADER_DEST}/${hdr})
  # Never through a link into the checkout: the installed copy would replace the source header.
  file(REAL_PATH ${dest} real_dest)
  file(REAL_PATH ${TG_SOURCE_DIR}/${hdr} real_source)
  if(real_dest STREQUAL real_source)
    message(FATAL_ERROR "installing ${hdr} to ${dest} would overwrite the source file ${real_source}; "
                        "install to a prefix outside the source tree")
  endif()
  if(EXISTS ${dest})
    file(READ ${dest} old)
    if(old STREQUAL text)
      continue()
    endif()
  endif()
  message(STATUS "Installing: ${dest}")
  file(WRITE ${dest} "${text}")
endwhile()
