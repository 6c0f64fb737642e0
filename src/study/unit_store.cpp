#include "study/unit_store.h"

#include <fmt/format.h>

#include "tasks/registry.h"

namespace uaqf::study {
namespace {

using nlohmann::json;

std::string item_key(const std::string& variant, const std::string& task, const std::string& id) {
  return fmt::format("item/{}/{}/{}", variant, task, id);
}

// A task's version is part of every item's inputs: a new version of a task redoes its items.
json item_inputs(const json& inputs, const std::string& task, const std::string& fingerprint) {
  return {{"variant", inputs}, {"task", task}, {"version", tasks::task_version(task)}, {"prompt", fingerprint}};
}

}  // namespace

std::optional<json> UnitStore::find(const std::string& variant, const std::string& key, const json& inputs) {
  auto unit = store_.find_unit(key, store::inputs_hash(inputs));
  if (!unit) {
    return std::nullopt;
  }
  runs_[variant].insert(unit->run_id);
  return std::move(unit->payload);
}

void UnitStore::put(const std::string& variant, const std::string& key, const std::string& kind, const json& inputs,
                    const json& payload) {
  store_.put(key, kind, store::inputs_hash(inputs), payload);
  runs_[variant].insert(store_.run_id());
}

tasks::ItemJournal UnitStore::journal(const std::string& variant, const json& inputs) {
  tasks::ItemJournal journal;
  journal.find = [this, variant, inputs](const std::string& task, const std::string& id,
                                         const std::string& fingerprint) {
    return find(variant, item_key(variant, task, id), item_inputs(inputs, task, fingerprint));
  };
  journal.record = [this, variant, inputs](const std::string& task, const std::string& id,
                                           const std::string& fingerprint, const json& payload) {
    put(variant, item_key(variant, task, id), "task_item", item_inputs(inputs, task, fingerprint), payload);
  };
  return journal;
}

std::vector<int64_t> UnitStore::runs_of(const std::string& variant) const {
  const auto it = runs_.find(variant);
  return it == runs_.end() ? std::vector<int64_t>{} : std::vector<int64_t>(it->second.begin(), it->second.end());
}

}  // namespace uaqf::study
