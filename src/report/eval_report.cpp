#include "report/eval_report.h"

#include <algorithm>
#include <optional>
#include <ostream>
#include <sstream>

#include <fmt/format.h>

#include "report/bench_report.h"
#include "report/table.h"

namespace uaqf::report {
namespace {

using nlohmann::json;

json kld_to_json(const tasks::KldStats& k) {
  return json{{"n_tokens", k.n},
              {"kld_mean", k.mean},
              {"kld_stderr", k.stderr_mean},
              {"kld_percentiles",
               {{"p99.9", k.p999},
                {"p99", k.p99},
                {"p95", k.p95},
                {"p90", k.p90},
                {"median", k.median},
                {"p10", k.p10},
                {"p5", k.p5},
                {"p1", k.p1},
                {"p0.1", k.p01}}},
              {"kld_max", k.max},
              {"kld_min", k.min},
              {"same_top_rate", k.same_top_rate},
              {"same_top_stderr", k.same_top_stderr},
              {"delta_p_mean", k.delta_p_mean},
              {"delta_p_stderr", k.delta_p_stderr},
              {"delta_p_rms", k.delta_p_rms},
              {"delta_p_percentiles",
               {{"p99", k.delta_p_p99},
                {"p95", k.delta_p_p95},
                {"median", k.delta_p_median},
                {"p5", k.delta_p_p5},
                {"p1", k.delta_p_p1}}},
              {"delta_p_max", k.delta_p_max},
              {"delta_p_min", k.delta_p_min},
              {"base_ppl", k.base_ppl},
              {"ln_ppl_ratio", k.ln_ppl_ratio},
              {"ln_ppl_ratio_stderr", k.ln_ppl_ratio_stderr},
              {"ppl_ratio", k.ppl_ratio},
              {"baseline_tail_mass_mean", k.tail_mass_mean},
              {"baseline_tail_mass_max", k.tail_mass_max},
              {"kld_tail_sampling_stderr", k.tail_sampling_stderr}};
}

json chunk_to_json(const tasks::ChunkRecord& c) {
  json record{{"index", c.index}, {"n_scored", c.n_scored}, {"nll_sum", c.nll_sum}};
  if (c.kld_sum) {
    record["base_nll_sum"] = *c.base_nll_sum;
    record["kld_sum"] = *c.kld_sum;
    record["same_top_count"] = *c.same_top_count;
    record["delta_p_sum"] = *c.delta_p_sum;
  }
  return record;
}

}  // namespace

bool EvalReport::complete() const {
  return std::all_of(models.begin(), models.end(), [](const EvalModelResult& m) { return m.ok; });
}

void print_task_table(std::ostream& out, const EvalReport& report) {
  std::vector<std::vector<std::string>> rows{{"model", "task", "prompts", "metric", "value", "± se", "n", "items/s"}};
  for (const auto& model : report.models) {
    for (const auto& task : model.tasks) {
      for (const auto& metric : task.metrics) {
        rows.push_back({model.path.filename().string(), task.task,
                        task.prompt_format.empty() ? "-" : task.prompt_format, metric.name,
                        fmt::format("{:.4f}", metric.value), fmt::format("{:.4f}", metric.stderr_value),
                        fmt::format("{}", metric.n), fmt::format("{:.2f}", task.items_per_second)});
      }
    }
  }
  if (rows.size() > 1) {
    out << '\n';
    print_text_table(out, rows, 4);
  }
}

void print_eval_table(std::ostream& out, const EvalReport& report) {
  const bool any_perplexity = std::any_of(report.models.begin(), report.models.end(),
                                          [](const EvalModelResult& m) { return m.perplexity.has_value(); });
  if (!any_perplexity) {
    print_task_table(out, report);
    for (const auto& model : report.models) {
      if (!model.ok) {
        out << fmt::format("  ! {}: FAILED: {}\n", model.path.filename().string(), model.error);
      }
    }
    return;
  }
  const bool with_kld = std::find(report.tasks.begin(), report.tasks.end(), "kld") != report.tasks.end();
  std::vector<std::string> head{"model", "status", "PPL", "± se"};
  if (with_kld) {
    head.insert(head.end(), {"PPL/base", "ln ratio ± se", "KLD mean ± se", "KLD p99", "same top %", "RMS Δp %"});
  }
  head.emplace_back("tok/s");
  std::vector<std::vector<std::string>> rows{head};
  for (const auto& model : report.models) {
    std::vector<std::string> row{model.path.filename().string(), model.ok ? "ok" : "FAILED"};
    if (!model.perplexity) {
      row.resize(head.size(), "-");
      rows.push_back(row);
      continue;
    }
    const auto& p = *model.perplexity;
    row.push_back(fmt::format("{:.4f}", p.ppl));
    row.push_back(fmt::format("{:.4f}", p.ppl_stderr));
    if (with_kld) {
      if (p.kld) {
        const auto& k = *p.kld;
        row.push_back(fmt::format("{:.5f}", k.ppl_ratio));
        row.push_back(fmt::format("{:.5f} ± {:.5f}", k.ln_ppl_ratio, k.ln_ppl_ratio_stderr));
        row.push_back(fmt::format("{:.6f} ± {:.6f}", k.mean, k.stderr_mean));
        row.push_back(fmt::format("{:.5f}", k.p99));
        row.push_back(fmt::format("{:.2f} ± {:.2f}", 100 * k.same_top_rate, 100 * k.same_top_stderr));
        row.push_back(fmt::format("{:.3f}", 100 * k.delta_p_rms));
      } else {
        row.resize(row.size() + 6, "-");
      }
    }
    row.push_back(fmt::format("{:.0f}", p.tokens_per_second));
    rows.push_back(row);
  }
  print_text_table(out, rows, 2);
  // 0 corpus tokens means only the needed prefix was tokenized: "(0 tokens)" read as an empty corpus.
  const std::string corpus_size =
      report.corpus_tokens > 0 ? fmt::format("{} tokens", report.corpus_tokens) : "the prefix needed tokenized";
  out << fmt::format(
      "\ncorpus {} ({}), n_ctx {}, {} chunks, scored the second half of each chunk",
      report.corpus_path.filename().string(), corpus_size, report.options.n_ctx,
      report.models.empty() || !report.models.front().perplexity ? 0 : report.models.front().perplexity->n_chunks);
  if (report.baseline_path) {
    out << fmt::format("; baseline {} (PPL {:.4f}, distributions {})", report.baseline_path->filename().string(),
                       report.baseline_ppl.value_or(0), report.baseline_cache_status);
  }
  out << '\n';
  for (const auto& model : report.models) {
    if (model.perplexity && model.perplexity->kld && model.perplexity->kld->tail_mass_mean > 0) {
      const auto& k = *model.perplexity->kld;
      out << fmt::format(
          "  {}: KLD = exact top-{} + {} sampled tail tokens; tail mass {:.1f}% on average, tail "
          "sampling error of the mean ±{:.6f}\n",
          model.path.filename().string(), report.options.top_k, report.options.tail_samples, 100 * k.tail_mass_mean,
          k.tail_sampling_stderr);
    }
  }
  for (const auto& model : report.models) {
    if (!model.ok) {
      out << fmt::format("  ! {}: FAILED: {}\n", model.path.filename().string(), model.error);
    }
  }
  print_task_table(out, report);
}

json eval_to_json(const EvalReport& report) {
  json models = json::array();
  for (const auto& model : report.models) {
    json entry{{"path", model.path.string()},
               {"file_name", model.path.filename().string()},
               {"sha256", model.sha256},
               {"status", model.ok ? "ok" : "failed"},
               {"error", model.ok ? json(nullptr) : json(model.error)},
               {"type", model.info.type_name},
               {"n_params", model.info.n_params},
               {"file_size_bytes", model.info.file_size_bytes},
               {"batch_invariant_kernels",
                model.batch_invariant_kernels ? json(*model.batch_invariant_kernels) : json(nullptr)}};
    if (model.perplexity) {
      const auto& p = *model.perplexity;
      entry["perplexity"] = {{"ppl", p.ppl},
                             {"ppl_stderr", p.ppl_stderr},
                             {"nll_mean", p.nll_mean},
                             {"nll_stderr", p.nll_stderr},
                             {"n_scored_tokens", p.n_scored},
                             {"n_chunks", p.n_chunks},
                             {"n_ctx", p.n_ctx},
                             {"eval_seconds", p.eval_seconds},
                             {"tokens_per_second", p.tokens_per_second}};
      if (p.kld) {
        entry["kld"] = kld_to_json(*p.kld);
      }
      json chunks = json::array();
      for (const auto& chunk : p.chunks) {
        chunks.push_back(chunk_to_json(chunk));
      }
      entry["chunks"] = chunks;
    }
    json task_results = json::array();
    for (const auto& task : model.tasks) {
      json metrics = json::array();
      for (const auto& metric : task.metrics) {
        metrics.push_back(
            {{"name", metric.name}, {"value", metric.value}, {"stderr", metric.stderr_value}, {"n", metric.n}});
      }
      json entry_task = {{"task", task.task},
                         {"version", task.version},
                         {"metrics", metrics},
                         {"seconds", task.seconds},
                         {"items_per_second", task.items_per_second},
                         {"records", task.records}};
      if (!task.prompt_format.empty()) {
        entry_task["prompt_format"] = task.prompt_format;
      }
      task_results.push_back(std::move(entry_task));
    }
    entry["tasks"] = task_results;
    models.push_back(entry);
  }
  json baseline = nullptr;
  if (report.baseline_path) {
    baseline = {{"path", report.baseline_path->string()},
                {"sha256", report.baseline_sha256},
                {"ppl", report.baseline_ppl ? json(*report.baseline_ppl) : json(nullptr)},
                {"cache_file", report.baseline_cache_file},
                {"cache_status", report.baseline_cache_status},
                {"top_k", report.options.top_k},
                {"tail_samples", report.options.tail_samples}};
  }
  return json{
      {"schema", kEvalSchema},
      {"complete", report.complete()},
      {"environment", environment_to_json(report.environment, report.engine)},
      {"tasks", report.tasks},
      {"options",
       {{"n_ctx", report.options.n_ctx},
        {"max_chunks", report.options.max_chunks ? json(*report.options.max_chunks) : json(nullptr)},
        {"batch_size", report.options.n_batch},
        {"generation_batch", report.suite_options.generation.batch_size},
        {"batch_invariant", report.suite_options.batch_invariant},
        {"prompt_format", tasks::to_string(report.suite_options.generation.prompt_format)},
        {"threads", report.options.n_threads},
        {"top_k", report.options.top_k},
        {"tail_samples", report.options.tail_samples}}},
      {"corpus",
       {{"path", report.corpus_path.string()}, {"sha256", report.corpus_sha256}, {"n_tokens", report.corpus_tokens}}},
      {"baseline", baseline},
      {"models", models}};
}

namespace {

void csv_row(std::ostringstream& out, const std::string& prefix, const std::string& measure, const std::string& metric,
             double value, std::optional<double> stderr_value, std::optional<std::size_t> n) {
  out << prefix << ',' << csv_field(measure) << ',' << metric << ',' << fmt::format("{:.10g}", value) << ','
      << (stderr_value ? fmt::format("{:.10g}", *stderr_value) : "") << ',' << (n ? std::to_string(*n) : "") << '\n';
}

void perplexity_rows(std::ostringstream& out, const std::string& prefix, const tasks::PerplexityResult& p) {
  csv_row(out, prefix, "perplexity", "ppl", p.ppl, p.ppl_stderr, p.n_scored);
  csv_row(out, prefix, "perplexity", "nll_mean", p.nll_mean, p.nll_stderr, p.n_scored);
  if (p.kld) {
    const auto& k = *p.kld;
    csv_row(out, prefix, "kld", "kld_mean", k.mean, k.stderr_mean, k.n);
    csv_row(out, prefix, "kld", "kld_p99", k.p99, std::nullopt, k.n);
    csv_row(out, prefix, "kld", "same_top_rate", k.same_top_rate, k.same_top_stderr, k.n);
    csv_row(out, prefix, "kld", "delta_p_mean", k.delta_p_mean, k.delta_p_stderr, k.n);
    csv_row(out, prefix, "kld", "delta_p_rms", k.delta_p_rms, std::nullopt, k.n);
  }
}

}  // namespace

std::string eval_to_csv(const EvalReport& report) {
  std::ostringstream out;
  out << "# schema: " << kEvalSchema << '\n';
  const json env = environment_to_json(report.environment, report.engine);
  for (const auto& [key, value] : env.items()) {
    out << "# " << key << ": " << (value.is_string() ? value.get<std::string>() : value.dump()) << '\n';
  }
  out << "model,model_sha256,status,measure,metric,value,stderr,n\n";
  for (const auto& model : report.models) {
    const std::string prefix =
        fmt::format("{},{},{}", csv_field(model.path.filename().string()), model.sha256, model.ok ? "ok" : "failed");
    if (!model.ok) {
      out << prefix << ",error," << csv_field(model.error) << ",,,\n";
      continue;
    }
    if (model.perplexity) {
      perplexity_rows(out, prefix, *model.perplexity);
    }
    for (const auto& task : model.tasks) {
      for (const auto& metric : task.metrics) {
        csv_row(out, prefix, task.task, metric.name, metric.value, metric.stderr_value, metric.n);
      }
    }
  }
  return out.str();
}

}  // namespace uaqf::report
