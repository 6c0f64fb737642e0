#pragma once

// NVIDIA's management library, loaded at run time (never linked), for energy, clocks and the GPU
// manifest. Where it or a GPU is absent, everything here says so and no metric is invented.

#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <string>

namespace uaqf::perf {

// Cumulative energy of the accelerators, in millijoules; nullopt where not measured.
class EnergyMeter {
 public:
  virtual ~EnergyMeter() = default;
  virtual std::optional<uint64_t> total_energy_mj() const = 0;
};

class Nvml final : public EnergyMeter {
 public:
  // nullptr when libnvidia-ml.so.1 cannot be loaded or reports no GPU.
  static std::unique_ptr<Nvml> open();
  ~Nvml() override;
  Nvml(const Nvml&) = delete;
  Nvml& operator=(const Nvml&) = delete;

  unsigned device_count() const { return device_count_; }
  std::string device_name(unsigned index) const;
  std::string driver_version() const;
  std::string cuda_driver_version() const;  // e.g. "13.0"
  // Energy used by all GPUs since the driver loaded, in millijoules; nullopt if unsupported.
  std::optional<uint64_t> total_energy_mj() const override;
  std::optional<unsigned> sm_clock_mhz(unsigned index) const;
  std::optional<unsigned> memory_clock_mhz(unsigned index) const;

 private:
  struct Api;
  explicit Nvml(std::unique_ptr<Api> api);
  std::unique_ptr<Api> api_;
  unsigned device_count_ = 0;
};

// The GPU manifest into an environment's `extra`: driver, CUDA driver version and each GPU's name,
// plus its SM and memory clocks as `gpu<i>_sm_clock_mhz_<when>` (when: "start", "end").
void add_gpu_manifest(const Nvml& nvml, const std::string& when, std::map<std::string, std::string>& extra);

}  // namespace uaqf::perf
