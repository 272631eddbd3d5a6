#include "server/metrics.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <limits>

#include "base/check.h"

namespace tandem::server {

Histogram::Histogram(std::vector<double> upper_bounds) : bounds_(std::move(upper_bounds)) {
  TANDEM_CHECK(std::is_sorted(bounds_.begin(), bounds_.end()), "histogram bounds must increase");
  counts_.assign(bounds_.size() + 1, 0);
}

void Histogram::observe(double value) {
  const size_t i = static_cast<size_t>(std::lower_bound(bounds_.begin(), bounds_.end(), value) - bounds_.begin());
  ++counts_[i];
  ++count_;
  sum_ += value;
}

double Histogram::quantile_bound(double q) const {
  if (count_ == 0) return std::numeric_limits<double>::quiet_NaN();
  const double target = q * static_cast<double>(count_);
  int64_t cum = 0;
  for (size_t i = 0; i < counts_.size(); ++i) {
    cum += counts_[i];
    if (static_cast<double>(cum) >= target && cum > 0)
      return i < bounds_.size() ? bounds_[i] : std::numeric_limits<double>::infinity();
  }
  return std::numeric_limits<double>::infinity();
}

std::string prometheus_number(double v) {
  if (std::isnan(v)) return "NaN";
  if (std::isinf(v)) return v > 0 ? "+Inf" : "-Inf";
  char buf[40];
  if (v == std::floor(v) && std::fabs(v) < 1e15)
    std::snprintf(buf, sizeof buf, "%.0f", v);
  else
    std::snprintf(buf, sizeof buf, "%.9g", v);
  return buf;
}

void PrometheusWriter::head(std::string_view name, std::string_view type, std::string_view help) {
  out_ += "# HELP ";
  out_ += name;
  out_ += ' ';
  out_ += help;
  out_ += "\n# TYPE ";
  out_ += name;
  out_ += ' ';
  out_ += type;
  out_ += '\n';
}

void PrometheusWriter::counter(std::string_view name, std::string_view help, double value) {
  head(name, "counter", help);
  out_ += name;
  out_ += ' ' + prometheus_number(value) + '\n';
}

void PrometheusWriter::gauge(std::string_view name, std::string_view help, double value) {
  head(name, "gauge", help);
  out_ += name;
  out_ += ' ' + prometheus_number(value) + '\n';
}

void PrometheusWriter::histogram(std::string_view name, std::string_view help, const Histogram& h) {
  head(name, "histogram", help);
  int64_t cum = 0;
  for (size_t i = 0; i <= h.bounds().size(); ++i) {
    cum += h.counts()[i];
    out_ += name;
    out_ += "_bucket{le=\"";
    out_ += i < h.bounds().size() ? prometheus_number(h.bounds()[i]) : "+Inf";
    out_ += "\"} " + prometheus_number(static_cast<double>(cum)) + '\n';
  }
  out_ += name;
  out_ += "_sum " + prometheus_number(h.sum()) + '\n';
  out_ += name;
  out_ += "_count " + prometheus_number(static_cast<double>(h.count())) + '\n';
}

void PrometheusWriter::labelled(std::string_view name, std::string_view type, std::string_view help,
                                std::string_view label,
                                const std::vector<std::pair<std::string, double>>& samples) {
  head(name, type, help);
  for (const auto& [value, v] : samples) {
    out_ += name;
    out_ += '{';
    out_ += label;
    out_ += "=\"" + value + "\"} " + prometheus_number(v) + '\n';
  }
}

}  // namespace tandem::server
