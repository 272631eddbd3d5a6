// Loads a model and the tokenizer that belongs to it from one path: a
// Hugging Face directory (tokenizer.json, else tokenizer.model) or a .gguf
// file (tokenizer.ggml.* metadata).
#pragma once

#include <memory>
#include <string>

#include "base/status.h"
#include "model/model.h"
#include "tokenizer/tokenizer.h"

namespace tandem {

struct LoadedModel {
  std::unique_ptr<Model> model;
  std::unique_ptr<Tokenizer> tokenizer;
};

Result<LoadedModel> load_model(const std::string& path);

// Builds a tokenizer from a GGUF file's tokenizer.ggml.* keys.
Result<std::unique_ptr<Tokenizer>> tokenizer_from_gguf(const GgufFile& gguf);

}  // namespace tandem
