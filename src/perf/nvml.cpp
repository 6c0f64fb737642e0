#include "perf/nvml.h"

#include <dlfcn.h>
#include <cstdint>

#include <array>
#include <vector>

#include <fmt/format.h>

namespace uaqf::perf {
namespace {

// The few NVML entry points used, declared here so that no NVIDIA header is needed to build.
using NvmlDevice = void*;
using NvmlReturn = int;
constexpr NvmlReturn kNvmlSuccess = 0;
constexpr int kClockSm = 1;
constexpr int kClockMem = 2;

template <typename Fn>
Fn symbol(void* library, const char* name) {
  return reinterpret_cast<Fn>(dlsym(library, name));
}

}  // namespace

struct Nvml::Api {
  void* library = nullptr;
  NvmlReturn (*init)() = nullptr;
  NvmlReturn (*shutdown)() = nullptr;
  NvmlReturn (*device_count)(unsigned*) = nullptr;
  NvmlReturn (*device_by_index)(unsigned, NvmlDevice*) = nullptr;
  NvmlReturn (*device_name)(NvmlDevice, char*, unsigned) = nullptr;
  NvmlReturn (*driver_version)(char*, unsigned) = nullptr;
  NvmlReturn (*cuda_driver_version)(int*) = nullptr;
  NvmlReturn (*total_energy)(NvmlDevice, unsigned long long*) = nullptr;
  NvmlReturn (*clock_info)(NvmlDevice, int, unsigned*) = nullptr;
  std::vector<NvmlDevice> devices;

  ~Api() {
    if (shutdown != nullptr) {
      shutdown();
    }
    if (library != nullptr) {
      dlclose(library);
    }
  }
};

std::unique_ptr<Nvml> Nvml::open() {
  auto api = std::make_unique<Api>();
  api->library = dlopen("libnvidia-ml.so.1", RTLD_NOW | RTLD_LOCAL);
  if (api->library == nullptr) {
    return nullptr;
  }
  api->init = symbol<decltype(api->init)>(api->library, "nvmlInit_v2");
  api->device_count = symbol<decltype(api->device_count)>(api->library, "nvmlDeviceGetCount_v2");
  api->device_by_index = symbol<decltype(api->device_by_index)>(api->library, "nvmlDeviceGetHandleByIndex_v2");
  api->device_name = symbol<decltype(api->device_name)>(api->library, "nvmlDeviceGetName");
  api->driver_version = symbol<decltype(api->driver_version)>(api->library, "nvmlSystemGetDriverVersion");
  api->cuda_driver_version = symbol<decltype(api->cuda_driver_version)>(api->library, "nvmlSystemGetCudaDriverVersion");
  api->total_energy = symbol<decltype(api->total_energy)>(api->library, "nvmlDeviceGetTotalEnergyConsumption");
  api->clock_info = symbol<decltype(api->clock_info)>(api->library, "nvmlDeviceGetClockInfo");
  if (api->init == nullptr || api->device_count == nullptr || api->device_by_index == nullptr ||
      api->init() != kNvmlSuccess) {
    return nullptr;
  }
  api->shutdown = symbol<decltype(api->shutdown)>(api->library, "nvmlShutdown");
  unsigned count = 0;
  if (api->device_count(&count) != kNvmlSuccess || count == 0) {
    return nullptr;
  }
  for (unsigned i = 0; i < count; ++i) {
    NvmlDevice device = nullptr;
    if (api->device_by_index(i, &device) == kNvmlSuccess) {
      api->devices.push_back(device);
    }
  }
  std::unique_ptr<Nvml> nvml(new Nvml(std::move(api)));
  nvml->device_count_ = static_cast<unsigned>(nvml->api_->devices.size());
  return nvml;
}

Nvml::Nvml(std::unique_ptr<Api> api) : api_(std::move(api)) {}
Nvml::~Nvml() = default;

std::string Nvml::device_name(unsigned index) const {
  std::array<char, 96> name{};
  if (api_->device_name == nullptr || index >= api_->devices.size() ||
      api_->device_name(api_->devices[index], name.data(), name.size()) != kNvmlSuccess) {
    return "unknown";
  }
  return name.data();
}

std::string Nvml::driver_version() const {
  std::array<char, 96> version{};
  if (api_->driver_version == nullptr || api_->driver_version(version.data(), version.size()) != kNvmlSuccess) {
    return "unknown";
  }
  return version.data();
}

std::string Nvml::cuda_driver_version() const {
  int version = 0;
  if (api_->cuda_driver_version == nullptr || api_->cuda_driver_version(&version) != kNvmlSuccess) {
    return "unknown";
  }
  return fmt::format("{}.{}", version / 1000, (version % 1000) / 10);
}

std::optional<uint64_t> Nvml::total_energy_mj() const {
  if (api_->total_energy == nullptr) {
    return std::nullopt;
  }
  uint64_t total = 0;
  for (NvmlDevice device : api_->devices) {
    unsigned long long energy = 0;
    if (api_->total_energy(device, &energy) != kNvmlSuccess) {
      return std::nullopt;
    }
    total += energy;
  }
  return total;
}

std::optional<unsigned> Nvml::sm_clock_mhz(unsigned index) const {
  unsigned mhz = 0;
  if (api_->clock_info == nullptr || index >= api_->devices.size() ||
      api_->clock_info(api_->devices[index], kClockSm, &mhz) != kNvmlSuccess) {
    return std::nullopt;
  }
  return mhz;
}

std::optional<unsigned> Nvml::memory_clock_mhz(unsigned index) const {
  unsigned mhz = 0;
  if (api_->clock_info == nullptr || index >= api_->devices.size() ||
      api_->clock_info(api_->devices[index], kClockMem, &mhz) != kNvmlSuccess) {
    return std::nullopt;
  }
  return mhz;
}

void add_gpu_manifest(const Nvml& nvml, const std::string& when, std::map<std::string, std::string>& extra) {
  extra["gpu_driver"] = nvml.driver_version();
  extra["gpu_cuda_driver"] = nvml.cuda_driver_version();
  for (unsigned i = 0; i < nvml.device_count(); ++i) {
    const auto sm = nvml.sm_clock_mhz(i);
    const auto memory = nvml.memory_clock_mhz(i);
    extra[fmt::format("gpu{}_name", i)] = nvml.device_name(i);
    extra[fmt::format("gpu{}_sm_clock_mhz_{}", i, when)] = sm ? std::to_string(*sm) : "unknown";
    extra[fmt::format("gpu{}_memory_clock_mhz_{}", i, when)] = memory ? std::to_string(*memory) : "unknown";
  }
}

}  // namespace uaqf::perf
