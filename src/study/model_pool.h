#pragma once

// Weight loads shared by the variants of a study: variants that differ only in context settings
// (KV-cache type, flash attention, threads, batch sizes) measure on one load of their file.

#include <cstdint>
#include <filesystem>
#include <memory>
#include <optional>
#include <string>

#include "backend/backend.h"
#include "core/clock.h"

namespace uaqf::study {

class ModelPool {
 public:
  ModelPool(backend::Engine& engine, const Clock& clock) : engine_(engine), clock_(clock) {}

  struct Loaded {
    backend::Model& model;  // opens contexts with default context options: bind the variant's
    double load_ms = 0;     // the wall time of the one load
    std::optional<uint64_t> device_memory_before_load_bytes;
  };

  // The weights of `file` loaded with `options`: the load in hand when it is the same, otherwise
  // the one in hand is released first (one copy of the weights at a time) and this one loaded. A
  // failed load is remembered and thrown again for the same file and options, without retrying.
  Loaded acquire(const std::filesystem::path& file, const backend::LoadOptions& options);
  void release();

 private:
  backend::Engine& engine_;
  const Clock& clock_;
  std::filesystem::path file_;
  backend::LoadOptions options_;
  std::unique_ptr<backend::Model> model_;
  std::optional<std::string> failure_;  // why the load of file_ with options_ failed
  double load_ms_ = 0;
  std::optional<uint64_t> device_before_;
};

}  // namespace uaqf::study
