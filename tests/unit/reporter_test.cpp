// One reporter interface over every record: the formats each has, the refusal of the others, and
// eval's long-form CSV.

#include <gtest/gtest.h>

#include <string>

#include "core/error.h"
#include "report/reporter.h"

namespace uaqf::report {
namespace {

EvalReport small_eval() {
  EvalReport report;
  report.environment.cpu_model = "Test CPU";
  EvalModelResult good;
  good.path = "dir/good, model.gguf";
  good.sha256 = "feed";
  good.ok = true;
  tasks::PerplexityResult ppl;
  ppl.ppl = 12.5;
  ppl.ppl_stderr = 0.25;
  ppl.nll_mean = 2.5257;
  ppl.n_scored = 1000;
  good.perplexity = ppl;
  tasks::TaskResult arc;
  arc.task = "arc_easy";
  arc.metrics.push_back({.name = "acc", .value = 0.5, .stderr_value = 0.05, .n = 100});
  good.tasks.push_back(arc);
  EvalModelResult bad;
  bad.path = "bad.gguf";
  bad.error = "failed to load \"bad.gguf\"";
  report.models = {good, bad};
  return report;
}

TEST(Reporter, EvalCsvHasOneRowPerMeasureAndQuotesText) {
  const std::string csv = eval_reporter(small_eval())->render(Format::kCsv);
  EXPECT_NE(csv.find("# schema: uaqf.eval/1\n"), std::string::npos) << csv;
  EXPECT_NE(csv.find("\nmodel,model_sha256,status,measure,metric,value,stderr,n\n"), std::string::npos) << csv;
  EXPECT_NE(csv.find("\n\"good, model.gguf\",feed,ok,perplexity,ppl,12.5,0.25,1000\n"), std::string::npos) << csv;
  EXPECT_NE(csv.find("\n\"good, model.gguf\",feed,ok,arc_easy,acc,0.5,0.05,100\n"), std::string::npos) << csv;
  EXPECT_NE(csv.find("\nbad.gguf,,failed,error,\"failed to load \"\"bad.gguf\"\"\",,,\n"), std::string::npos) << csv;
}

TEST(Reporter, AFormatARecordDoesNotHaveIsRefusedNamingThoseItHas) {
  try {
    eval_reporter(small_eval())->render(Format::kHtml);
    FAIL() << "rendered eval results as HTML";
  } catch (const Error& error) {
    EXPECT_STREQ(error.what(), "eval results have no html format (they have table, csv, json)");
  }
  EXPECT_THROW(parse_format("pdf"), Error);
  EXPECT_EQ(parse_format("md"), Format::kMarkdown);
}

}  // namespace
}  // namespace uaqf::report
