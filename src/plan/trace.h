// Request arrival traces: readers for the Azure LLM inference trace (CSV)
// and Mooncake (JSONL), generators (Poisson, bursty), and the slicing and
// scaling used to replay a production trace against a smaller model.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "base/status.h"

namespace tandem::plan {

struct TraceRequest {
  double arrival_s = 0;        // from the start of the trace
  int32_t prompt_tokens = 0;   // >= 1
  int32_t output_tokens = 0;   // >= 1
  // Mooncake: one id per kMooncakeBlockTokens-token block of the prompt;
  // equal ids mean equal prefixes (empty: no sharing known).
  std::vector<uint32_t> prefix_ids;
};

inline constexpr int32_t kMooncakeBlockTokens = 512;

struct Trace {
  std::string name;
  std::vector<TraceRequest> requests;  // sorted by arrival
  double duration_s() const { return requests.empty() ? 0 : requests.back().arrival_s - requests.front().arrival_s; }
  double rate() const;  // requests per second over the duration
};

// Azure LLM inference trace 2023: TIMESTAMP,ContextTokens,GeneratedTokens,
// timestamps "YYYY-MM-DD hh:mm:ss.fffffff". Arrivals are relative to the
// first row. Rows with 0 tokens get 1 (the model still runs one step).
Result<Trace> read_azure_csv(const std::string& path);
// Mooncake: {"timestamp": ms, "input_length", "output_length", "hash_ids"}.
Result<Trace> read_mooncake_jsonl(const std::string& path);
// By extension: .csv -> Azure, .jsonl -> Mooncake.
Result<Trace> load_trace(const std::string& path);

// Generators. Lengths are drawn from `lengths` (resampled with replacement)
// when it has requests, else fixed at prompt_tokens / output_tokens.
struct GeneratorOptions {
  double rate = 1.0;        // mean requests per second
  double duration_s = 60;
  int32_t prompt_tokens = 512;
  int32_t output_tokens = 128;
  double burstiness_cv = 3.0;  // bursty: coefficient of variation of inter-arrival gaps (Gamma); 1 = Poisson
  uint64_t seed = 1;
};
Trace poisson_trace(const GeneratorOptions& options, const Trace& lengths);
Trace bursty_trace(const GeneratorOptions& options, const Trace& lengths);

// Replay transformations, applied in the order of the fields.
struct TraceTransform {
  double start_s = 0;          // keep arrivals in [start_s, end_s) (end 0: to the end), re-based to 0
  double end_s = 0;
  int64_t limit = 0;           // keep the first `limit` requests (0: all)
  double rate_scale = 1.0;     // arrivals happen rate_scale times faster
  double token_scale = 1.0;    // prompt lengths x token_scale (rounded, >= 1)
  double output_scale = 1.0;   // output lengths x output_scale (rounded, >= 1)
  int32_t max_prompt = 0;      // clamp (0: none)
  int32_t max_output = 0;
};
Trace transform_trace(const Trace& trace, const TraceTransform& t);

struct TraceStats {
  int64_t n = 0;
  double duration_s = 0, rate = 0;
  double mean_prompt = 0, mean_output = 0;
  double p50_prompt = 0, p90_prompt = 0, p50_output = 0, p90_output = 0;
};
TraceStats trace_stats(const Trace& trace);

}  // namespace tandem::plan
