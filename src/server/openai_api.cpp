#include "server/openai_api.h"

#include <cmath>
#include <limits>

namespace tandem::server {

using nlohmann::json;

std::string dump(const json& j) { return j.dump(-1, ' ', false, json::error_handler_t::replace); }

json stream_chunk_json(const ChunkHeader& h, int32_t i, const json& payload, const json* logprobs,
                       const char* finish) {
  json choice;
  choice["index"] = i;
  if (h.endpoint == Endpoint::kChat)
    choice["delta"] = payload;
  else
    choice["text"] = payload.value("text", "");
  choice["logprobs"] = logprobs ? *logprobs : json(nullptr);
  choice["finish_reason"] = finish ? json(finish) : json(nullptr);
  json j = {{"id", h.id},
            {"object", h.endpoint == Endpoint::kChat ? "chat.completion.chunk" : "text_completion"},
            {"created", h.created},
            {"model", h.model},
            {"choices", json::array({choice})}};
  if (h.include_usage) j["usage"] = nullptr;
  return j;
}

// nlohmann's objects keep their keys sorted, so the chunk reads
//   {"choices":[CHOICE],"created":..,"id":..,"model":..,"object":..[,"usage":null]}
// with CHOICE {"delta":{"content":T},"finish_reason":null,"index":i,"logprobs":null}
// (chat) or {"finish_reason":null,"index":i,"logprobs":null,"text":T}.
TextChunkWriter::TextChunkWriter(const ChunkHeader& h) : chat_(h.endpoint == Endpoint::kChat) {
  json rest = {{"id", h.id},
               {"object", chat_ ? "chat.completion.chunk" : "text_completion"},
               {"created", h.created},
               {"model", h.model}};
  if (h.include_usage) rest["usage"] = nullptr;
  const std::string r = dump(rest);  // {"created":..,...}
  tail_ = "}]," + r.substr(1) + "\n\n";
}

std::string TextChunkWriter::event(int32_t i, std::string_view text) const {
  const std::string t = dump(json(std::string(text)));
  const std::string idx = std::to_string(i);
  std::string out;
  out.reserve(96 + t.size() + tail_.size());
  if (chat_) {
    out += "data: {\"choices\":[{\"delta\":{\"content\":";
    out += t;
    out += "},\"finish_reason\":null,\"index\":";
    out += idx;
    out += ",\"logprobs\":null";
  } else {
    out += "data: {\"choices\":[{\"finish_reason\":null,\"index\":";
    out += idx;
    out += ",\"logprobs\":null,\"text\":";
    out += t;
  }
  out += tail_;
  return out;
}

std::string to_json(const ApiError& e) {
  json o;
  o["message"] = e.message;
  o["type"] = e.type;
  o["param"] = e.param.empty() ? json(nullptr) : json(e.param);
  o["code"] = e.code.empty() ? json(nullptr) : json(e.code);
  json j;
  j["error"] = std::move(o);
  return dump(j);
}

namespace {

ApiError bad(std::string param, std::string message, std::string code = {}) {
  ApiError e;
  e.status = 400;
  e.message = std::move(message);
  e.param = std::move(param);
  e.code = std::move(code);
  return e;
}

const char* type_name(const json& v) {
  switch (v.type()) {
    case json::value_t::null: return "null";
    case json::value_t::boolean: return "a boolean";
    case json::value_t::string: return "a string";
    case json::value_t::array: return "an array";
    case json::value_t::object: return "an object";
    case json::value_t::number_float: return "a number";
    default: return "an integer";
  }
}

// Field readers: nullopt when absent or null (= default); an ApiError when
// present with the wrong type or out of range.
struct Reader {
  const json& obj;
  std::optional<ApiError> error;

  const json* get(const char* name) {
    auto it = obj.find(name);
    if (it == obj.end() || it->is_null()) return nullptr;
    return &*it;
  }
  void type_error(const char* name, const char* want, const json& v) {
    if (!error) error = bad(name, std::string("'") + name + "' must be " + want + ", got " + type_name(v));
  }
  void range_error(const char* name, const std::string& range) {
    if (!error) error = bad(name, std::string("'") + name + "' must be " + range);
  }
  std::optional<double> number(const char* name, double lo, double hi, const char* range) {
    const json* v = get(name);
    if (!v) return std::nullopt;
    if (!v->is_number()) {
      type_error(name, "a number", *v);
      return std::nullopt;
    }
    const double x = v->get<double>();
    if (!(x >= lo && x <= hi)) {
      range_error(name, range);
      return std::nullopt;
    }
    return x;
  }
  std::optional<int64_t> integer(const char* name, int64_t lo, int64_t hi, const std::string& range) {
    const json* v = get(name);
    if (!v) return std::nullopt;
    int64_t x = 0;
    if (v->is_number_integer()) {
      if (v->is_number_unsigned() && v->get<uint64_t>() > static_cast<uint64_t>(INT64_MAX)) {
        range_error(name, range);
        return std::nullopt;
      }
      x = v->get<int64_t>();
    } else if (v->is_number_float() && std::isfinite(v->get<double>()) &&
               v->get<double>() == std::floor(v->get<double>()) && std::fabs(v->get<double>()) < 9e15) {
      x = static_cast<int64_t>(v->get<double>());  // 5.0 is an integer in JSON's eyes
    } else {
      type_error(name, "an integer", *v);
      return std::nullopt;
    }
    if (x < lo || x > hi) {
      range_error(name, range);
      return std::nullopt;
    }
    return x;
  }
  std::optional<bool> boolean(const char* name) {
    const json* v = get(name);
    if (!v) return std::nullopt;
    if (!v->is_boolean()) {
      type_error(name, "a boolean", *v);
      return std::nullopt;
    }
    return v->get<bool>();
  }
};

// Chat content: a string, or an array of {"type": "text", "text": ...} parts.
std::optional<std::string> message_content(const json& c, std::optional<ApiError>& error) {
  if (c.is_null()) return std::string();
  if (c.is_string()) return c.get<std::string>();
  if (c.is_array()) {
    std::string out;
    for (const json& part : c) {
      if (!part.is_object() || !part.contains("type") || part["type"] != "text" || !part.contains("text") ||
          !part["text"].is_string()) {
        error = bad("messages", "only text content parts ({\"type\": \"text\", \"text\": ...}) are supported");
        return std::nullopt;
      }
      out += part["text"].get<std::string>();
    }
    return out;
  }
  error = bad("messages", std::string("message content must be a string or an array of text parts, got ") +
                              type_name(c));
  return std::nullopt;
}

}  // namespace

std::variant<CompletionParams, ApiError> parse_completion_request(std::string_view body, Endpoint endpoint) {
  json j = json::parse(body, nullptr, /*allow_exceptions=*/false);
  if (j.is_discarded())
    return bad({}, "the request body is not valid JSON", "invalid_json");
  if (!j.is_object()) return bad({}, std::string("the request body must be a JSON object, got ") + type_name(j));
  CompletionParams p;
  p.endpoint = endpoint;
  Reader r{j, std::nullopt};

  const json* model = r.get("model");
  if (!model) return bad("model", "'model' is required");
  if (!model->is_string()) return bad("model", std::string("'model' must be a string, got ") + type_name(*model));
  p.model = model->get<std::string>();

  if (endpoint == Endpoint::kChat) {
    const json* msgs = r.get("messages");
    if (!msgs) return bad("messages", "'messages' is required");
    if (!msgs->is_array() || msgs->empty())
      return bad("messages", "'messages' must be a non-empty array of {role, content} objects");
    for (const json& m : *msgs) {
      if (!m.is_object() || !m.contains("role") || !m["role"].is_string())
        return bad("messages", "each message must be an object with a string 'role'");
      const std::string role = m["role"].get<std::string>();
      if (role != "system" && role != "user" && role != "assistant" && role != "developer" && role != "tool")
        return bad("messages", "unknown message role '" + role + "'");
      std::optional<ApiError> err;
      auto content = message_content(m.contains("content") ? m["content"] : json(nullptr), err);
      if (!content) return *err;
      p.messages.push_back({role == "developer" ? "system" : role, *content});
    }
  } else {
    const json* prompt = r.get("prompt");
    if (!prompt) return bad("prompt", "'prompt' is required");
    const json* one = prompt;
    if (prompt->is_array() && prompt->size() == 1 && ((*prompt)[0].is_string() || (*prompt)[0].is_array()))
      one = &(*prompt)[0];  // a batch of one prompt
    if (one->is_string()) {
      p.prompt_text = one->get<std::string>();
    } else if (one->is_array() && !one->empty() && (*one)[0].is_number_integer()) {
      for (const json& t : *one) {
        if (!t.is_number_integer() || t.get<int64_t>() < 0 || t.get<int64_t>() > INT32_MAX)
          return bad("prompt", "a token-id prompt must be an array of non-negative integers");
        p.prompt_tokens.push_back(static_cast<int32_t>(t.get<int64_t>()));
      }
      p.prompt_is_tokens = true;
    } else if (prompt->is_array() && prompt->size() > 1) {
      return bad("prompt", "only one prompt per request is supported; send several requests or use 'n'");
    } else {
      return bad("prompt", std::string("'prompt' must be a string or an array of token ids, got ") +
                               type_name(*one));
    }
  }

  // max_completion_tokens is the newer chat name; max_tokens wins if both.
  if (auto v = r.integer("max_completion_tokens", 1, 1 << 24, "an integer >= 1")) p.max_tokens = static_cast<int32_t>(*v);
  if (auto v = r.integer("max_tokens", 1, 1 << 24, "an integer >= 1")) p.max_tokens = static_cast<int32_t>(*v);
  if (auto v = r.number("temperature", 0, 2, "in [0, 2]")) p.temperature = static_cast<float>(*v);
  if (auto v = r.number("top_p", 0, 1, "in (0, 1]")) {
    if (*v <= 0) r.range_error("top_p", "in (0, 1]");
    p.top_p = static_cast<float>(*v);
  }
  if (auto v = r.integer("top_k", -1, 1 << 20, "-1 (off) or a positive integer")) p.top_k = static_cast<int32_t>(std::max<int64_t>(0, *v));
  if (auto v = r.number("min_p", 0, 1, "in [0, 1]")) p.min_p = static_cast<float>(*v);
  if (auto v = r.number("presence_penalty", -2, 2, "in [-2, 2]")) p.presence_penalty = static_cast<float>(*v);
  if (auto v = r.number("frequency_penalty", -2, 2, "in [-2, 2]")) p.frequency_penalty = static_cast<float>(*v);
  if (auto v = r.number("repetition_penalty", 0, 10, "in (0, 10]")) {
    if (*v <= 0) r.range_error("repetition_penalty", "in (0, 10]");
    p.repetition_penalty = static_cast<float>(*v);
  }
  if (auto v = r.integer("n", 1, kMaxChoices, "in [1, " + std::to_string(kMaxChoices) + "]")) p.n = static_cast<int32_t>(*v);
  if (auto v = r.integer("seed", INT64_MIN, INT64_MAX, "a 64-bit integer")) p.seed = *v;
  if (auto v = r.boolean("stream")) p.stream = *v;
  if (auto v = r.boolean("ignore_eos")) p.ignore_eos = *v;
  if (const json* so = r.get("stream_options")) {
    if (!so->is_object()) {
      r.type_error("stream_options", "an object", *so);
    } else {
      Reader sr{*so, std::nullopt};
      if (auto v = sr.boolean("include_usage")) p.include_usage = *v;
      if (sr.error) r.error = sr.error;
    }
  }
  if (const json* stop = r.get("stop")) {
    if (stop->is_string()) {
      p.stop.push_back(stop->get<std::string>());
    } else if (stop->is_array()) {
      for (const json& s : *stop) {
        if (!s.is_string()) {
          r.type_error("stop", "a string or an array of strings", *stop);
          break;
        }
        p.stop.push_back(s.get<std::string>());
      }
    } else {
      r.type_error("stop", "a string or an array of strings", *stop);
    }
    if (p.stop.size() > kMaxStops) r.range_error("stop", "at most " + std::to_string(kMaxStops) + " strings");
    for (const std::string& s : p.stop)
      if (s.empty()) r.range_error("stop", "non-empty strings");
  }
  if (endpoint == Endpoint::kChat) {
    const bool want = r.boolean("logprobs").value_or(false);
    auto top = r.integer("top_logprobs", 0, 20, "in [0, 20]");
    if (top && !want) r.range_error("top_logprobs", "used with 'logprobs': true");
    if (want) p.logprobs = static_cast<int32_t>(top.value_or(0));
  } else if (auto v = r.integer("logprobs", 0, 5, "in [0, 5]")) {
    p.logprobs = static_cast<int32_t>(*v);
  }
  if (r.error) return *r.error;
  return p;
}

namespace {
json bytes_of(const std::string& s) {
  json b = json::array();
  for (unsigned char c : s) b.push_back(static_cast<int>(c));
  return b;
}
}  // namespace

json chat_logprobs_json(const std::vector<LogprobEntry>& entries) {
  json content = json::array();
  for (const LogprobEntry& e : entries) {
    json item;
    item["token"] = e.token;
    item["logprob"] = e.logprob;
    item["bytes"] = bytes_of(e.token);
    json top = json::array();
    for (const auto& [t, lp] : e.top) top.push_back({{"token", t}, {"logprob", lp}, {"bytes", bytes_of(t)}});
    item["top_logprobs"] = std::move(top);
    content.push_back(std::move(item));
  }
  json j;
  j["content"] = std::move(content);
  return j;
}

json completion_logprobs_json(const std::vector<LogprobEntry>& entries, size_t text_offset) {
  json tokens = json::array(), lps = json::array(), tops = json::array(), offsets = json::array();
  for (const LogprobEntry& e : entries) {
    tokens.push_back(e.token);
    lps.push_back(e.logprob);
    json top = json::object();
    for (const auto& [t, lp] : e.top) top[t] = lp;
    tops.push_back(std::move(top));
    offsets.push_back(text_offset);
    text_offset += e.token.size();
  }
  return {{"tokens", tokens}, {"token_logprobs", lps}, {"top_logprobs", tops}, {"text_offset", offsets}};
}

}  // namespace tandem::server
