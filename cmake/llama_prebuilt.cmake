# UAQF_LLAMA=prebuilt: the pinned llama.cpp release as node-llama-cpp ships it built
# (third_party/llama-prebuilt, from scripts/fetch-llama-prebuilt.sh), with the headers of the same
# commit from the source bundle (third_party/llama.cpp). Nothing of llama.cpp is compiled but
# llama-common's importance-matrix reader. The CPU backend is one libggml-cpu-<variant>.so per x86-64
# level; ggml picks the best the CPU runs when llama_backend_init loads the backends from the
# executable's folder, so the libraries are copied next to the binaries (build/<preset>/bin).
# Left out: the sapphirerapids variant, whose AMX kernels are those the source build compiles out
# (-mno-amx-*, cmake/llama.cmake); on AMX machines the next variant (zen4) is chosen instead.

set(UAQF_LLAMA_PREBUILT_DIR "${CMAKE_SOURCE_DIR}/third_party/llama-prebuilt" CACHE PATH
    "node-llama-cpp's prebuilt llama.cpp libraries (prebuilt mode)")
set(UAQF_PREBUILT_EXCLUDED_VARIANTS "sapphirerapids" CACHE STRING
    "libggml-cpu variants of the prebuilt engine that are never loaded (;-list)")

foreach(needed libllama.v0.4.0.so libggml.v0.4.0.so libggml-base.so)
  if(NOT EXISTS "${UAQF_LLAMA_PREBUILT_DIR}/${needed}")
    message(FATAL_ERROR "prebuilt llama.cpp not found in ${UAQF_LLAMA_PREBUILT_DIR} (${needed}): run "
                        "scripts/fetch-llama-prebuilt.sh, or configure with -DUAQF_LLAMA=bundled")
  endif()
endforeach()
if(NOT EXISTS "${UAQF_LLAMA_SOURCE_DIR}/include/llama.h")
  message(FATAL_ERROR "the prebuilt engine takes its headers from the source bundle, not found in "
                      "${UAQF_LLAMA_SOURCE_DIR}: run scripts/fetch-llama.sh")
endif()
if(NOT CMAKE_SYSTEM_NAME STREQUAL "Linux" OR NOT CMAKE_SYSTEM_PROCESSOR MATCHES "x86_64|AMD64")
  message(FATAL_ERROR "the prebuilt llama.cpp is for Linux x86-64: use -DUAQF_LLAMA=bundled here")
endif()
# What node-llama-cpp's build is not: CUDA, batch-invariant kernels (it has tinyBLAS), and the tools.
foreach(source_only UAQF_CUDA UAQF_BATCH_INVARIANT UAQF_BUILD_LLAMA_TOOLS UAQF_BUILD_LLAMA_SERVER UAQF_GGML_AMX)
  if(${source_only})
    message(FATAL_ERROR "${source_only}=ON needs the source build of llama.cpp (-DUAQF_LLAMA=bundled): "
                        "the prebuilt engine is CPU-only, with tinyBLAS and without llama.cpp's tools")
  endif()
endforeach()

# The libraries go next to the binaries: the executables find them through their build RPATH, and
# ggml's backend loader finds the CPU variants in the executable's folder.
set(uaqf_prebuilt_bin "${CMAKE_BINARY_DIR}/bin")
file(MAKE_DIRECTORY "${uaqf_prebuilt_bin}")
file(GLOB uaqf_prebuilt_libs "${UAQF_LLAMA_PREBUILT_DIR}/*.so")
set(UAQF_PREBUILT_VARIANTS "")
foreach(lib ${uaqf_prebuilt_libs})
  get_filename_component(name "${lib}" NAME)
  if(name MATCHES "^libggml-cpu-(.+)\\.so$")
    if(CMAKE_MATCH_1 IN_LIST UAQF_PREBUILT_EXCLUDED_VARIANTS)
      file(REMOVE "${uaqf_prebuilt_bin}/${name}")
      continue()
    endif()
    list(APPEND UAQF_PREBUILT_VARIANTS "${CMAKE_MATCH_1}")
  elseif(name STREQUAL "libllama-common.so")
    continue()  # uaqf compiles the two files of llama-common it needs
  endif()
  configure_file("${lib}" "${uaqf_prebuilt_bin}/${name}" COPYONLY)
endforeach()
list(LENGTH UAQF_PREBUILT_VARIANTS uaqf_prebuilt_variant_count)
if(uaqf_prebuilt_variant_count EQUAL 0)
  message(FATAL_ERROR "no libggml-cpu-*.so in ${UAQF_LLAMA_PREBUILT_DIR}: run scripts/fetch-llama-prebuilt.sh again")
endif()

find_package(Threads REQUIRED)
add_library(ggml-base SHARED IMPORTED GLOBAL)
set_target_properties(ggml-base PROPERTIES IMPORTED_LOCATION "${uaqf_prebuilt_bin}/libggml-base.so"
                                           IMPORTED_SONAME "libggml-base.so"
                                           INTERFACE_INCLUDE_DIRECTORIES "${UAQF_LLAMA_SOURCE_DIR}/ggml/include")
add_library(ggml SHARED IMPORTED GLOBAL)
set_target_properties(ggml PROPERTIES IMPORTED_LOCATION "${uaqf_prebuilt_bin}/libggml.v0.4.0.so"
                                      IMPORTED_SONAME "libggml.v0.4.0.so"
                                      INTERFACE_LINK_LIBRARIES ggml-base)
add_library(llama SHARED IMPORTED GLOBAL)
set_target_properties(llama PROPERTIES IMPORTED_LOCATION "${uaqf_prebuilt_bin}/libllama.v0.4.0.so"
                                       IMPORTED_SONAME "libllama.v0.4.0.so"
                                       INTERFACE_INCLUDE_DIRECTORIES "${UAQF_LLAMA_SOURCE_DIR}/include"
                                       INTERFACE_LINK_LIBRARIES ggml)
# The headers are system headers, as in the bundled build (no warnings from them under UAQF_WERROR).
set_property(TARGET ggml-base llama PROPERTY INTERFACE_SYSTEM_INCLUDE_DIRECTORIES
                                             "${UAQF_LLAMA_SOURCE_DIR}/ggml/include" "${UAQF_LLAMA_SOURCE_DIR}/include")

# The manifest names the build: the package, and (at run time) the variant ggml chose.
file(STRINGS "${CMAKE_SOURCE_DIR}/third_party/llama.cpp.lock" uaqf_prebuilt_pkg REGEX "^prebuilt_npm_(package|version)=")
string(REGEX REPLACE "prebuilt_npm_[a-z]+=" "" uaqf_prebuilt_pkg "${uaqf_prebuilt_pkg}")
string(REPLACE ";" "@" uaqf_prebuilt_pkg "${uaqf_prebuilt_pkg}")
set(UAQF_LLAMA_BUILD "prebuilt ${uaqf_prebuilt_pkg} (CPU variants chosen at run time; excluded: ${UAQF_PREBUILT_EXCLUDED_VARIANTS})")
