#include "server/metrics.h"

#include <gtest/gtest.h>

#include <cmath>

namespace tandem::server {
namespace {

TEST(Metrics, HistogramIsCumulativeInText) {
  Histogram h({0.1, 1, 10});
  for (double v : {0.05, 0.1, 0.5, 2.0, 20.0}) h.observe(v);
  EXPECT_EQ(h.count(), 5);
  EXPECT_DOUBLE_EQ(h.sum(), 22.65);
  EXPECT_DOUBLE_EQ(h.quantile_bound(0.4), 0.1);
  EXPECT_DOUBLE_EQ(h.quantile_bound(0.6), 1);
  EXPECT_TRUE(std::isinf(h.quantile_bound(1.0)));
  PrometheusWriter w;
  w.histogram("x_seconds", "help text", h);
  w.gauge("g", "a gauge", 3);
  w.labelled("c_total", "counter", "by code", "code", {{"200", 4}, {"429", 1}});
  const std::string t = w.text();
  EXPECT_NE(t.find("# TYPE x_seconds histogram\n"), std::string::npos);
  EXPECT_NE(t.find("x_seconds_bucket{le=\"0.1\"} 2\n"), std::string::npos);  // le is inclusive
  EXPECT_NE(t.find("x_seconds_bucket{le=\"1\"} 3\n"), std::string::npos);
  EXPECT_NE(t.find("x_seconds_bucket{le=\"10\"} 4\n"), std::string::npos);
  EXPECT_NE(t.find("x_seconds_bucket{le=\"+Inf\"} 5\n"), std::string::npos);
  EXPECT_NE(t.find("x_seconds_count 5\n"), std::string::npos);
  EXPECT_NE(t.find("x_seconds_sum 22.65\n"), std::string::npos);
  EXPECT_NE(t.find("# TYPE g gauge\ng 3\n"), std::string::npos);
  EXPECT_NE(t.find("c_total{code=\"429\"} 1\n"), std::string::npos);
}

}  // namespace
}  // namespace tandem::server
