// The load generator behind `tandem bench serve`: reads production traces
// (Azure LLM inference CSV, Mooncake JSONL), scales them to a small model and
// machine, replays them against an OpenAI-compatible server with streaming
// requests on one epoll loop (thousands of concurrent streams, no thread
// each), and summarizes throughput, TTFT / TPOT percentiles, SLO attainment
// and goodput.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "base/status.h"

namespace tandem::server {

struct TraceRow {
  double arrival_s = 0;  // since the trace's first row
  int64_t prompt_tokens = 0;
  int64_t output_tokens = 0;
  std::vector<int64_t> hash_ids;  // Mooncake: one id per 512-token prompt block (shared prefixes)
};

// Azure CSV (TIMESTAMP,ContextTokens,GeneratedTokens) or Mooncake JSONL
// ({"timestamp" ms, "input_length", "output_length", "hash_ids"}), told
// apart by content. At most max_rows rows (0 = all), sorted by arrival.
Result<std::vector<TraceRow>> read_trace(const std::string& path, size_t max_rows);

// How a trace is fitted to a small model and machine (`--scale`, keys
// comma-separated): time=F multiplies inter-arrival times; rate=R instead
// sets the mean arrival rate to R requests/s; prompt=F and output=F
// multiply lengths, len=F both, len=auto picks F so the trace's 99th
// percentile of prompt+output fits half the context. Every request is then
// clipped to at least 1 prompt and 1 output token and prompt+output <= context.
struct TraceScale {
  double time = 1.0;
  double rate = 0;           // 0: use time
  double prompt = -1;        // -1: from len
  double output = -1;
  double len = -1;           // -1: auto
};
Result<TraceScale> parse_scale(const std::string& spec);

// One request to send.
struct LoadRequest {
  double send_at_s = 0;  // open loop: seconds after the start
  std::vector<int32_t> prompt;  // token ids
  int32_t max_tokens = 1;
};

struct ScaledTrace {
  std::vector<LoadRequest> requests;
  std::string description;  // how it was scaled, for the report
};
// Token ids of prompts are synthetic (the traces carry lengths only), drawn
// from [first_token, first_token + n_token_ids); Mooncake blocks with equal
// hash ids get equal tokens, so prefix sharing is reproduced.
ScaledTrace scale_trace(const std::vector<TraceRow>& rows, const TraceScale& scale, int32_t context,
                        int32_t first_token = 16, int32_t n_token_ids = 368);

struct RequestResult {
  int status = 0;        // HTTP status, 0 if no response (connection error)
  bool ok = false;       // 200 and a complete stream ([DONE])
  std::string error;
  double start_s = 0;    // since the run's start
  double ttft_s = 0;     // first content chunk
  double e2e_s = 0;      // last byte
  int32_t output_tokens = 0;  // usage.completion_tokens
  int32_t prompt_tokens = 0;
  int32_t cached_tokens = 0;
  double tpot_s() const { return output_tokens > 1 ? (e2e_s - ttft_s) / (output_tokens - 1) : 0.0; }
};

struct LoadOptions {
  std::string host = "127.0.0.1";
  int port = 8080;
  std::string model;      // the id the server serves
  int concurrency = 0;    // > 0: closed loop, this many in flight, send_at ignored; 0: open loop
  double timeout_s = 600; // per request
  bool ignore_eos = true; // generate exactly max_tokens
  double temperature = 0;
};

// Sends every request (streaming /v1/completions) and waits for all.
Result<std::vector<RequestResult>> run_load(const LoadOptions& options, const std::vector<LoadRequest>& requests,
                                            double* wall_s);

struct Slo {
  double ttft_s = 0;  // 0 = no bound
  double tpot_s = 0;
};
// "ttft_p90=2,tpot_p90=0.2" (seconds; "ms" suffix for milliseconds).
Result<Slo> parse_slo(const std::string& spec);

struct Percentiles {
  double p50 = 0, p90 = 0, p99 = 0;
};
Percentiles percentiles(std::vector<double> values);

struct LoadSummary {
  int64_t sent = 0, ok = 0, rejected = 0, failed = 0;  // rejected: 429 / 503
  double wall_s = 0;
  double request_rate = 0;       // ok requests / s
  double output_tokens_per_s = 0;
  double total_tokens_per_s = 0;  // prompt + output
  Percentiles ttft, tpot, e2e;
  double slo_attainment = 0;  // fraction of sent requests that were ok and met every bound
  double goodput = 0;         // such requests / s
  bool ttft_p90_met = true, tpot_p90_met = true;
};
LoadSummary summarize(const std::vector<RequestResult>& results, double wall_s, const Slo& slo);

// Blocking GET of host:port/v1/models: the first model's id and max_model_len.
Status query_model(const std::string& host, int port, std::string* id, int32_t* context);

// Splits "http://host:port" into host and port.
Status parse_url(const std::string& url, std::string* host, int* port);

}  // namespace tandem::server
