#include <gtest/gtest.h>

#include "stats/robust.h"

namespace uaqf::stats {
namespace {

TEST(Robust, ModifiedZScoresByHand) {
  // median 3, |deviations| {2,1,0,1,97} -> MAD 1; z = 0.6745 * (x - 3) / 1.
  const std::vector<double> x{1, 2, 3, 4, 100};
  const auto z = modified_z_scores(x);
  EXPECT_NEAR(z[0], -1.349, 1e-9);
  EXPECT_NEAR(z[4], 0.6745 * 97, 1e-9);
  EXPECT_EQ(mad_outliers(x), (std::vector<std::size_t>{4}));
}

TEST(Robust, ZeroMadMeansNoOutliers) {
  const std::vector<double> x{5, 5, 5, 9};
  EXPECT_TRUE(mad_outliers(x).empty());
}

TEST(Robust, LeadingWarmupIsASlowStart) {
  // Two slow first runs, then steady: median 100, MAD 1.
  const std::vector<double> x{60, 70, 100, 101, 99, 100, 101, 99};
  EXPECT_EQ(leading_warmup(x), 2U);
  // An outlier in the middle is not warm-up.
  const std::vector<double> y{100, 101, 60, 99, 100, 101};
  EXPECT_EQ(leading_warmup(y), 0U);
  // Never more than half the samples.
  const std::vector<double> z{1, 1000, 1000};
  EXPECT_LE(leading_warmup(z), 1U);
}

TEST(Robust, BootstrapIsSeededAndBracketsTheStatistic) {
  const std::vector<double> x{10, 11, 9, 10.5, 9.5, 10.2, 9.8};
  const auto a = bootstrap_interval(x, Statistic::kMean, 500, 7);
  const auto b = bootstrap_interval(x, Statistic::kMean, 500, 7);
  EXPECT_DOUBLE_EQ(a.low, b.low);
  EXPECT_DOUBLE_EQ(a.high, b.high);
  EXPECT_LT(a.low, 10.0);
  EXPECT_GT(a.high, 10.0);
  const auto constant = bootstrap_interval(std::vector<double>{4, 4, 4}, Statistic::kMedian, 100, 1);
  EXPECT_DOUBLE_EQ(constant.low, 4.0);
  EXPECT_DOUBLE_EQ(constant.high, 4.0);
  const auto single = bootstrap_interval(std::vector<double>{3}, Statistic::kMean, 100, 1);
  EXPECT_DOUBLE_EQ(single.low, 3.0);
  EXPECT_THROW(bootstrap_interval(std::vector<double>{}, Statistic::kMean, 100, 1), std::invalid_argument);
}

}  // namespace
}  // namespace uaqf::stats
