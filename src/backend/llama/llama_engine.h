#pragma once

#include <memory>

#include "backend/backend.h"

namespace uaqf::backend {

// The embedded llama.cpp engine. One per process: it owns llama.cpp's global log hook.
std::unique_ptr<Engine> make_llama_engine();

}  // namespace uaqf::backend
