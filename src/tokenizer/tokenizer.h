// Tokenizers: SentencePiece BPE ("llama") and byte-level BPE ("gpt2"), loaded
// from a vocabulary as GGUF stores it, from a SentencePiece tokenizer.model, or
// from a Hugging Face tokenizer.json.
//
// Thread safety: a Tokenizer is immutable after construction; encode, decode
// and the lookups may be called from any number of threads at once.
// Errors: loaders return Status (never throw); encode and decode cannot fail.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "base/status.h"

namespace tandem {

// Token types as GGUF (tokenizer.ggml.token_type) and SentencePiece number them.
enum TokenType : int32_t {
  kTokenNormal = 1,
  kTokenUnknown = 2,
  kTokenControl = 3,      // special: <s>, <|im_start|>; matched in text only with parse_special
  kTokenUserDefined = 4,  // always matched in text, never split, never skipped in decode
  kTokenUnused = 5,
  kTokenByte = 6,  // <0xXX> byte-fallback piece
};

// Vocabulary as llama.cpp's GGUF stores it (tokenizer.ggml.*); also what the
// other loaders produce. Plain data: from_vocab() validates it.
struct VocabData {
  std::string model;  // "llama" (SentencePiece BPE) or "gpt2" (byte-level BPE)
  // gpt2 pre-tokenizer (GGUF tokenizer.ggml.pre): "gpt2" (or empty), "llama-bpe"
  // (Llama-3), "qwen2". Ignored for llama.
  std::string pre;
  // gpt2: when non-empty, this PCRE2 pattern replaces the one `pre` names
  // (from_hf_json fills it for Split regexes it does not recognise).
  std::string pre_regex;
  std::vector<std::string> tokens;   // [n_vocab]; gpt2: byte-level strings ("Ġthe")
  std::vector<float> scores;         // [n_vocab] or empty; llama: merge priority
  std::vector<int32_t> token_types;  // [n_vocab] or empty (= all normal); TokenType values
  // Merges "a b", highest priority first. gpt2: required. llama: when non-empty
  // (a Hugging Face tokenizer.json), a pair's rank replaces the piece score as
  // the merge priority, as the Hugging Face BPE model does.
  std::vector<std::string> merges;
  int32_t bos_id = -1, eos_id = -1, unk_id = -1, pad_id = -1;  // -1: none
  bool add_bos = false;  // the model expects BOS first (EncodeOptions::add_bos honours it)
  // llama: prepend U+2581 (SentencePiece add_dummy_prefix). gpt2: prepend ' ' unless
  // the text starts with one (ByteLevel add_prefix_space). Unset: true for llama,
  // false for gpt2.
  std::optional<bool> add_space_prefix;
  // gpt2: a pre-token that is itself a vocab entry is taken whole, skipping merges
  // (Hugging Face ignore_merges; Llama-3). Implied by pre == "llama-bpe".
  bool ignore_merges = false;
  // Apply Unicode NFC to text before pre-tokenization (Hugging Face "NFC"
  // normalizer; Qwen2/3). Not implied by `pre`: GGUF readers set it explicitly.
  bool normalize_nfc = false;
  // llama: SentencePiece remove_extra_whitespaces (strip, and collapse runs of ' ').
  bool remove_extra_whitespaces = false;
};

struct EncodeOptions {
  // Prepend BOS, only if the vocab says add_bos and has one, and the text does not
  // already start with BOS written as a special token (parse_special).
  bool add_bos = true;
  // Control tokens written in the text ("<|im_start|>") become their ids. User-defined
  // tokens are always matched, as llama.cpp and Hugging Face do.
  bool parse_special = false;
};

class Tokenizer {
 public:
  Tokenizer(const Tokenizer&) = delete;
  Tokenizer& operator=(const Tokenizer&) = delete;
  ~Tokenizer();

  // Validates `v` (sizes, ids in range, merges that name vocab tokens, byte tokens
  // for gpt2) and builds the lookup tables. INVALID_ARGUMENT says what is wrong.
  static Result<std::unique_ptr<Tokenizer>> from_vocab(VocabData v);
  // A SentencePiece tokenizer.model (protobuf ModelProto); BPE models only.
  // DATA_LOSS naming the file when it is malformed; UNIMPLEMENTED for unigram
  // models and normalization rules other than identity.
  static Result<std::unique_ptr<Tokenizer>> from_sentencepiece_file(const std::string& path);
  // A Hugging Face tokenizer.json with a BPE model: byte-level (GPT-2, Llama-3,
  // Qwen2/3) or SentencePiece-style (Llama-2: byte_fallback, Prepend/Replace or
  // Metaspace). Reads bos/eos/add_bos_token from a tokenizer_config.json beside it
  // when there is one.
  static Result<std::unique_ptr<Tokenizer>> from_hf_json(const std::string& path);

  // Any bytes are accepted: invalid UTF-8 goes through byte fallback (llama) or
  // is byte-level encoded like any other bytes (gpt2).
  std::vector<int32_t> encode(std::string_view text, EncodeOptions opt = {}) const;
  // The bytes the ids stand for, concatenated (not necessarily valid UTF-8 when
  // the ids split a character; StreamDecoder sanitizes). Ids out of range are
  // skipped. skip_special drops control and unknown tokens. llama: the space
  // add_space_prefix put in front of the text is dropped when the output starts
  // with it.
  std::string decode(std::span<const int32_t> ids, bool skip_special = true) const;
  // The raw bytes one token stands for: U+2581 -> ' ' and <0xXX> -> the byte
  // (llama), byte-level characters -> bytes (gpt2), control and user-defined
  // tokens -> their text. Empty for ids out of range.
  std::string token_bytes(int32_t id) const;

  int32_t vocab_size() const;
  int32_t bos_id() const;  // -1: none
  int32_t eos_id() const;  // -1: none
  std::optional<int32_t> token_id(std::string_view piece) const;
  bool is_special(int32_t id) const;  // control or unknown; false for ids out of range
  // End-of-generation tokens: eos and the control tokens chat models end a turn
  // with (<|eot_id|>, <|im_end|>, <|end_of_text|>, <|endoftext|>, </s>).
  bool is_end_of_generation(int32_t id) const;
  const VocabData& vocab() const;

  struct Impl;

 private:
  friend class StreamDecoder;
  explicit Tokenizer(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

// Streaming detokenizer: push ids one at a time and get text that never ends
// in the middle of a UTF-8 character; flush() at the end emits what is left.
// Invalid bytes become U+FFFD, so every chunk is valid UTF-8. Without
// `continuation`, the chunks concatenate to sanitize_utf8(decode(all ids,
// skip_special)); with it, a llama leading space is kept, as it must be when the
// ids continue a prompt (generation).
// Holds a reference to the tokenizer, which must outlive it. Not thread-safe.
class StreamDecoder {
 public:
  struct Options {
    bool skip_special = true;
    bool continuation = false;
  };
  explicit StreamDecoder(const Tokenizer& tokenizer) : StreamDecoder(tokenizer, Options{}) {}
  StreamDecoder(const Tokenizer& tokenizer, Options options);
  // Out-of-range ids are skipped, as in decode().
  std::string push(int32_t id);
  std::string flush();  // also resets the decoder for a new stream

 private:
  const Tokenizer& tokenizer_;
  Options options_;
  bool at_start_ = true;  // no bytes produced yet
  std::string pending_;   // bytes of an incomplete UTF-8 character
};

}  // namespace tandem
