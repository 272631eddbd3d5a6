// Prometheus text exposition (format 0.0.4): cumulative histograms, and a
// writer for counters, gauges and histograms with HELP and TYPE lines.
// Not thread-safe: the server touches them on its I/O thread only.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace tandem::server {

class Histogram {
 public:
  explicit Histogram(std::vector<double> upper_bounds);  // increasing; +Inf is implicit
  void observe(double value);
  const std::vector<double>& bounds() const { return bounds_; }
  const std::vector<int64_t>& counts() const { return counts_; }  // per bucket, not cumulative; last = +Inf
  int64_t count() const { return count_; }
  double sum() const { return sum_; }
  // The upper bound of the bucket holding the q-quantile (q in [0, 1]); +Inf as infinity.
  double quantile_bound(double q) const;

 private:
  std::vector<double> bounds_;
  std::vector<int64_t> counts_;
  int64_t count_ = 0;
  double sum_ = 0;
};

class PrometheusWriter {
 public:
  void counter(std::string_view name, std::string_view help, double value);
  void gauge(std::string_view name, std::string_view help, double value);
  void histogram(std::string_view name, std::string_view help, const Histogram& h);
  // A metric family with one labelled sample per (label value, value).
  void labelled(std::string_view name, std::string_view type, std::string_view help, std::string_view label,
                const std::vector<std::pair<std::string, double>>& samples);
  const std::string& text() const { return out_; }

 private:
  void head(std::string_view name, std::string_view type, std::string_view help);
  std::string out_;
};

// A value as Prometheus writes it: integers without a fraction, +Inf, NaN.
std::string prometheus_number(double v);

}  // namespace tandem::server
