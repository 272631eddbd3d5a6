#include "tokenizer/chat_template.h"

#include <algorithm>

namespace tandem {
namespace {

std::string_view trim(std::string_view s) {
  const auto ws = [](char c) {
    return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\v' || c == '\f';
  };
  while (!s.empty() && ws(s.front())) s.remove_prefix(1);
  while (!s.empty() && ws(s.back())) s.remove_suffix(1);
  return s;
}

std::string capitalized(std::string_view role) {
  std::string r(role);
  if (!r.empty() && r[0] >= 'a' && r[0] <= 'z') r[0] = static_cast<char>(r[0] - 'a' + 'A');
  return r;
}

}  // namespace

std::string apply_chat_template(ChatTemplate kind, const std::vector<ChatMessage>& msgs,
                                bool add_generation_prompt) {
  std::string out;
  switch (kind) {
    case ChatTemplate::kChatML:
      for (const ChatMessage& m : msgs) {
        out += "<|im_start|>" + m.role + "\n" + m.content + "<|im_end|>\n";
      }
      if (add_generation_prompt) out += "<|im_start|>assistant\n";
      break;
    case ChatTemplate::kLlama3:
      out += "<|begin_of_text|>";
      for (const ChatMessage& m : msgs) {
        out += "<|start_header_id|>" + m.role + "<|end_header_id|>\n\n";
        out += trim(m.content);
        out += "<|eot_id|>";
      }
      if (add_generation_prompt) out += "<|start_header_id|>assistant<|end_header_id|>\n\n";
      break;
    case ChatTemplate::kPlain:
      for (const ChatMessage& m : msgs) out += capitalized(m.role) + ": " + m.content + "\n";
      if (add_generation_prompt) out += "Assistant:";
      break;
  }
  return out;
}

ChatTemplate detect_chat_template(const VocabData& vocab) {
  const auto has = [&](std::string_view t) {
    return std::find(vocab.tokens.begin(), vocab.tokens.end(), t) != vocab.tokens.end();
  };
  if (has("<|im_start|>")) return ChatTemplate::kChatML;
  if (has("<|start_header_id|>")) return ChatTemplate::kLlama3;
  return ChatTemplate::kPlain;
}

std::string_view chat_template_name(ChatTemplate kind) {
  switch (kind) {
    case ChatTemplate::kChatML:
      return "chatml";
    case ChatTemplate::kLlama3:
      return "llama3";
    case ChatTemplate::kPlain:
      return "plain";
  }
  return "plain";
}

std::optional<ChatTemplate> chat_template_from_name(std::string_view name) {
  for (ChatTemplate k : {ChatTemplate::kChatML, ChatTemplate::kLlama3, ChatTemplate::kPlain}) {
    if (chat_template_name(k) == name) return k;
  }
  return std::nullopt;
}

}  // namespace tandem
