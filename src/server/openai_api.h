// The OpenAI-compatible request and response bodies of /v1/completions and
// /v1/chat/completions: parsing with range checks (errors carry the HTTP
// status and the OpenAI error object's fields) and the JSON written back.
// No sockets and no engine here.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include <nlohmann/json.hpp>

#include "tokenizer/chat_template.h"

namespace tandem::server {

struct ApiError {
  int status = 400;
  std::string message;
  std::string type = "invalid_request_error";
  std::string param;  // the offending field, or empty
  std::string code;   // machine-readable, or empty
};
std::string to_json(const ApiError& e);

enum class Endpoint { kCompletions, kChat };

struct CompletionParams {
  Endpoint endpoint = Endpoint::kCompletions;
  std::string model;
  // Chat: the messages. Completions: prompt_text, or prompt_tokens when the
  // prompt was given as token ids (prompt_is_tokens).
  std::vector<ChatMessage> messages;
  std::string prompt_text;
  std::vector<int32_t> prompt_tokens;
  bool prompt_is_tokens = false;
  std::optional<int32_t> max_tokens;  // unset: completions 16, chat until the context is full
  float temperature = 1.0f;
  float top_p = 1.0f;
  int32_t top_k = 0;      // extension (vLLM): 0 = off
  float min_p = 0.0f;     // extension (vLLM)
  float presence_penalty = 0.0f;
  float frequency_penalty = 0.0f;
  float repetition_penalty = 1.0f;  // extension (vLLM)
  std::vector<std::string> stop;
  std::optional<int64_t> seed;
  int32_t n = 1;
  bool stream = false;
  bool include_usage = false;  // stream_options.include_usage
  int32_t logprobs = -1;       // -1 off; else number of top alternatives per token
  bool ignore_eos = false;     // extension (vLLM): generate max_tokens whatever EOS says
};

inline constexpr int32_t kMaxChoices = 16;
inline constexpr size_t kMaxStops = 4;

// Parses and range-checks a request body. 400 for malformed JSON, wrong
// types and out-of-range values; the model name is checked by the caller.
std::variant<CompletionParams, ApiError> parse_completion_request(std::string_view body, Endpoint endpoint);

// One generated token's logprob entry (see engine StreamEvent).
struct LogprobEntry {
  std::string token;  // the token's bytes (may be a partial UTF-8 sequence)
  float logprob = 0;
  std::vector<std::pair<std::string, float>> top;
};

// Logprobs objects. Chat: {"content": [{token, logprob, bytes, top_logprobs}]};
// completions: {tokens, token_logprobs, top_logprobs, text_offset}.
nlohmann::json chat_logprobs_json(const std::vector<LogprobEntry>& entries);
nlohmann::json completion_logprobs_json(const std::vector<LogprobEntry>& entries, size_t text_offset);

// nlohmann::json::dump that replaces invalid UTF-8 instead of throwing.
std::string dump(const nlohmann::json& j);

// The fields every streamed chunk of one response repeats.
struct ChunkHeader {
  Endpoint endpoint = Endpoint::kCompletions;
  std::string id;
  int64_t created = 0;
  std::string model;
  bool include_usage = false;  // chunks then carry "usage": null
};

// One streamed chunk object for choice i: chat {"delta": payload}, completions
// {"text": payload["text"]}; logprobs and finish may be null.
nlohmann::json stream_chunk_json(const ChunkHeader& h, int32_t i, const nlohmann::json& payload,
                                 const nlohmann::json* logprobs, const char* finish);

// The SSE event ("data: ...\n\n") of a chunk that carries only text for
// choice i, which is every token of a stream without logprobs: the bytes of
// "data: " + dump(stream_chunk_json(...)) + "\n\n", written straight into a
// string instead of through a JSON tree (the I/O thread builds one per
// token of every stream).
class TextChunkWriter {
 public:
  explicit TextChunkWriter(const ChunkHeader& h);
  std::string event(int32_t i, std::string_view text) const;

 private:
  bool chat_;
  std::string tail_;  // from the end of the choices array to the end of the event
};

}  // namespace tandem::server
