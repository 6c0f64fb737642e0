#pragma once

// Which stored records a decision metric is recomputed from in the bootstrap: the record -> metric
// table beside decide's catalog. The records are those results.json keeps for every variant (each
// request of the prompt workload, each perplexity chunk, each task item), so results written
// before the decision resampled them get their records too.

#include <vector>

#include "decide/model.h"
#include "results/study_record.h"

namespace uaqf::results {

// Sets MetricValue::records on the metrics of `inputs` that have stored records in `variants`
// (matched by name):
//   requests ("requests"): ttft_ms, e2e_ms (means), ttft_p99_ms (99th percentile over requests),
//     itl_p50_ms, itl_p99_ms (percentiles of the drawn requests' token gaps);
//   chunks ("chunks"): ppl (exp of the mean per-chunk NLL), kld_mean, same_top_rate (when the
//     per-chunk rates were stored), ln_ppl_ratio (per-chunk NLL minus the baseline's);
//   task items ("task:<task>"): every "<task>.<metric>" a task record can give.
// Metrics with none (speed repetitions, memory, file size, kld_p99, serving) are left as they are.
void attach_records(std::vector<decide::Variant>& inputs, const std::vector<VariantRecord>& variants);
// The same from results.json's "variants" array as stored (no copy of the records).
void attach_records(std::vector<decide::Variant>& inputs, const nlohmann::json& variants);

}  // namespace uaqf::results
