// Reads a SentencePiece tokenizer.model (a serialized sentencepiece.ModelProto)
// without libprotobuf: a minimal protobuf wire-format reader that knows the
// fields tokenization needs (field numbers from sentencepiece_model.proto).
#pragma once

#include <string>
#include <string_view>

#include "base/status.h"
#include "tokenizer/tokenizer.h"

namespace tandem {

// `name` (the file path) goes into error messages. Malformed protobuf: DATA_LOSS.
// Unigram/word/char models and normalizers other than identity: UNIMPLEMENTED.
Result<VocabData> parse_sentencepiece_model(std::string_view data, const std::string& name);

}  // namespace tandem
