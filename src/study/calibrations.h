#pragma once

// A study's calibrations: which weight variants the types and calibrations make, the check that
// no calibration text overlaps what the study evaluates (before any work), and the importance
// matrices and calibrated variants themselves, with what each calibration cost.

#include <filesystem>
#include <functional>
#include <map>
#include <ostream>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "backend/backend.h"
#include "quant/quantize.h"
#include "study/plan.h"
#include "study/study.h"
#include "study/units.h"
#include "tasks/calibration.h"

namespace uaqf::study {

// One quantized variant's weights: a type, plain or quantized with a calibration's matrix.
struct WeightVariant {
  std::string type;         // canonical ("Q4_K_M")
  std::string calibration;  // "" for the plain variant
  std::string name() const { return calibration.empty() ? type : type + "+" + calibration; }
};

// The study's types (canonical names) crossed with its calibrations, plus each plain type where
// `uncalibrated` and the type needs no importance matrix (or the study gives one); in the order
// of the types. Throws Error at [model] types when a type would have no variant, with the hint.
std::vector<WeightVariant> weight_variants(const Study& study, const std::vector<std::string>& types,
                                           const std::function<bool(const std::string&)>& needs_imatrix);

std::vector<tasks::CalibrationText> read_calibration_texts(const Study& study, const std::filesystem::path& data_dir);

// Refuses the study (Error at [model] calibrations) when a calibration text holds more than
// study.calibration_overlap_limit of the 13-word sequences of an evaluation input: the corpus
// text the perplexity and KLD chunks score, or a task's items (questions with their answers).
// Smaller overlaps are noted on `notes`.
void check_calibration_overlap(backend::Engine& engine, const Study& study,
                               const std::vector<tasks::CalibrationText>& calibrations, const StudyInputs& inputs,
                               std::ostream& notes);

// Each calibration's importance matrix (made once, cached beside the variants), then its types
// quantized with it. Failures leave the calibration's variants out with a message. Returns the
// weight files; `records` gets each calibrated weight file's calibration record (source, matrix,
// chunks, tokens, seconds), by the file's path.
std::vector<WeightFile> make_calibrated_variants(backend::Engine& engine, const Study& study,
                                                 const std::vector<tasks::CalibrationText>& calibrations,
                                                 const std::vector<WeightVariant>& variants,
                                                 std::map<std::string, nlohmann::json>& records);

// quant::quantize_all with a progress line per output; the outputs made (or up to date), the
// failed ones left out (their line says why).
std::vector<WeightFile> quantize_with_progress(backend::Engine& engine, const quant::QuantizeOptions& options);

}  // namespace uaqf::study
