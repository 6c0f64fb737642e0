# llama.cpp, the embedded engine. Bundled mode builds the pinned tree from third_party/llama.cpp
# (scripts/fetch-llama.sh puts it there); system mode uses an installed llama (find_package).
# Only the targets uaqf needs are built: everything is EXCLUDE_FROM_ALL and pulled in by link
# dependencies, plus llama-bench, llama-perplexity, llama-batched-bench, llama-imatrix and llama-quantize
# for the agreement benchmarks. Prebuilt mode (cmake/llama_prebuilt.cmake) links node-llama-cpp's
# build of the same release and compiles nothing of llama.cpp.

# The source build's flags, as the manifest records them (UAQF_LLAMA_BUILD, build_info.h).
function(uaqf_llama_source_build_flags)
  set(amx "off (-mno-amx-*)")
  if(UAQF_GGML_AMX)
    set(amx "on")
  elseif(NOT UAQF_HAVE_MNO_AMX)
    set(amx "not compiled")
  endif()
  set(UAQF_LLAMA_BUILD "source ${CMAKE_BUILD_TYPE}, ${CMAKE_CXX_COMPILER_ID} ${CMAKE_CXX_COMPILER_VERSION}: GGML_NATIVE=${GGML_NATIVE} GGML_LLAMAFILE=${GGML_LLAMAFILE} GGML_OPENMP=${GGML_OPENMP} GGML_CUDA=${GGML_CUDA} AMX ${amx}" PARENT_SCOPE)
endfunction()

if(UAQF_LLAMA STREQUAL "bundled")
  if(NOT EXISTS "${UAQF_LLAMA_SOURCE_DIR}/CMakeLists.txt")
    message(FATAL_ERROR "llama.cpp source not found in ${UAQF_LLAMA_SOURCE_DIR}: run scripts/fetch-llama.sh "
                        "(or configure with -DUAQF_LLAMA=system to use an installed llama.cpp)")
  endif()
  set(BUILD_SHARED_LIBS OFF CACHE BOOL "" FORCE)
  set(LLAMA_BUILD_COMMON ON CACHE BOOL "" FORCE)
  set(LLAMA_BUILD_TESTS OFF CACHE BOOL "" FORCE)
  set(LLAMA_BUILD_TOOLS OFF CACHE BOOL "" FORCE)
  set(LLAMA_BUILD_EXAMPLES OFF CACHE BOOL "" FORCE)
  set(LLAMA_BUILD_SERVER OFF CACHE BOOL "" FORCE)
  set(LLAMA_BUILD_APP OFF CACHE BOOL "" FORCE)
  set(LLAMA_OPENSSL OFF CACHE BOOL "" FORCE)
  set(LLAMA_SUBPROCESS OFF CACHE BOOL "" FORCE)
  set(LLAMA_ALL_WARNINGS OFF CACHE BOOL "" FORCE)
  set(GGML_CCACHE OFF CACHE BOOL "" FORCE) # the launcher is set above for every target
  set(GGML_CUDA ${UAQF_CUDA} CACHE BOOL "" FORCE)
  # The RPC backend: placements over rpc-server processes (LoadOptions::rpc_servers, --rpc-local).
  set(GGML_RPC ON CACHE BOOL "" FORCE)
  # tinyBLAS takes over CPU matrix products from two rows on, with another summation order than
  # the one-row path: batched answers then drift from one-at-a-time ones.
  if(UAQF_BATCH_INVARIANT)
    set(GGML_LLAMAFILE OFF CACHE BOOL "" FORCE)
  else()
    set(GGML_LLAMAFILE ON CACHE BOOL "" FORCE)
  endif()
  add_subdirectory("${UAQF_LLAMA_SOURCE_DIR}" "${CMAKE_BINARY_DIR}/llama.cpp" EXCLUDE_FROM_ALL SYSTEM)
  include(${CMAKE_CURRENT_LIST_DIR}/cuda_instances.cmake)
  uaqf_trim_cuda_instances()
  # ggml's AMX matrix kernels (picked up by -march=native on Sapphire Rapids and later) crash
  # with a segmentation fault on Q8_0/Q4_0 models of small row sizes in this release, in
  # llama-bench as in uaqf. They stay off unless asked for.
  option(UAQF_GGML_AMX "Let ggml use Intel AMX kernels on CPUs that have them" OFF)
  if(NOT UAQF_GGML_AMX AND CMAKE_SYSTEM_PROCESSOR MATCHES "x86_64|AMD64" AND TARGET ggml-cpu)
    include(CheckCXXCompilerFlag)
    check_cxx_compiler_flag("-mno-amx-int8" UAQF_HAVE_MNO_AMX)
    if(UAQF_HAVE_MNO_AMX)
      target_compile_options(ggml-cpu PRIVATE -mno-amx-tile -mno-amx-int8 -mno-amx-bf16)
    endif()
  endif()
  uaqf_llama_source_build_flags()
  if(UAQF_BUILD_LLAMA_TOOLS)
    add_subdirectory("${UAQF_LLAMA_SOURCE_DIR}/tools/llama-bench" "${CMAKE_BINARY_DIR}/llama-tools/llama-bench")
    add_subdirectory("${UAQF_LLAMA_SOURCE_DIR}/tools/perplexity" "${CMAKE_BINARY_DIR}/llama-tools/perplexity")
    # llama-imatrix and llama-quantize: the reference for `uaqf imatrix` (bench/bench_imatrix.sh).
    add_subdirectory("${UAQF_LLAMA_SOURCE_DIR}/tools/imatrix" "${CMAKE_BINARY_DIR}/llama-tools/imatrix")
    add_subdirectory("${UAQF_LLAMA_SOURCE_DIR}/tools/quantize" "${CMAKE_BINARY_DIR}/llama-tools/quantize")
    # llama-batched-bench: aggregate decode at n parallel sequences, beside uaqf's --parallel sweep.
    if(EXISTS "${UAQF_LLAMA_SOURCE_DIR}/tools/batched-bench/CMakeLists.txt")
      add_subdirectory("${UAQF_LLAMA_SOURCE_DIR}/tools/batched-bench" "${CMAKE_BINARY_DIR}/llama-tools/batched-bench")
    endif()
  endif()
  if(UAQF_BUILD_LLAMA_SERVER)
    # llama-server, for managed served variants and the server tests: built from the same tree,
    # without the web UI (no download, no npm build) and without TLS.
    set(LLAMA_BUILD_UI OFF CACHE BOOL "" FORCE)
    set(LLAMA_USE_PREBUILT_UI OFF CACHE BOOL "" FORCE)
    add_subdirectory("${UAQF_LLAMA_SOURCE_DIR}/tools/mtmd" "${CMAKE_BINARY_DIR}/llama-tools/mtmd" EXCLUDE_FROM_ALL)
    # tools/ui finds its asset script through PROJECT_SOURCE_DIR, which here is uaqf's.
    set(uaqf_project_source_dir "${PROJECT_SOURCE_DIR}")
    set(PROJECT_SOURCE_DIR "${UAQF_LLAMA_SOURCE_DIR}")
    add_subdirectory("${UAQF_LLAMA_SOURCE_DIR}/tools/ui" "${CMAKE_BINARY_DIR}/llama-tools/ui" EXCLUDE_FROM_ALL)
    set(PROJECT_SOURCE_DIR "${uaqf_project_source_dir}")
    add_subdirectory("${UAQF_LLAMA_SOURCE_DIR}/tools/server" "${CMAKE_BINARY_DIR}/llama-tools/server" EXCLUDE_FROM_ALL)
    set_target_properties(llama-server PROPERTIES RUNTIME_OUTPUT_DIRECTORY "${CMAKE_BINARY_DIR}/bin")
    # ggml-rpc-server (llama.cpp's rpc-server), for placements through RPC (managed on loopback, or the binary to run on other hosts).
    add_subdirectory("${UAQF_LLAMA_SOURCE_DIR}/tools/rpc" "${CMAKE_BINARY_DIR}/llama-tools/rpc" EXCLUDE_FROM_ALL)
    set_target_properties(ggml-rpc-server PROPERTIES RUNTIME_OUTPUT_DIRECTORY "${CMAKE_BINARY_DIR}/bin")
  endif()
elseif(UAQF_LLAMA STREQUAL "prebuilt")
  include(${CMAKE_CURRENT_LIST_DIR}/llama_prebuilt.cmake)
elseif(UAQF_LLAMA STREQUAL "system")
  find_package(llama REQUIRED)
  set(UAQF_LLAMA_COMMIT "${LLAMA_BUILD_COMMIT}")
  set(UAQF_LLAMA_HAVE_COMMON OFF)
  set(UAQF_LLAMA_TARGET llama)
  set(UAQF_LLAMA_BUILD "system llama.cpp (${llama_DIR})")
else()
  message(FATAL_ERROR "UAQF_LLAMA must be 'bundled', 'prebuilt' or 'system', not '${UAQF_LLAMA}'")
endif()
if(UAQF_LLAMA STREQUAL "bundled" OR UAQF_LLAMA STREQUAL "prebuilt")
  execute_process(COMMAND git -C "${UAQF_LLAMA_SOURCE_DIR}" rev-parse HEAD
                  OUTPUT_VARIABLE UAQF_LLAMA_COMMIT OUTPUT_STRIP_TRAILING_WHITESPACE ERROR_QUIET)
  if(NOT UAQF_LLAMA_COMMIT MATCHES "^[0-9a-f]+$")
    # A copy of the tree without its history (e.g. carried to the GPU machine): the pinned commit.
    file(STRINGS "${CMAKE_SOURCE_DIR}/third_party/llama.cpp.lock" pinned REGEX "^llama_commit=")
    string(REPLACE "llama_commit=" "" UAQF_LLAMA_COMMIT "${pinned}")
  endif()
  # uaqf needs only llama-common's importance-matrix reader (and its log): compiled on their own,
  # they spare the test builds the rest of llama-common (argument parsing, chat templates, HTTP).
  add_library(uaqf_llama_imatrix STATIC "${UAQF_LLAMA_SOURCE_DIR}/common/imatrix-loader.cpp"
                                        "${UAQF_LLAMA_SOURCE_DIR}/common/fit.cpp"
                                        "${UAQF_LLAMA_SOURCE_DIR}/common/log.cpp"
                                        "${CMAKE_SOURCE_DIR}/src/backend/llama/common_tty.cpp")
  # common/fit.cpp (llama.cpp's fit of layers to free memory) and its memory breakdown (src/llama-ext.h).
  target_include_directories(uaqf_llama_imatrix SYSTEM PUBLIC "${UAQF_LLAMA_SOURCE_DIR}/common"
                                                       "${UAQF_LLAMA_SOURCE_DIR}/src"
                                                       "${UAQF_LLAMA_SOURCE_DIR}/vendor")
  target_link_libraries(uaqf_llama_imatrix PUBLIC llama ggml Threads::Threads)
  set(UAQF_LLAMA_HAVE_COMMON ON)
  set(UAQF_LLAMA_TARGET llama)
endif()
if(NOT UAQF_LLAMA_COMMIT)
  set(UAQF_LLAMA_COMMIT "unknown")
endif()
message(STATUS "uaqf: llama.cpp (${UAQF_LLAMA}) at ${UAQF_LLAMA_COMMIT}, CUDA=${UAQF_CUDA}")
