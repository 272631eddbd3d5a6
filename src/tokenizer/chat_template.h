// Chat templates: turn a conversation into the prompt text a chat model was
// trained on. The output contains special tokens as text ("<|im_start|>"):
// encode it with EncodeOptions::parse_special = true.
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "tokenizer/tokenizer.h"

namespace tandem {

struct ChatMessage {
  std::string role;  // "system", "user", "assistant" (others are written as given)
  std::string content;
};

enum class ChatTemplate {
  kChatML,  // Qwen: <|im_start|>role\ncontent<|im_end|>\n
  kLlama3,  // <|begin_of_text|><|start_header_id|>role<|end_header_id|>\n\ncontent<|eot_id|>
  kPlain,   // models without chat tokens: "User: content\n" ... "Assistant:"
};

// add_generation_prompt: end with the opening of an assistant turn.
// kLlama3 trims whitespace around each content, as Meta's template does, and
// starts with <|begin_of_text|> (Tokenizer::encode then adds no second BOS).
// kPlain capitalises the role ("user" -> "User").
std::string apply_chat_template(ChatTemplate kind, const std::vector<ChatMessage>& msgs,
                                bool add_generation_prompt);

// <|im_start|> in the vocab -> kChatML; <|start_header_id|> -> kLlama3; else kPlain.
ChatTemplate detect_chat_template(const VocabData& vocab);

// "chatml", "llama3", "plain"; and back (nullopt for other names).
std::string_view chat_template_name(ChatTemplate kind);
std::optional<ChatTemplate> chat_template_from_name(std::string_view name);

}  // namespace tandem
