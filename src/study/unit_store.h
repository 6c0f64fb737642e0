#pragma once

// The units of a study in its results store, and what each depends on: the variant's file
// content and runtime settings, and the options of the measurement. A result measured by another
// machine or build stays valid; the report says where results come from.

#include <cstdint>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "store/study_store.h"
#include "tasks/journal.h"

namespace uaqf::study {

class UnitStore {
 public:
  explicit UnitStore(store::StudyStore& store) : store_(store) {}

  // The stored payload of `key` if measured from `inputs`; remembers the run that measured it.
  std::optional<nlohmann::json> find(const std::string& variant, const std::string& key, const nlohmann::json& inputs);
  void put(const std::string& variant, const std::string& key, const std::string& kind, const nlohmann::json& inputs,
           const nlohmann::json& payload);
  // Per-item journal of one variant's tasks (and of a quality pass's chunks).
  tasks::ItemJournal journal(const std::string& variant, const nlohmann::json& inputs);
  // The runs whose results a variant uses.
  std::vector<int64_t> runs_of(const std::string& variant) const;

 private:
  store::StudyStore& store_;
  std::map<std::string, std::set<int64_t>> runs_;
};

}  // namespace uaqf::study
