#include "study/model_pool.h"

#include "core/error.h"

namespace uaqf::study {

ModelPool::Loaded ModelPool::acquire(const std::filesystem::path& file, const backend::LoadOptions& options) {
  const bool same = file == file_ && options == options_ && (model_ || failure_);
  if (!same) {
    release();  // before the next load: two copies of large weights may not fit
    file_ = file;
    options_ = options;
    device_before_ = engine_.device_memory_used_bytes();
    const int64_t start_ns = clock_.now_ns();
    try {
      model_ = engine_.load_weights(file, options);
    } catch (const Error& error) {
      failure_ = error.what();
    }
    load_ms_ = static_cast<double>(clock_.now_ns() - start_ns) / 1e6;
  }
  if (failure_) {
    throw Error(ErrorCode::kEngine, *failure_);
  }
  return Loaded{.model = *model_, .load_ms = load_ms_, .device_memory_before_load_bytes = device_before_};
}

void ModelPool::release() {
  model_.reset();
  failure_.reset();
  file_.clear();
}

}  // namespace uaqf::study
