#include "backend/backend.h"

#include <algorithm>
#include <cctype>

#include <fmt/format.h>

#include "core/error.h"

namespace uaqf::backend {

std::string to_string(FlashAttention mode) {
  switch (mode) {
    case FlashAttention::kAuto:
      return "auto";
    case FlashAttention::kOn:
      return "on";
    case FlashAttention::kOff:
      return "off";
  }
  return "auto";
}

FlashAttention parse_flash_attention(const std::string& text) {
  if (text == "auto") {
    return FlashAttention::kAuto;
  }
  if (text == "on" || text == "1" || text == "true") {
    return FlashAttention::kOn;
  }
  if (text == "off" || text == "0" || text == "false") {
    return FlashAttention::kOff;
  }
  throw Error(ErrorCode::kInvalidArgument, fmt::format("flash attention must be auto, on or off, not '{}'", text));
}

std::optional<QuantType> find_quant_type(const std::vector<QuantType>& types, const std::string& name) {
  auto upper = name;
  std::transform(upper.begin(), upper.end(), upper.begin(), [](unsigned char c) { return std::toupper(c); });
  const auto it = std::find_if(types.begin(), types.end(), [&](const QuantType& t) { return t.name == upper; });
  if (it == types.end()) {
    return std::nullopt;
  }
  return *it;
}

}  // namespace uaqf::backend
