#pragma once

// The report's calibration section: each calibrated variant beside its plain twin (file size,
// what calibration cost, the paired tests and the verdict). Absent when the study has no
// calibrations.

#include <string>

#include <nlohmann/json.hpp>

#include "report/study_report.h"

namespace uaqf::report {

// {"variants": [...]} or null when there is nothing to compare.
nlohmann::json calibration_json(const StudyResults& study);
std::string calibration_markdown(const nlohmann::json& report);
std::string calibration_html(const nlohmann::json& report);

}  // namespace uaqf::report
