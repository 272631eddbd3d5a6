#include "tokenizer/chat_template.h"

#include <gtest/gtest.h>

namespace tandem {
namespace {

const std::vector<ChatMessage> kConversation = {
    {"system", "You are helpful."},
    {"user", "Hi!"},
    {"assistant", "Hello."},
    {"user", "  Bye \n"},
};

TEST(ChatTemplateTest, ChatML) {
  EXPECT_EQ(apply_chat_template(ChatTemplate::kChatML, kConversation, true),
            "<|im_start|>system\nYou are helpful.<|im_end|>\n"
            "<|im_start|>user\nHi!<|im_end|>\n"
            "<|im_start|>assistant\nHello.<|im_end|>\n"
            "<|im_start|>user\n  Bye \n<|im_end|>\n"
            "<|im_start|>assistant\n");
  EXPECT_EQ(apply_chat_template(ChatTemplate::kChatML, {{"user", "x"}}, false),
            "<|im_start|>user\nx<|im_end|>\n");
}

TEST(ChatTemplateTest, Llama3) {
  EXPECT_EQ(apply_chat_template(ChatTemplate::kLlama3, kConversation, true),
            "<|begin_of_text|>"
            "<|start_header_id|>system<|end_header_id|>\n\nYou are helpful.<|eot_id|>"
            "<|start_header_id|>user<|end_header_id|>\n\nHi!<|eot_id|>"
            "<|start_header_id|>assistant<|end_header_id|>\n\nHello.<|eot_id|>"
            "<|start_header_id|>user<|end_header_id|>\n\nBye<|eot_id|>"
            "<|start_header_id|>assistant<|end_header_id|>\n\n");
  EXPECT_EQ(apply_chat_template(ChatTemplate::kLlama3, {}, false), "<|begin_of_text|>");
}

TEST(ChatTemplateTest, Plain) {
  EXPECT_EQ(apply_chat_template(ChatTemplate::kPlain, kConversation, true),
            "System: You are helpful.\n"
            "User: Hi!\n"
            "Assistant: Hello.\n"
            "User:   Bye \n\n"
            "Assistant:");
  EXPECT_EQ(apply_chat_template(ChatTemplate::kPlain, {{"user", "In the beginning"}}, false),
            "User: In the beginning\n");
}

TEST(ChatTemplateTest, DetectFromVocab) {
  VocabData v;
  v.tokens = {"a", "b"};
  EXPECT_EQ(detect_chat_template(v), ChatTemplate::kPlain);
  v.tokens.push_back("<|start_header_id|>");
  EXPECT_EQ(detect_chat_template(v), ChatTemplate::kLlama3);
  v.tokens.push_back("<|im_start|>");
  EXPECT_EQ(detect_chat_template(v), ChatTemplate::kChatML);
}

TEST(ChatTemplateTest, Names) {
  for (ChatTemplate k : {ChatTemplate::kChatML, ChatTemplate::kLlama3, ChatTemplate::kPlain}) {
    EXPECT_EQ(chat_template_from_name(chat_template_name(k)), k);
  }
  EXPECT_EQ(chat_template_from_name("jinja"), std::nullopt);
}

}  // namespace
}  // namespace tandem
