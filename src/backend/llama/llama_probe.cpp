#include "backend/llama/llama_internal.h"

#include <algorithm>
#include <array>
#include <atomic>
#include <chrono>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <fstream>
#include <limits>
#include <map>
#include <regex>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include <fmt/format.h>

#include "backend/llama/llama_log.h"
#include "core/environment.h"
#include "core/error.h"
#include "core/files.h"
#include "core/parallel.h"
#include "ggml-alloc.h"
#include "ggml-backend.h"
#include "ggml-cpu.h"
#include "gguf.h"
#include "llama-cpp.h"
#include "uaqf/build_info.h"

namespace uaqf::backend::llama {
namespace fs = std::filesystem;

std::optional<double> read_bandwidth_bytes_per_s(const RuntimeOptions& runtime) {
  ggml_backend_dev_t device = nullptr;
  if (runtime.n_gpu_layers != 0) {
    for (size_t i = 0; i < ggml_backend_dev_count() && device == nullptr; ++i) {
      if (ggml_backend_dev_type(ggml_backend_dev_get(i)) == GGML_BACKEND_DEVICE_TYPE_GPU) {
        device = ggml_backend_dev_get(i);
      }
    }
  }
  const bool on_gpu = device != nullptr;
  if (!on_gpu) {
    device = ggml_backend_dev_by_type(GGML_BACKEND_DEVICE_TYPE_CPU);
  }
  std::unique_ptr<ggml_backend, decltype(&ggml_backend_free)> backend(
      device ? ggml_backend_dev_init(device, nullptr) : nullptr, &ggml_backend_free);
  if (!backend) {
    return std::nullopt;
  }
  if (!on_gpu) {
    // Through the registry, not ggml_backend_cpu_set_n_threads: the prebuilt engine loads its CPU
    // backend at run time (libggml-cpu-<variant>.so), so uaqf never links it.
    auto* set_n_threads = reinterpret_cast<ggml_backend_set_n_threads_t>(
        ggml_backend_reg_get_proc_address(ggml_backend_dev_backend_reg(device), "ggml_backend_set_n_threads"));
    if (set_n_threads != nullptr) {
      set_n_threads(backend.get(), runtime.n_threads > 0 ? runtime.n_threads : physical_core_count());
    }
  }
  // Stream a matrix far larger than any cache through a matrix-vector product, as decoding
  // streams the weights: 1 GiB of F32 on a GPU, 256 MiB on the host. (A buffer copy, tried first,
  // reached only 57 % of an H200's peak while F16 decoding read faster than that.)
  const int64_t row = 1 << 16;
  const int64_t rows = on_gpu ? 4096 : 1024;
  const ggml_init_params params{
      .mem_size = 4 * ggml_tensor_overhead() + ggml_graph_overhead(), .mem_buffer = nullptr, .no_alloc = true};
  std::unique_ptr<ggml_context, GgmlDeleter> ctx(ggml_init(params));
  ggml_tensor* matrix = ggml_new_tensor_2d(ctx.get(), GGML_TYPE_F32, row, rows);
  ggml_tensor* vector = ggml_new_tensor_1d(ctx.get(), GGML_TYPE_F32, row);
  ggml_tensor* product = ggml_mul_mat(ctx.get(), matrix, vector);
  std::unique_ptr<ggml_backend_buffer, decltype(&ggml_backend_buffer_free)> buffer(
      ggml_backend_alloc_ctx_tensors(ctx.get(), backend.get()), &ggml_backend_buffer_free);
  if (!buffer) {
    return std::nullopt;  // not enough free memory for the probe
  }
  ggml_backend_buffer_clear(buffer.get(), 0);
  ggml_cgraph* graph = ggml_new_graph(ctx.get());
  ggml_build_forward_expand(graph, product);
  const double bytes = static_cast<double>(ggml_nbytes(matrix));
  double best = 0;
  for (int run = 0; run < 6; ++run) {  // the first run warms up
    const auto start = std::chrono::steady_clock::now();
    if (ggml_backend_graph_compute(backend.get(), graph) != GGML_STATUS_SUCCESS) {
      return std::nullopt;
    }
    ggml_backend_synchronize(backend.get());
    const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    if (run > 0 && seconds > 0) {
      best = std::max(best, bytes / seconds);
    }
  }
  return best > 0 ? std::optional<double>(best) : std::nullopt;
}

}  // namespace uaqf::backend::llama
