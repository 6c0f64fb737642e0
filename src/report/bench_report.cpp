#include "report/bench_report.h"

#include <algorithm>
#include <cstdint>
#include <ostream>
#include <sstream>
#include <vector>

#include <fmt/format.h>

#include "report/table.h"

namespace uaqf::report {
namespace {

using nlohmann::json;

json optional_number(const std::optional<double>& value) { return value ? json(*value) : json(nullptr); }

json summary_to_json(const stats::Summary& s) {
  return json{{"n", s.n},
              {"mean", s.mean},
              {"median", s.median},
              {"min", s.min},
              {"max", s.max},
              {"p90", s.p90},
              {"p99", s.p99},
              {"stddev", optional_number(s.stddev)},
              {"sem", optional_number(s.sem)},
              {"cv", optional_number(s.cv)},
              {"ci95_low", optional_number(s.ci95_low)},
              {"ci95_high", optional_number(s.ci95_high)}};
}

std::string format_value(double value) {
  const double magnitude = std::abs(value);
  if (magnitude >= 1000) {
    return fmt::format("{:.0f}", value);
  }
  if (magnitude >= 100) {
    return fmt::format("{:.1f}", value);
  }
  if (magnitude >= 1) {
    return fmt::format("{:.2f}", value);
  }
  return fmt::format("{:.3f}", value);
}

std::string format_bytes(uint64_t bytes) {
  return fmt::format("{:.2f} MiB", static_cast<double>(bytes) / (1024.0 * 1024.0));
}

std::string format_count(uint64_t count) {
  if (count >= 1'000'000'000) {
    return fmt::format("{:.2f} B", static_cast<double>(count) / 1e9);
  }
  if (count >= 1'000'000) {
    return fmt::format("{:.2f} M", static_cast<double>(count) / 1e6);
  }
  return fmt::format("{}", count);
}

std::string metric_label(const perf::Metric& metric) {
  if (metric.name == "prefill_tps") {
    return "prefill t/s";
  }
  if (metric.name == "decode_tps") {
    return "decode t/s";
  }
  if (metric.name == "ttft_ms") {
    return "TTFT ms";
  }
  if (metric.name == "itl_ms") {
    return "per-token ms";
  }
  if (metric.name == "e2e_ms") {
    return "end-to-end ms";
  }
  if (metric.name == "parallel_decode_tps") {
    return "aggregate t/s";
  }
  if (metric.name == "parallel_itl_ms") {
    return "per-seq step ms";
  }
  return metric.name;
}

}  // namespace

void print_bench_table(std::ostream& out, const perf::BenchReport& report) {
  std::vector<std::vector<std::string>> models{
      {"model", "type", "status", "file size", "params", "bpw", "load ms", "peak RSS", "peak device"}};
  for (const auto& model : report.models) {
    const auto* load = model.find("load_ms", "load");
    models.push_back({model.path.filename().string() + (model.info.synthetic ? " (synthetic)" : ""),
                      model.info.type_name.empty() ? "-" : model.info.type_name, model.ok ? "ok" : "FAILED",
                      model.info.file_size_bytes ? format_bytes(model.info.file_size_bytes) : "-",
                      model.info.n_params ? format_count(model.info.n_params) : "-",
                      model.info.n_params ? fmt::format("{:.2f}", model.info.bits_per_weight) : "-",
                      load ? format_value(load->summary.mean) : "-",
                      model.peak_rss_bytes ? format_bytes(*model.peak_rss_bytes) : "-",
                      model.peak_device_memory_bytes ? format_bytes(*model.peak_device_memory_bytes) : "-"});
  }
  print_text_table(out, models, 3);
  out << '\n';

  std::vector<std::vector<std::string>> rows{
      {"model", "test", "metric", "mean", "± sd", "95% CI", "CV", "p50", "p90", "p99", "n"}};
  for (const auto& model : report.models) {
    for (const auto& metric : model.metrics) {
      if (metric.name == "load_ms") {
        continue;
      }
      const auto& s = metric.summary;
      rows.push_back({model.path.filename().string(), metric.test, metric_label(metric), format_value(s.mean),
                      s.stddev ? format_value(*s.stddev) : "-",
                      s.ci95_low ? fmt::format("{} – {}", format_value(*s.ci95_low), format_value(*s.ci95_high)) : "-",
                      s.cv ? fmt::format("{:.1f}%", *s.cv * 100) : "-", format_value(s.median), format_value(s.p90),
                      format_value(s.p99), fmt::format("{}", s.n)});
    }
  }
  print_text_table(out, rows, 3);

  bool header = false;
  auto note = [&](const std::string& text) {
    if (!header) {
      out << "\nwarnings:\n";
      header = true;
    }
    out << "  ! " << text << '\n';
  };
  for (const auto& model : report.models) {
    const std::string name = model.path.filename().string();
    if (!model.ok) {
      note(fmt::format("{}: FAILED: {}", name, model.error));
    }
    for (const auto& warning : model.warnings) {
      note(fmt::format("{}: {}", name, warning));
    }
    for (const auto& metric : model.metrics) {
      for (const auto& warning : metric.warnings) {
        note(fmt::format("{} {} {}: {}", name, metric.test, metric_label(metric), warning));
      }
    }
    if (model.ok && !model.peak_rss_is_per_model) {
      note(fmt::format("{}: peak RSS could not be reset between models; it is the process peak so far", name));
    }
  }
  const bool any_device = std::any_of(report.models.begin(), report.models.end(), [](const perf::ModelResult& m) {
    return m.peak_device_memory_bytes.has_value();
  });
  const bool any_energy = std::any_of(report.models.begin(), report.models.end(),
                                      [](const perf::ModelResult& m) { return m.energy_measured; });
  if (!any_device || !any_energy) {
    out << fmt::format("\n{}{}", any_device ? "" : "device memory: unavailable (no GPU). ",
                       any_energy ? "" : "energy: unavailable (no GPU or no NVML).");
  }
  out << fmt::format("\n{} threads, {} repetitions after {} warm-up run(s); engine {} {}\n",
                     report.options.runtime.n_threads, report.options.reps, report.options.warmup, report.engine.name,
                     report.engine.commit.substr(0, 12));
}

json environment_to_json(const Environment& env, const backend::EngineInfo& engine) {
  json devices = json::array();
  for (const auto& device : engine.devices) {
    devices.push_back({{"name", device.name},
                       {"description", device.description},
                       {"type", device.type},
                       {"memory_total_bytes", device.memory_total_bytes}});
  }
  return json{{"uaqf_version", env.uaqf_version},
              {"build_type", env.build_type},
              {"compiler", env.compiler},
              {"os", env.os},
              {"os_release", env.os_release},
              {"hostname", env.hostname},
              {"cpu_model", env.cpu_model},
              {"logical_cores", env.logical_cores},
              {"physical_cores", env.physical_cores},
              {"memory_total_bytes", env.memory_total_bytes},
              {"timestamp_utc", env.timestamp_utc},
              {"engine", engine.name},
              {"llama_commit", engine.commit},
              {"engine_build", engine.build},
              {"engine_system_info", engine.system_info},
              {"devices", devices},
              {"gpus",
               [&] {
                 json gpus = json::array();
                 for (const auto& device : engine.devices) {
                   if (device.type == "gpu" || device.type == "igpu") {
                     gpus.push_back(device.description);
                   }
                 }
                 return gpus;
               }()},
              {"extra", env.extra}};
}

json memory_placement_to_json(const std::vector<backend::MemoryPlacement>& placed) {
  json out = json::array();
  for (const auto& p : placed) {
    out.push_back({{"buffer", p.buffer},
                   {"device", p.device},
                   {"host", p.host},
                   {"weights_bytes", p.weights_bytes},
                   {"kv_bytes", p.kv_bytes},
                   {"compute_bytes", p.compute_bytes}});
  }
  return out;
}

json bench_to_json(const perf::BenchReport& report) {
  const auto& o = report.options;
  json options{{"prompt_tokens", o.prompt_tokens},
               {"gen_tokens", o.gen_tokens},
               {"depths", o.depths},
               {"reps", o.reps},
               {"warmup", o.warmup},
               {"n_ctx", o.n_ctx ? json(*o.n_ctx) : json(nullptr)},
               {"seed", o.seed},
               {"max_cv", o.max_cv},
               {"request_latency", o.request_latency},
               {"parallel", o.parallel},
               {"threads", o.runtime.n_threads},
               {"batch_size", o.runtime.n_batch},
               {"ubatch_size", o.runtime.n_ubatch},
               {"kv_cache_type", o.runtime.kv_cache_type},
               {"gpu_layers", o.runtime.n_gpu_layers},
               {"flash_attention", backend::to_string(o.runtime.flash_attention)}};
  json models = json::array();
  for (const auto& model : report.models) {
    json metrics = json::array();
    for (const auto& metric : model.metrics) {
      metrics.push_back(
          {{"name", metric.name},
           {"test", metric.test},
           {"unit", metric.unit},
           {"higher_is_better", metric.higher_is_better},
           {"is_distribution", metric.is_distribution},
           {"n_prompt", metric.n_prompt},
           {"n_gen", metric.n_gen},
           {"depth", metric.depth},
           {"samples", metric.samples},
           {"warmup_dropped", metric.warmup_dropped},
           {"outliers", metric.outliers},
           {"median_ci95",
            metric.median_ci95_low ? json::array({*metric.median_ci95_low, *metric.median_ci95_high}) : json(nullptr)},
           {"summary", summary_to_json(metric.summary)},
           {"warnings", metric.warnings}});
    }
    const auto& info = model.info;
    models.push_back({{"path", model.path.string()},
                      {"file_name", model.path.filename().string()},
                      {"sha256", model.sha256.empty() ? json(nullptr) : json(model.sha256)},
                      {"status", model.ok ? "ok" : "failed"},
                      {"error", model.ok ? json(nullptr) : json(model.error)},
                      {"info",
                       {{"architecture", info.architecture},
                        {"type", info.type_name},
                        {"description", info.description},
                        {"synthetic", info.synthetic},
                        {"file_size_bytes", info.file_size_bytes},
                        {"n_params", info.n_params},
                        {"weights_size_bytes", info.weights_size_bytes},
                        {"bits_per_weight", info.bits_per_weight},
                        {"n_vocab", info.n_vocab},
                        {"n_ctx_train", info.n_ctx_train},
                        {"n_layer", info.n_layer},
                        {"n_embd", info.n_embd}}},
                      {"peak_rss_bytes", model.peak_rss_bytes ? json(*model.peak_rss_bytes) : json(nullptr)},
                      {"peak_rss_scope", model.peak_rss_is_per_model ? "model" : "process"},
                      {"peak_device_memory_bytes",
                       model.peak_device_memory_bytes ? json(*model.peak_device_memory_bytes) : json(nullptr)},
                      {"memory_bandwidth_bytes_per_s",
                       model.memory_bandwidth_bytes_per_s ? json(*model.memory_bandwidth_bytes_per_s) : json(nullptr)},
                      {"energy_measured", model.energy_measured},
                      {"placement", model.placement},
                      {"memory_placement", memory_placement_to_json(model.memory_placement)},
                      {"warnings", model.warnings},
                      {"metrics", metrics}});
  }
  return json{{"schema", kBenchSchema},
              {"complete", report.complete()},
              {"environment", environment_to_json(report.environment, report.engine)},
              {"options", options},
              {"models", models}};
}

std::string bench_to_csv(const perf::BenchReport& report) {
  std::ostringstream out;
  const json env = environment_to_json(report.environment, report.engine);
  out << "# schema: " << kBenchSchema << '\n';
  for (const auto& [key, value] : env.items()) {
    // Through csv_field: a comma in a value would otherwise start a cell a spreadsheet evaluates.
    out << "# " << key << ": " << csv_field(value.is_string() ? value.get<std::string>() : value.dump()) << '\n';
  }
  const auto quoted = [](const std::string& text) { return csv_field(text); };
  out << "model,model_sha256,status,test,metric,unit,statistic,index,value\n";
  for (const auto& model : report.models) {
    const std::string prefix =
        fmt::format("{},{},{}", quoted(model.path.filename().string()), model.sha256, model.ok ? "ok" : "failed");
    if (!model.ok) {
      out << prefix << ",,error,,message,," << quoted(model.error) << '\n';
    }
    if (model.peak_rss_bytes) {
      out << prefix << ",,peak_rss_bytes,bytes,value,," << *model.peak_rss_bytes << '\n';
    }
    for (const auto& metric : model.metrics) {
      const std::string row = fmt::format("{},{},{},{}", prefix, quoted(metric.test), metric.name, metric.unit);
      for (std::size_t i = 0; i < metric.samples.size(); ++i) {
        out << row << ",sample," << i << ',' << fmt::format("{}", metric.samples[i]) << '\n';
      }
      const auto& s = metric.summary;
      auto stat = [&](const char* name, const std::optional<double>& value) {
        if (value) {
          out << row << ',' << name << ",," << fmt::format("{}", *value) << '\n';
        }
      };
      stat("n", static_cast<double>(s.n));
      stat("mean", s.mean);
      stat("median", s.median);
      stat("stddev", s.stddev);
      stat("cv", s.cv);
      stat("ci95_low", s.ci95_low);
      stat("ci95_high", s.ci95_high);
      stat("p90", s.p90);
      stat("p99", s.p99);
    }
  }
  return out.str();
}

}  // namespace uaqf::report
