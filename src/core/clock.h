#pragma once

#include <chrono>
#include <cstdint>

namespace uaqf {

// Time source of measurements; tests substitute a clock that the fake engine advances.
class Clock {
 public:
  virtual ~Clock() = default;
  virtual int64_t now_ns() const = 0;
};

class SteadyClock final : public Clock {
 public:
  int64_t now_ns() const override {
    return std::chrono::duration_cast<std::chrono::nanoseconds>(std::chrono::steady_clock::now().time_since_epoch())
        .count();
  }
};

}  // namespace uaqf

namespace uaqf {

// A clock that only moves when told to; the fake engine advances it by simulated costs.
class ManualClock final : public Clock {
 public:
  int64_t now_ns() const override { return now_ns_; }
  void advance_ns(int64_t delta_ns) { now_ns_ += delta_ns; }

 private:
  int64_t now_ns_ = 0;
};

}  // namespace uaqf
