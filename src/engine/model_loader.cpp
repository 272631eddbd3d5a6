#include "engine/model_loader.h"

#include "base/mapped_file.h"

namespace tandem {

Result<std::unique_ptr<Tokenizer>> tokenizer_from_gguf(const GgufFile& g) {
  VocabData v;
  TANDEM_ASSIGN_OR_RETURN(v.model, g.get_string("tokenizer.ggml.model"));
  if (v.model != "llama" && v.model != "gpt2") {
    return unimplemented(g.name() + ": tokenizer.ggml.model '" + v.model +
                         "' is not supported (supported: llama, gpt2)");
  }
  const GgufValue* toks = g.find("tokenizer.ggml.tokens");
  if (toks == nullptr || toks->type != GgufValue::Type::kArray ||
      toks->elem_type != GgufValue::Type::kString) {
    return invalid_argument(g.name() + ": tokenizer.ggml.tokens missing or not a string array");
  }
  v.tokens = toks->arr_s;
  if (const GgufValue* s = g.find("tokenizer.ggml.scores")) {
    if (s->array_size() != v.tokens.size())
      return invalid_argument(g.name() + ": tokenizer.ggml.scores length differs from tokens");
    for (double x : s->arr_f) v.scores.push_back(static_cast<float>(x));
  }
  if (const GgufValue* t = g.find("tokenizer.ggml.token_type")) {
    if (t->array_size() != v.tokens.size())
      return invalid_argument(g.name() + ": tokenizer.ggml.token_type length differs from tokens");
    for (int64_t x : t->arr_i) v.token_types.push_back(static_cast<int32_t>(x));
  }
  if (const GgufValue* m = g.find("tokenizer.ggml.merges")) v.merges = m->arr_s;
  if (g.find("tokenizer.ggml.pre") != nullptr) {
    TANDEM_ASSIGN_OR_RETURN(v.pre, g.get_string("tokenizer.ggml.pre"));
  }
  auto opt_id = [&](const char* key, int32_t& out) -> Status {
    if (g.find(key) == nullptr) return ok_status();
    TANDEM_ASSIGN_OR_RETURN(int64_t x, g.get_int(key));
    out = static_cast<int32_t>(x);
    return ok_status();
  };
  TANDEM_RETURN_IF_ERROR(opt_id("tokenizer.ggml.bos_token_id", v.bos_id));
  TANDEM_RETURN_IF_ERROR(opt_id("tokenizer.ggml.eos_token_id", v.eos_id));
  TANDEM_RETURN_IF_ERROR(opt_id("tokenizer.ggml.unknown_token_id", v.unk_id));
  TANDEM_RETURN_IF_ERROR(opt_id("tokenizer.ggml.padding_token_id", v.pad_id));
  v.add_bos = v.model == "llama";
  if (g.find("tokenizer.ggml.add_bos_token") != nullptr) {
    TANDEM_ASSIGN_OR_RETURN(v.add_bos, g.get_bool("tokenizer.ggml.add_bos_token"));
  }
  if (g.find("tokenizer.ggml.add_space_prefix") != nullptr) {
    TANDEM_ASSIGN_OR_RETURN(v.add_space_prefix, g.get_bool("tokenizer.ggml.add_space_prefix"));
  }
  auto tok = Tokenizer::from_vocab(std::move(v));
  if (!tok.ok()) return tok.status().with_context(g.name());
  return tok;
}

Result<LoadedModel> load_model(const std::string& path) {
  LoadedModel lm;
  TANDEM_ASSIGN_OR_RETURN(lm.model, Model::load(path));
  if (const GgufFile* g = lm.model->gguf()) {
    TANDEM_ASSIGN_OR_RETURN(lm.tokenizer, tokenizer_from_gguf(*g));
  } else if (file_exists(path + "/tokenizer.json")) {
    TANDEM_ASSIGN_OR_RETURN(lm.tokenizer, Tokenizer::from_hf_json(path + "/tokenizer.json"));
  } else if (file_exists(path + "/tokenizer.model")) {
    TANDEM_ASSIGN_OR_RETURN(lm.tokenizer, Tokenizer::from_sentencepiece_file(path + "/tokenizer.model"));
  } else {
    return not_found(path + ": no tokenizer.json or tokenizer.model in the model directory");
  }
  if (lm.tokenizer->vocab_size() > lm.model->config().vocab_size) {
    return invalid_argument(path + ": tokenizer has " + std::to_string(lm.tokenizer->vocab_size()) +
                            " tokens but the model's vocabulary is " +
                            std::to_string(lm.model->config().vocab_size));
  }
  return lm;
}

}  // namespace tandem
