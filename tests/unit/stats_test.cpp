#include "stats/summary.h"

#include <cmath>
#include <limits>
#include <stdexcept>
#include <vector>

#include <gtest/gtest.h>

using uaqf::stats::percentile;
using uaqf::stats::stability_warnings;
using uaqf::stats::student_t_quantile;
using uaqf::stats::summarize;
using uaqf::stats::Summary;

TEST(Summary, KnownSample) {
  const std::vector<double> samples{2, 4, 4, 4, 5, 5, 7, 9};
  const Summary s = summarize(samples);
  EXPECT_EQ(s.n, 8u);
  EXPECT_NEAR(s.mean, 5.0, 1e-12);    // 40 / 8
  EXPECT_NEAR(s.median, 4.5, 1e-12);  // rank 0.5*7 = 3.5 -> (4 + 5) / 2
  EXPECT_NEAR(s.min, 2.0, 1e-12);
  EXPECT_NEAR(s.max, 9.0, 1e-12);
  EXPECT_NEAR(s.p90, 7.6, 1e-12);   // rank 0.9*7 = 6.3 -> 7 + 0.3*(9-7)
  EXPECT_NEAR(s.p99, 8.86, 1e-12);  // rank 0.99*7 = 6.93 -> 7 + 0.93*(9-7)
  ASSERT_TRUE(s.stddev && s.sem && s.cv && s.ci95_low && s.ci95_high);
  // squared deviations 9+1+1+1+0+0+4+16 = 32; sd = sqrt(32/7)
  EXPECT_NEAR(*s.stddev, 2.138089935299395, 1e-12);
  EXPECT_NEAR(*s.sem, 0.7559289460184544, 1e-12);  // sqrt(32/7)/sqrt(8) = sqrt(4/7)
  EXPECT_NEAR(*s.cv, 0.427617987059879, 1e-12);    // 2.138089935 / 5
  // half width = t(0.975, 7) * sem = 2.364624252 * 0.755928946 = 1.787487918
  EXPECT_NEAR(*s.ci95_low, 3.212512082, 1e-8);   // 5 - 1.787487918
  EXPECT_NEAR(*s.ci95_high, 6.787487918, 1e-8);  // 5 + 1.787487918
}

TEST(Summary, SingleSampleHasNoSpread) {
  const std::vector<double> samples{3.25};
  const Summary s = summarize(samples);
  EXPECT_EQ(s.n, 1u);
  EXPECT_DOUBLE_EQ(s.mean, 3.25);
  EXPECT_DOUBLE_EQ(s.median, 3.25);
  EXPECT_DOUBLE_EQ(s.min, 3.25);
  EXPECT_DOUBLE_EQ(s.max, 3.25);
  EXPECT_DOUBLE_EQ(s.p90, 3.25);
  EXPECT_DOUBLE_EQ(s.p99, 3.25);
  EXPECT_FALSE(s.stddev);
  EXPECT_FALSE(s.sem);
  EXPECT_FALSE(s.cv);
  EXPECT_FALSE(s.ci95_low);
  EXPECT_FALSE(s.ci95_high);
}

TEST(Summary, ConstantSamplesCollapse) {
  // 0.1 is not exactly representable, so a naive sum/n mean would drift from it.
  const std::vector<double> samples{0.1, 0.1, 0.1, 0.1, 0.1};
  const Summary s = summarize(samples);
  EXPECT_DOUBLE_EQ(s.mean, 0.1);
  ASSERT_TRUE(s.stddev && s.cv && s.ci95_low && s.ci95_high);
  EXPECT_NEAR(*s.stddev, 0.0, 1e-15);
  EXPECT_NEAR(*s.cv, 0.0, 1e-15);
  EXPECT_NEAR(*s.ci95_low, 0.1, 1e-15);
  EXPECT_NEAR(*s.ci95_high, 0.1, 1e-15);
}

TEST(Summary, ZeroMeanHasNoCv) {
  const std::vector<double> samples{-1, 1};
  const Summary s = summarize(samples);
  EXPECT_NEAR(s.mean, 0.0, 1e-15);
  ASSERT_TRUE(s.stddev);
  EXPECT_NEAR(*s.stddev, 1.414213562373095, 1e-12);  // sqrt((1 + 1) / 1)
  EXPECT_FALSE(s.cv);
}

TEST(Summary, PercentileInterpolation) {
  const std::vector<double> samples{4, 1, 3, 2};      // unsorted on purpose
  EXPECT_NEAR(percentile(samples, 90), 3.7, 1e-12);   // rank 0.9*3 = 2.7 -> 3 + 0.7*(4-3)
  EXPECT_NEAR(percentile(samples, 50), 2.5, 1e-12);   // rank 1.5 -> (2 + 3) / 2
  EXPECT_NEAR(percentile(samples, 25), 1.75, 1e-12);  // rank 0.75 -> 1 + 0.75*(2-1)
  EXPECT_DOUBLE_EQ(percentile(samples, 0), 1.0);
  EXPECT_DOUBLE_EQ(percentile(samples, 100), 4.0);
  const std::vector<double> single{42};
  EXPECT_DOUBLE_EQ(percentile(single, 0), 42.0);
  EXPECT_DOUBLE_EQ(percentile(single, 37.5), 42.0);
  EXPECT_DOUBLE_EQ(percentile(single, 100), 42.0);
}

TEST(Summary, StudentTQuantileMatchesTables) {
  EXPECT_NEAR(student_t_quantile(0.975, 1), 12.7062, 1e-4);
  EXPECT_NEAR(student_t_quantile(0.975, 4), 2.7764, 1e-4);
  EXPECT_NEAR(student_t_quantile(0.975, 7), 2.364624, 1e-6);
  EXPECT_NEAR(student_t_quantile(0.975, 30), 2.0423, 1e-4);
  // Approaches the normal quantile 1.959964; the 1/dof correction is ~2.4e-6 at dof 1e6.
  EXPECT_NEAR(student_t_quantile(0.975, 1e6), 1.95996, 1e-5);
  EXPECT_NEAR(student_t_quantile(0.5, 10), 0.0, 1e-12);
  EXPECT_NEAR(student_t_quantile(0.025, 4), -2.7764, 1e-4);  // symmetric
}

TEST(Summary, RejectsInvalidInput) {
  const std::vector<double> empty;
  EXPECT_THROW(summarize(empty), std::invalid_argument);
  EXPECT_THROW(percentile(empty, 50), std::invalid_argument);

  const std::vector<double> with_nan{1, 2, std::numeric_limits<double>::quiet_NaN()};
  try {
    summarize(with_nan);
    FAIL() << "expected std::invalid_argument";
  } catch (const std::invalid_argument& error) {
    EXPECT_NE(std::string(error.what()).find("sample 2"), std::string::npos) << error.what();
  }
  const std::vector<double> with_infinity{std::numeric_limits<double>::infinity()};
  EXPECT_THROW(summarize(with_infinity), std::invalid_argument);

  const std::vector<double> samples{1, 2, 3};
  EXPECT_THROW(percentile(samples, -0.1), std::invalid_argument);
  EXPECT_THROW(percentile(samples, 100.1), std::invalid_argument);
  EXPECT_THROW(percentile(samples, std::nan("")), std::invalid_argument);

  EXPECT_THROW(student_t_quantile(0.975, 0), std::invalid_argument);
  EXPECT_THROW(student_t_quantile(0.975, -3), std::invalid_argument);
  EXPECT_THROW(student_t_quantile(0.0, 5), std::invalid_argument);
  EXPECT_THROW(student_t_quantile(1.0, 5), std::invalid_argument);
}

TEST(Summary, WarnsAboutTooFewSamples) {
  const std::vector<double> samples{10, 10.01};
  const auto warnings = stability_warnings(summarize(samples));
  ASSERT_EQ(warnings.size(), 1u);
  EXPECT_EQ(warnings[0], "only 2 samples: too few for a reliable spread; use more repetitions");
}

TEST(Summary, WarnsAboutHighCv) {
  Summary s;
  s.n = 10;
  s.cv = 0.073;
  const auto warnings = stability_warnings(s);
  ASSERT_EQ(warnings.size(), 1u);
  EXPECT_EQ(warnings[0], "CV 7.3% exceeds 5.0%: measurement unstable (quiet the machine or add repetitions)");

  // mean 100, deviations -10, 0, +10, 0 -> sd = sqrt(200/3) = 8.165, CV 8.2%
  const std::vector<double> noisy{90, 100, 110, 100};
  const auto noisy_warnings = stability_warnings(summarize(noisy), 0.02);
  ASSERT_EQ(noisy_warnings.size(), 1u);
  EXPECT_NE(noisy_warnings[0].find("CV 8.2%"), std::string::npos) << noisy_warnings[0];
  EXPECT_NE(noisy_warnings[0].find("exceeds 2.0%"), std::string::npos) << noisy_warnings[0];
}

TEST(Summary, NoWarningForTightSample) {
  // mean 100, squared deviations 0+1+1+0+0 = 2 -> sd = sqrt(2/4) = 0.707, CV 0.7%
  const std::vector<double> samples{100, 101, 99, 100, 100};
  EXPECT_TRUE(stability_warnings(summarize(samples)).empty());
}
