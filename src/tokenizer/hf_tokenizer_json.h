// Reads a Hugging Face tokenizer.json (BPE models) into a VocabData.
#pragma once

#include <optional>
#include <string>
#include <string_view>

#include "base/status.h"
#include "tokenizer/tokenizer.h"

namespace tandem {

// `config_json`: the tokenizer_config.json beside it, if any (bos_token,
// eos_token, pad_token, add_bos_token). `name` goes into error messages.
// Malformed JSON or missing fields: DATA_LOSS. Models, normalizers and
// pre-tokenizers other than those of GPT-2, Llama-2/3 and Qwen2/3: UNIMPLEMENTED.
//
// Byte-level tokenizers become model "gpt2"; SentencePiece-style ones (Prepend +
// Replace normalizer or Metaspace, byte_fallback) become "llama" with merges (rank
// priorities). Added tokens with "special": true become control tokens, others
// user-defined. Not supported: added tokens' lstrip/rstrip/single_word flags.
Result<VocabData> parse_hf_tokenizer_json(std::string_view json,
                                          const std::optional<std::string>& config_json,
                                          const std::string& name);

}  // namespace tandem
