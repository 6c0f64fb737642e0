# Warning and sanitizer flags for uaqf's own targets only (llama.cpp keeps its own).
add_library(uaqf_options INTERFACE)
target_compile_options(uaqf_options INTERFACE -Wall -Wextra -Wpedantic -Wshadow -Wconversion
                                              -Wno-sign-conversion -Wnon-virtual-dtor -Wold-style-cast
                                              -Wno-missing-field-initializers) # designated initializers rely on member defaults
if(UAQF_WERROR)
  target_compile_options(uaqf_options INTERFACE -Werror)
endif()
if(UAQF_SANITIZE)
  target_compile_options(uaqf_options INTERFACE -fsanitize=address,undefined -fno-omit-frame-pointer
                                                -fno-sanitize-recover=undefined)
  target_link_options(uaqf_options INTERFACE -fsanitize=address,undefined)
  if(CMAKE_CXX_COMPILER_ID STREQUAL "GNU")
    # Sanitizer instrumentation makes GCC report -Wmaybe-uninitialized inside libstdc++'s <regex>
    # and <functional>, which are false positives; the plain builds keep the warning.
    target_compile_options(uaqf_options INTERFACE -Wno-maybe-uninitialized)
  endif()
endif()
if(UAQF_FUZZ)
  if(NOT CMAKE_CXX_COMPILER_ID STREQUAL "Clang")
    message(FATAL_ERROR "UAQF_FUZZ needs clang (libFuzzer): use the fuzz preset (CMAKE_CXX_COMPILER=clang++)")
  endif()
  # The libraries get coverage instrumentation only; the fuzz executables (tests/fuzz) link
  # libFuzzer's main with -fsanitize=fuzzer.
  target_compile_options(uaqf_options INTERFACE -fsanitize=fuzzer-no-link,address,undefined -fno-omit-frame-pointer
                                                -fno-sanitize-recover=undefined)
  target_link_options(uaqf_options INTERFACE -fsanitize=address,undefined)
endif()
if(CMAKE_CXX_COMPILER_ID STREQUAL "GNU" AND CMAKE_CXX_COMPILER_VERSION VERSION_LESS 13)
  # GCC 12 reports false -Wrestrict positives inside libstdc++'s string concatenation at -O3
  # (GCC bug 105329).
  target_compile_options(uaqf_options INTERFACE -Wno-restrict)
endif()
