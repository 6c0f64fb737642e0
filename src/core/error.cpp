#include "core/error.h"

namespace uaqf {

int exit_code_for(ErrorCode code) noexcept {
  switch (code) {
    case ErrorCode::kInvalidArgument:
    case ErrorCode::kNotFound:
      return 2;
    case ErrorCode::kIo:
    case ErrorCode::kEngine:
    case ErrorCode::kInternal:
      return 1;
  }
  return 1;
}

}  // namespace uaqf
