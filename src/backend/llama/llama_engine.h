#pragma once

#include <memory>
#include <string>
#include <vector>

#include "backend/backend.h"

namespace uaqf::backend {

// The embedded llama.cpp engine. One per process: it owns llama.cpp's global log hook.
// Throws Error(kEngine) when the loaded llama.cpp library disagrees with the headers uaqf was
// compiled with (llama_abi_mismatches), as a prebuilt library of another release would.
std::unique_ptr<Engine> make_llama_engine();

// The fields in which the loaded llama.cpp library's parameter structs differ from those of the
// headers uaqf was compiled with (their defaults read back through the library); empty when the
// two agree. backend/llama/llama_abi.cpp says what is checked.
std::vector<std::string> llama_abi_mismatches();

}  // namespace uaqf::backend
