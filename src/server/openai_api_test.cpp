#include "server/openai_api.h"

#include <gtest/gtest.h>

namespace tandem::server {
namespace {

CompletionParams ok(std::string_view body, Endpoint e = Endpoint::kCompletions) {
  auto r = parse_completion_request(body, e);
  if (auto* err = std::get_if<ApiError>(&r)) {
    ADD_FAILURE() << "unexpected error: " << err->message;
    return {};
  }
  return std::get<CompletionParams>(r);
}

ApiError err(std::string_view body, Endpoint e = Endpoint::kCompletions) {
  auto r = parse_completion_request(body, e);
  if (auto* er = std::get_if<ApiError>(&r)) return *er;
  ADD_FAILURE() << "expected an error for " << body;
  return {};
}

TEST(OpenAiApi, ParsesCompletionFields) {
  CompletionParams p = ok(R"({"model":"m","prompt":"hi","max_tokens":5,"temperature":0.5,"top_p":0.9,
      "stop":["a","b"],"seed":-3,"n":2,"logprobs":2,"stream":true,"stream_options":{"include_usage":true},
      "ignore_eos":true,"unknown_field":{"x":1}})");
  EXPECT_EQ(p.model, "m");
  EXPECT_EQ(p.prompt_text, "hi");
  EXPECT_EQ(p.max_tokens, 5);
  EXPECT_FLOAT_EQ(p.temperature, 0.5f);
  EXPECT_FLOAT_EQ(p.top_p, 0.9f);
  EXPECT_EQ(p.stop, (std::vector<std::string>{"a", "b"}));
  EXPECT_EQ(p.seed, -3);
  EXPECT_EQ(p.n, 2);
  EXPECT_EQ(p.logprobs, 2);
  EXPECT_TRUE(p.stream && p.include_usage && p.ignore_eos);
  EXPECT_EQ(ok(R"({"model":"m","prompt":"x","stop":"end","max_tokens":null})").stop,
            std::vector<std::string>{"end"});
  CompletionParams t = ok(R"({"model":"m","prompt":[1,2,3]})");
  EXPECT_TRUE(t.prompt_is_tokens);
  EXPECT_EQ(t.prompt_tokens, (std::vector<int32_t>{1, 2, 3}));
  EXPECT_EQ(ok(R"({"model":"m","prompt":["one"]})").prompt_text, "one");
  EXPECT_EQ(ok(R"({"model":"m","prompt":"x","max_tokens":4.0})").max_tokens, 4);
}

TEST(OpenAiApi, ParsesChat) {
  CompletionParams p = ok(R"({"model":"m","messages":[{"role":"system","content":"be brief"},
      {"role":"user","content":[{"type":"text","text":"a"},{"type":"text","text":"b"}]}],
      "logprobs":true,"top_logprobs":3,"max_completion_tokens":7})",
                          Endpoint::kChat);
  ASSERT_EQ(p.messages.size(), 2u);
  EXPECT_EQ(p.messages[0].role, "system");
  EXPECT_EQ(p.messages[1].content, "ab");
  EXPECT_EQ(p.logprobs, 3);
  EXPECT_EQ(p.max_tokens, 7);
  EXPECT_EQ(ok(R"({"model":"m","messages":[{"role":"user","content":"x"}],"logprobs":true})", Endpoint::kChat).logprobs, 0);
}

TEST(OpenAiApi, ErrorsNameTheParameter) {
  struct Case {
    const char* body;
    const char* param;
    Endpoint e = Endpoint::kCompletions;
  };
  const Case cases[] = {
      {R"({"prompt":"x"})", "model"},
      {R"({"model":5,"prompt":"x"})", "model"},
      {R"({"model":"m"})", "prompt"},
      {R"({"model":"m","prompt":5})", "prompt"},
      {R"({"model":"m","prompt":["a","b"]})", "prompt"},
      {R"({"model":"m","prompt":[1,-2]})", "prompt"},
      {R"({"model":"m","prompt":"x","max_tokens":0})", "max_tokens"},
      {R"({"model":"m","prompt":"x","max_tokens":"5"})", "max_tokens"},
      {R"({"model":"m","prompt":"x","max_tokens":1.5})", "max_tokens"},
      {R"({"model":"m","prompt":"x","temperature":2.5})", "temperature"},
      {R"({"model":"m","prompt":"x","temperature":"hot"})", "temperature"},
      {R"({"model":"m","prompt":"x","top_p":0})", "top_p"},
      {R"({"model":"m","prompt":"x","n":0})", "n"},
      {R"({"model":"m","prompt":"x","n":1000})", "n"},
      {R"({"model":"m","prompt":"x","stop":[1]})", "stop"},
      {R"({"model":"m","prompt":"x","stop":["a","b","c","d","e"]})", "stop"},
      {R"({"model":"m","prompt":"x","stop":""})", "stop"},
      {R"({"model":"m","prompt":"x","seed":"1"})", "seed"},
      {R"({"model":"m","prompt":"x","seed":18446744073709551615})", "seed"},
      {R"({"model":"m","prompt":"x","stream":"yes"})", "stream"},
      {R"({"model":"m","prompt":"x","logprobs":6})", "logprobs"},
      {R"({"model":"m","prompt":"x","presence_penalty":3})", "presence_penalty"},
      {R"({"model":"m","prompt":"x","stream_options":{"include_usage":1}})", "include_usage"},
      {R"({"model":"m"})", "messages", Endpoint::kChat},
      {R"({"model":"m","messages":[]})", "messages", Endpoint::kChat},
      {R"({"model":"m","messages":[{"content":"x"}]})", "messages", Endpoint::kChat},
      {R"({"model":"m","messages":[{"role":"wizard","content":"x"}]})", "messages", Endpoint::kChat},
      {R"({"model":"m","messages":[{"role":"user","content":{"a":1}}]})", "messages", Endpoint::kChat},
      {R"({"model":"m","messages":[{"role":"user","content":"x"}],"top_logprobs":2})", "top_logprobs", Endpoint::kChat},
      {R"({"model":"m","messages":[{"role":"user","content":"x"}],"logprobs":true,"top_logprobs":21})", "top_logprobs", Endpoint::kChat},
  };
  for (const Case& c : cases) {
    ApiError e = err(c.body, c.e);
    EXPECT_EQ(e.status, 400) << c.body;
    EXPECT_EQ(e.param, c.param) << c.body << " -> " << e.message;
    EXPECT_EQ(e.type, "invalid_request_error");
  }
  for (const char* body : {"", "{", "[1,2]", "null", "{\"model\":\"m\",}", "\xff\xfe"}) {
    ApiError e = err(body);
    EXPECT_EQ(e.status, 400) << body;
  }
  auto j = nlohmann::json::parse(to_json(err(R"({"model":"m","prompt":"x","n":0})")));
  EXPECT_EQ(j["error"]["param"], "n");
  EXPECT_TRUE(j["error"]["code"].is_null());
}

TEST(OpenAiApi, LogprobObjects) {
  std::vector<LogprobEntry> e = {{"a", -0.5f, {{"a", -0.5f}, {"b", -1.5f}}}, {"\xe2\x82", -2.0f, {}}};
  nlohmann::json c = chat_logprobs_json(e);
  ASSERT_EQ(c["content"].size(), 2u);
  EXPECT_EQ(c["content"][0]["token"], "a");
  EXPECT_EQ(c["content"][0]["top_logprobs"][1]["token"], "b");
  EXPECT_EQ(c["content"][1]["bytes"], nlohmann::json::array({0xe2, 0x82}));
  EXPECT_FALSE(dump(c).empty());  // partial UTF-8 is replaced, not thrown
  nlohmann::json t = completion_logprobs_json(e, 10);
  EXPECT_EQ(t["text_offset"], nlohmann::json::array({10, 11}));
  EXPECT_FLOAT_EQ(t["top_logprobs"][0]["b"].get<float>(), -1.5f);
}

// The per-token SSE event written without a JSON tree must be byte for byte
// the tree's: chat and completions, with and without usage, any choice
// index, text that needs escaping, non-ASCII and partial UTF-8.
TEST(OpenAiApi, TextChunkWriterMatchesTheJsonTree) {
  for (Endpoint ep : {Endpoint::kChat, Endpoint::kCompletions}) {
    for (bool usage : {false, true}) {
      const ChunkHeader h{ep, "cmpl-\"x\"-42", 1764200000, "tiny \\ model", usage};
      const TextChunkWriter w(h);
      for (int32_t i : {0, 3, 12}) {
        for (std::string text : {"", "hello", " quote \" back\\slash", "new\nline\ttab\r", "\x01\x1f ctrl",
                                 "\xc3\xbcn\xc3\xaf \xe2\x9c\x93", "\xe2\x82", "</script>"}) {
          const nlohmann::json payload =
              ep == Endpoint::kChat ? nlohmann::json{{"content", text}} : nlohmann::json{{"text", text}};
          const std::string want = "data: " + dump(stream_chunk_json(h, i, payload, nullptr, nullptr)) + "\n\n";
          EXPECT_EQ(w.event(i, text), want) << "chat=" << (ep == Endpoint::kChat) << " usage=" << usage;
        }
      }
    }
  }
}

}  // namespace
}  // namespace tandem::server
