#include "plan/trace.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <random>
#include <sstream>

#include <nlohmann/json.hpp>

#include "base/mapped_file.h"

namespace tandem::plan {

double Trace::rate() const {
  double d = duration_s();
  return d > 0 ? double(requests.size()) / d : 0.0;
}

namespace {

// Days since 1970-01-01 of a proleptic Gregorian date (H. Hinnant's algorithm).
int64_t days_from_civil(int64_t y, unsigned m, unsigned d) {
  y -= m <= 2;
  const int64_t era = (y >= 0 ? y : y - 399) / 400;
  const unsigned yoe = static_cast<unsigned>(y - era * 400);
  const unsigned doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
  const unsigned doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
  return era * 146097 + static_cast<int64_t>(doe) - 719468;
}

bool parse_timestamp(const std::string& s, double& out) {
  int y = 0, mo = 0, d = 0, h = 0, mi = 0;
  double sec = 0;
  if (std::sscanf(s.c_str(), "%d-%d-%d %d:%d:%lf", &y, &mo, &d, &h, &mi, &sec) != 6) return false;
  if (mo < 1 || mo > 12 || d < 1 || d > 31) return false;
  out = double(days_from_civil(y, unsigned(mo), unsigned(d))) * 86400.0 + h * 3600.0 + mi * 60.0 + sec;
  return true;
}

void finish(Trace& t) {
  std::stable_sort(t.requests.begin(), t.requests.end(),
                   [](const TraceRequest& a, const TraceRequest& b) { return a.arrival_s < b.arrival_s; });
  if (!t.requests.empty()) {
    const double t0 = t.requests.front().arrival_s;
    for (TraceRequest& r : t.requests) r.arrival_s -= t0;
  }
}

std::string base_name(const std::string& path) {
  auto p = path.find_last_of('/');
  return p == std::string::npos ? path : path.substr(p + 1);
}

}  // namespace

Result<Trace> read_azure_csv(const std::string& path) {
  TANDEM_ASSIGN_OR_RETURN(std::string text, read_file(path));
  Trace t;
  t.name = base_name(path);
  std::istringstream in(text);
  std::string line;
  int64_t lineno = 0;
  while (std::getline(in, line)) {
    ++lineno;
    if (!line.empty() && line.back() == '\r') line.pop_back();
    if (line.empty()) continue;
    if (lineno == 1 && line.rfind("TIMESTAMP", 0) == 0) continue;
    auto c1 = line.find(','), c2 = line.find(',', c1 == std::string::npos ? 0 : c1 + 1);
    if (c1 == std::string::npos || c2 == std::string::npos)
      return invalid_argument(path + ":" + std::to_string(lineno) + ": expected TIMESTAMP,ContextTokens,GeneratedTokens");
    TraceRequest r;
    if (!parse_timestamp(line.substr(0, c1), r.arrival_s))
      return invalid_argument(path + ":" + std::to_string(lineno) + ": bad timestamp '" + line.substr(0, c1) + "'");
    char* end = nullptr;
    long p = std::strtol(line.c_str() + c1 + 1, &end, 10);
    long o = std::strtol(line.c_str() + c2 + 1, &end, 10);
    if (p < 0 || o < 0) return invalid_argument(path + ":" + std::to_string(lineno) + ": negative token count");
    r.prompt_tokens = static_cast<int32_t>(std::max(1L, p));
    r.output_tokens = static_cast<int32_t>(std::max(1L, o));
    t.requests.push_back(std::move(r));
  }
  if (t.requests.empty()) return invalid_argument(path + ": no requests");
  finish(t);
  return t;
}

Result<Trace> read_mooncake_jsonl(const std::string& path) {
  TANDEM_ASSIGN_OR_RETURN(std::string text, read_file(path));
  Trace t;
  t.name = base_name(path);
  std::istringstream in(text);
  std::string line;
  int64_t lineno = 0;
  while (std::getline(in, line)) {
    ++lineno;
    if (line.empty()) continue;
    auto j = nlohmann::json::parse(line, nullptr, false);
    if (j.is_discarded() || !j.contains("timestamp") || !j.contains("input_length") || !j.contains("output_length"))
      return invalid_argument(path + ":" + std::to_string(lineno) + ": expected {timestamp, input_length, output_length, hash_ids}");
    TraceRequest r;
    r.arrival_s = j["timestamp"].get<double>() / 1000.0;
    r.prompt_tokens = std::max<int32_t>(1, j["input_length"].get<int32_t>());
    r.output_tokens = std::max<int32_t>(1, j["output_length"].get<int32_t>());
    if (j.contains("hash_ids") && j["hash_ids"].is_array())
      for (const auto& h : j["hash_ids"]) r.prefix_ids.push_back(h.get<uint32_t>());
    t.requests.push_back(std::move(r));
  }
  if (t.requests.empty()) return invalid_argument(path + ": no requests");
  finish(t);
  return t;
}

Result<Trace> load_trace(const std::string& path) {
  auto ends = [&](const std::string& s) { return path.size() >= s.size() && path.compare(path.size() - s.size(), s.size(), s) == 0; };
  if (ends(".csv")) return read_azure_csv(path);
  if (ends(".jsonl")) return read_mooncake_jsonl(path);
  return invalid_argument(path + ": unknown trace format (expected .csv for Azure or .jsonl for Mooncake)");
}

namespace {

Trace generate(const GeneratorOptions& o, const Trace& lengths, double cv, const char* name) {
  Trace t;
  t.name = name;
  std::mt19937_64 rng(o.seed);
  // Gamma gaps with mean 1/rate and coefficient of variation cv (cv = 1: exponential).
  const double shape = 1.0 / (cv * cv);
  std::gamma_distribution<double> gap(shape, 1.0 / (o.rate * shape));
  std::uniform_int_distribution<size_t> pick(0, lengths.requests.empty() ? 0 : lengths.requests.size() - 1);
  double now = 0;
  while (true) {
    TraceRequest r;
    r.arrival_s = now;
    if (!lengths.requests.empty()) {
      const TraceRequest& s = lengths.requests[pick(rng)];
      r.prompt_tokens = s.prompt_tokens;
      r.output_tokens = s.output_tokens;
    } else {
      r.prompt_tokens = o.prompt_tokens;
      r.output_tokens = o.output_tokens;
    }
    t.requests.push_back(r);
    now += gap(rng);
    if (now >= o.duration_s) break;
  }
  return t;
}

}  // namespace

Trace poisson_trace(const GeneratorOptions& options, const Trace& lengths) {
  return generate(options, lengths, 1.0, "poisson");
}

Trace bursty_trace(const GeneratorOptions& options, const Trace& lengths) {
  return generate(options, lengths, std::max(1e-3, options.burstiness_cv), "bursty");
}

Trace transform_trace(const Trace& trace, const TraceTransform& x) {
  Trace t;
  t.name = trace.name;
  for (const TraceRequest& r : trace.requests) {
    if (r.arrival_s < x.start_s) continue;
    if (x.end_s > 0 && r.arrival_s >= x.end_s) break;
    if (x.limit > 0 && int64_t(t.requests.size()) >= x.limit) break;
    TraceRequest q = r;
    q.arrival_s = (r.arrival_s - x.start_s) / x.rate_scale;
    q.prompt_tokens = std::max<int32_t>(1, int32_t(std::lround(r.prompt_tokens * x.token_scale)));
    q.output_tokens = std::max<int32_t>(1, int32_t(std::lround(r.output_tokens * x.output_scale)));
    if (x.max_prompt > 0) q.prompt_tokens = std::min(q.prompt_tokens, x.max_prompt);
    if (x.max_output > 0) q.output_tokens = std::min(q.output_tokens, x.max_output);
    if (x.token_scale != 1.0) q.prefix_ids.clear();  // block ids no longer line up with tokens
    t.requests.push_back(std::move(q));
  }
  if (!t.requests.empty()) {
    const double t0 = t.requests.front().arrival_s;
    for (TraceRequest& r : t.requests) r.arrival_s -= t0;
  }
  return t;
}

TraceStats trace_stats(const Trace& trace) {
  TraceStats s;
  s.n = int64_t(trace.requests.size());
  if (s.n == 0) return s;
  s.duration_s = trace.duration_s();
  s.rate = trace.rate();
  std::vector<double> p, o;
  for (const TraceRequest& r : trace.requests) {
    p.push_back(r.prompt_tokens);
    o.push_back(r.output_tokens);
    s.mean_prompt += r.prompt_tokens;
    s.mean_output += r.output_tokens;
  }
  s.mean_prompt /= double(s.n);
  s.mean_output /= double(s.n);
  std::sort(p.begin(), p.end());
  std::sort(o.begin(), o.end());
  auto q = [](const std::vector<double>& v, double f) { return v[std::min(v.size() - 1, size_t(f * double(v.size())))]; };
  s.p50_prompt = q(p, 0.5);
  s.p90_prompt = q(p, 0.9);
  s.p50_output = q(o, 0.5);
  s.p90_output = q(o, 0.9);
  return s;
}

}  // namespace tandem::plan
