#pragma once

// Per-item results kept across runs (a study's results store). An item found there is not run
// again; each newly finished item is handed over at once, so an interrupted run loses at most the
// items in flight. `fingerprint` identifies the item's content (its prompt, its tokens), so that
// a changed dataset, corpus or prompt format is measured again.

#include <functional>
#include <optional>
#include <string>

#include <nlohmann/json.hpp>

namespace uaqf::tasks {

struct ItemJournal {
  std::function<std::optional<nlohmann::json>(const std::string& task, const std::string& item_id,
                                              const std::string& fingerprint)>
      find;
  std::function<void(const std::string& task, const std::string& item_id, const std::string& fingerprint,
                     const nlohmann::json& payload)>
      record;
};

}  // namespace uaqf::tasks
