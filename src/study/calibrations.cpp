#include "study/calibrations.h"

#include <algorithm>
#include <iostream>
#include <memory>

#include <fmt/format.h>

#include "core/error.h"
#include "core/terminal.h"
#include "quant/imatrix.h"
#include "quant/quantize.h"

namespace uaqf::study {
namespace {

namespace fs = std::filesystem;
using nlohmann::json;

// Each evaluated item as one text: what a calibration must not contain.
std::vector<std::pair<std::string, std::vector<std::string>>> task_units(const tasks::PreparedSuite& suite) {
  std::vector<std::pair<std::string, std::vector<std::string>>> out;
  for (const auto& [task, items] : suite.multiple_choice) {
    std::vector<std::string> units;
    for (const auto& item : items) {
      std::string text;
      for (const auto& choice : item.choices) {
        text += choice.context + " " + choice.continuation + "\n";
      }
      units.push_back(std::move(text));
    }
    out.emplace_back("task " + task, std::move(units));
  }
  if (!suite.gsm8k_items.empty()) {
    std::vector<std::string> units;
    for (const auto& item : suite.gsm8k_items) {
      units.push_back(item.question + "\n" + item.answer);
    }
    out.emplace_back("task gsm8k", std::move(units));
  }
  if (!suite.ifeval_lines.empty()) {
    std::vector<std::string> units;
    for (const auto& line : suite.ifeval_lines) {
      units.push_back(json::parse(line).value("prompt", std::string()));
    }
    out.emplace_back("task ifeval", std::move(units));
  }
  if (!suite.divergence_prompts.empty()) {
    out.emplace_back("task divergence", suite.divergence_prompts);
  }
  return out;
}

// The corpus text the study's chunks score (the whole corpus when they cover it), as lines.
std::vector<std::string> scored_corpus_lines(backend::Engine& engine, const Study& study, const tasks::Corpus& corpus) {
  const std::size_t needed =
      static_cast<std::size_t>(std::max(2, study.perplexity_chunks)) * static_cast<std::size_t>(study.ctx);
  const auto vocabulary = engine.load_vocabulary(study.model);
  const auto tokens = tasks::tokenize_corpus(*vocabulary, corpus.text, needed);
  const std::string text =
      tokens.complete ? corpus.text
                      : vocabulary->detokenize(std::span(tokens.tokens.data(), std::min(needed, tokens.tokens.size())));
  std::vector<std::string> lines;
  std::size_t start = 0;
  while (start < text.size()) {
    const std::size_t end = std::min(text.find('\n', start), text.size());
    if (end > start) {
      lines.push_back(text.substr(start, end - start));
    }
    start = end + 1;
  }
  return lines;
}

std::string describe(const tasks::Overlap& overlap) {
  return fmt::format("{:.2f}% of the 13-word sequences of {} ({} of {} {} overlap, e.g. \"{}\")",
                     100 * overlap.shared_fraction(), overlap.evaluation, overlap.units_overlapping, overlap.units,
                     overlap.evaluation.rfind("task", 0) == 0 ? "items" : "lines", overlap.example);
}

// "wikitext-test: /data/wikitext-2-raw/wiki.test.raw", or the file's path.
std::string source_of(const tasks::CalibrationText& calibration) {
  if (calibration.files.empty() || calibration.files.front().string() == calibration.source) {
    return calibration.source;
  }
  return calibration.source + ": " + calibration.files.front().string();
}

}  // namespace

std::vector<WeightVariant> weight_variants(const Study& study, const std::vector<std::string>& types,
                                           const std::function<bool(const std::string&)>& needs_imatrix) {
  std::vector<WeightVariant> variants;
  for (const auto& type : types) {
    const bool plain = study.uncalibrated && (study.imatrix || !needs_imatrix(type));
    if (plain) {
      variants.push_back({type, ""});
    }
    for (const auto& calibration : study.calibrations) {
      variants.push_back({type, calibration.name});
    }
    if (!plain && study.calibrations.empty()) {
      throw Error(ErrorCode::kInvalidArgument,
                  fmt::format("{}: {} quantization of {} needs an importance matrix: add a calibration, e.g. [model] "
                              "calibrations = {{ wiki = \"wikitext-valid\" }} (or imatrix = \"FILE\")",
                              study.where("model.types"), type, study.model.filename().string()));
    }
  }
  return variants;
}

std::vector<tasks::CalibrationText> read_calibration_texts(const Study& study, const fs::path& data_dir) {
  std::vector<tasks::CalibrationText> texts;
  for (const auto& calibration : study.calibrations) {
    try {
      texts.push_back(tasks::load_calibration(calibration.name, calibration.source, data_dir));
    } catch (const Error& error) {
      throw Error(error.code(), fmt::format("{}: {}", study.where("model.calibrations"), error.what()));
    }
  }
  return texts;
}

void check_calibration_overlap(backend::Engine& engine, const Study& study,
                               const std::vector<tasks::CalibrationText>& calibrations, const StudyInputs& inputs,
                               std::ostream& notes) {
  if (calibrations.empty()) {
    return;
  }
  auto evaluations = task_units(inputs.suite);
  if (inputs.corpus) {
    evaluations.emplace_back(
        fmt::format("perplexity corpus {} (the text its chunks score)", inputs.corpus->path.filename().string()),
        scored_corpus_lines(engine, study, *inputs.corpus));
  }
  for (const auto& calibration : calibrations) {
    const tasks::NgramIndex index(calibration.text);
    for (const auto& [evaluation, units] : evaluations) {
      const auto overlap = tasks::measure_overlap(index, evaluation, units);
      if (overlap.shared_fraction() > study.calibration_overlap_limit) {
        throw Error(ErrorCode::kInvalidArgument,
                    fmt::format("{}: calibration '{}' ({}) overlaps what the study evaluates: it holds {}, above the "
                                "limit of {:.2f}% (calibration_overlap_limit); calibrate on other text",
                                study.where("model.calibrations"), calibration.name, source_of(calibration),
                                describe(overlap), 100 * study.calibration_overlap_limit));
      }
      if (overlap.ngrams_shared > 0) {
        notes << fmt::format("uaqf: note: calibration '{}' holds {} (below the {:.2f}% limit)\n", calibration.name,
                             describe(overlap), 100 * study.calibration_overlap_limit);
      }
    }
  }
}

std::vector<WeightFile> make_calibrated_variants(backend::Engine& engine, const Study& study,
                                                 const std::vector<tasks::CalibrationText>& calibrations,
                                                 const std::vector<WeightVariant>& variants,
                                                 std::map<std::string, json>& records) {
  std::vector<WeightFile> weights;
  for (const auto& calibration : calibrations) {
    std::vector<std::string> types;
    for (const auto& variant : variants) {
      if (variant.calibration == calibration.name) {
        types.push_back(variant.type);
      }
    }
    if (types.empty()) {
      continue;
    }
    quant::ImatrixResult matrix;
    Progress progress(fmt::format("imatrix {}", calibration.name));
    try {
      matrix =
          quant::make_imatrix(engine,
                              {.model = study.model,
                               .calibration_name = calibration.name,
                               .calibration_text = calibration.text,
                               .output = quant::imatrix_path_for(study.model, calibration.name, study.variants_dir),
                               .n_ctx = study.calibration_ctx,
                               .n_chunks = study.calibration_chunks,
                               .n_threads = study.threads,
                               // "auto" is fitted for a study's load; a matrix pass offloads what it can.
                               .n_gpu_layers = study.placements.front().load.n_gpu_layers == backend::kGpuLayersAuto
                                                   ? backend::kGpuLayersAll
                                                   : study.placements.front().load.n_gpu_layers},
                              [&](int done, int total) { progress.update(done, total); });
      progress.finish(matrix.up_to_date ? "up to date" : "done");
    } catch (const Error& error) {
      progress.finish("FAILED");
      std::cerr << fmt::format("uaqf: error: calibration '{}': {} (its variants are left out)\n", calibration.name,
                               error.what());
      continue;
    }
    const json record{
        {"name", calibration.name},          {"source", calibration.source},   {"text_bytes", calibration.text.size()},
        {"imatrix", matrix.output.string()}, {"n_ctx", study.calibration_ctx}, {"n_chunks", matrix.n_chunks},
        {"n_tokens", matrix.n_tokens},       {"compute_s", matrix.compute_s},  {"reused", matrix.up_to_date}};
    quant::QuantizeOptions options{.model = study.model,
                                   .types = types,
                                   .out_dir = study.variants_dir,
                                   .imatrix = matrix.output,
                                   .name_suffix = "+" + calibration.name,
                                   .n_threads = study.threads > 0 ? study.threads : 0};
    for (const auto& made : quantize_with_progress(engine, options)) {
      weights.push_back(made);
      records[made.file.string()] = record;
    }
  }
  return weights;
}

std::vector<WeightFile> quantize_with_progress(backend::Engine& engine, const quant::QuantizeOptions& options) {
  std::unique_ptr<Progress> progress;
  quant::QuantizeObserver observer;
  observer.on_start = [&](const std::string& name, const fs::path&) {
    progress = std::make_unique<Progress>(fmt::format("quantize {}", name));
  };
  observer.on_progress = [&](long done, long total) { progress->update(done, total); };
  observer.on_finish = [&](const quant::QuantizeResult& r) {
    progress->finish(r.status == quant::QuantizeStatus::kFailed     ? "FAILED: " + r.error
                     : r.status == quant::QuantizeStatus::kUpToDate ? "up to date"
                                                                    : "done");
  };
  std::vector<WeightFile> made;
  for (const auto& q : quant::quantize_all(engine, options, observer)) {
    if (q.status != quant::QuantizeStatus::kFailed) {
      made.push_back({q.name, q.output});
    }
  }
  return made;
}

}  // namespace uaqf::study
