#include "tokenizer/hf_tokenizer_json.h"

#include <nlohmann/json.hpp>

namespace tandem {
namespace {

using nlohmann::json;

constexpr const char* kSpmSpace = "\xE2\x96\x81";  // U+2581

// Split regexes of the tokenizer.json files we know, to name them in VocabData::pre.
constexpr const char* kLlama3Regex =
    R"((?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+)";
constexpr const char* kQwen2Regex =
    R"((?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+)";

std::string type_of(const json& j) {
  if (!j.is_object()) return "";
  auto it = j.find("type");
  return it != j.end() && it->is_string() ? it->get<std::string>() : "";
}

bool bool_or(const json& j, const char* key, bool dflt) {
  auto it = j.find(key);
  return it != j.end() && it->is_boolean() ? it->get<bool>() : dflt;
}

// What the normalizer and pre-tokenizer say about the text pipeline.
struct Pipeline {
  bool spm_style = false;      // spaces become U+2581 (Replace normalizer or Metaspace)
  bool prepend_space = false;  // Prepend("▁") / Metaspace prepend / ByteLevel add_prefix_space
  bool nfc = false;
  bool byte_level = false;
  std::string split_regex;  // empty: GPT-2 default (ByteLevel use_regex)
};

Status read_normalizer(const json& n, Pipeline* p) {
  if (n.is_null()) return ok_status();
  const std::string type = type_of(n);
  if (type == "Sequence") {
    auto it = n.find("normalizers");
    if (it == n.end() || !it->is_array())
      return data_loss("normalizer Sequence without normalizers");
    for (const json& sub : *it) TANDEM_RETURN_IF_ERROR(read_normalizer(sub, p));
    return ok_status();
  }
  if (type == "NFC") {
    p->nfc = true;
    return ok_status();
  }
  if (type == "Prepend") {
    if (n.value("prepend", std::string()) != kSpmSpace) {
      return unimplemented("normalizer Prepend of anything but U+2581 is not supported");
    }
    p->prepend_space = true;
    return ok_status();
  }
  if (type == "Replace") {
    const json& pat = n.at("pattern");
    if (!pat.is_object() || pat.value("String", std::string()) != " " ||
        n.value("content", std::string()) != kSpmSpace) {
      return unimplemented("normalizer Replace other than ' ' -> U+2581 is not supported");
    }
    p->spm_style = true;
    return ok_status();
  }
  return unimplemented("normalizer '" + type + "' is not supported");
}

Status read_pre_tokenizer(const json& t, Pipeline* p) {
  if (t.is_null()) return ok_status();
  const std::string type = type_of(t);
  if (type == "Sequence") {
    auto it = t.find("pretokenizers");
    if (it == t.end() || !it->is_array()) {
      return data_loss("pre_tokenizer Sequence without pretokenizers");
    }
    for (const json& sub : *it) TANDEM_RETURN_IF_ERROR(read_pre_tokenizer(sub, p));
    return ok_status();
  }
  if (type == "ByteLevel") {
    p->byte_level = true;
    if (bool_or(t, "add_prefix_space", false)) p->prepend_space = true;
    if (bool_or(t, "use_regex", true)) {
      if (!p->split_regex.empty()) {
        return unimplemented(
            "pre_tokenizer Split followed by ByteLevel(use_regex) is not supported");
      }
    }
    return ok_status();
  }
  if (type == "Split") {
    if (!p->split_regex.empty()) return unimplemented("more than one Split pre-tokenizer");
    const json& pat = t.at("pattern");
    if (!pat.is_object() || !pat.contains("Regex") || !pat["Regex"].is_string()) {
      return unimplemented("pre_tokenizer Split without a Regex pattern is not supported");
    }
    if (t.value("behavior", std::string()) != "Isolated" || bool_or(t, "invert", false)) {
      return unimplemented("pre_tokenizer Split is supported only with behavior Isolated");
    }
    p->split_regex = pat["Regex"].get<std::string>();
    return ok_status();
  }
  if (type == "Metaspace") {
    if (t.value("replacement", std::string(kSpmSpace)) != kSpmSpace) {
      return unimplemented("pre_tokenizer Metaspace with a replacement other than U+2581");
    }
    if (bool_or(t, "split", false)) {
      return unimplemented("pre_tokenizer Metaspace with split=true is not supported");
    }
    p->spm_style = true;
    // Newer files: prepend_scheme ("always", "first", "never"); older: add_prefix_space.
    const std::string scheme = t.value("prepend_scheme", std::string());
    if (!scheme.empty())
      p->prepend_space = scheme != "never";
    else
      p->prepend_space = bool_or(t, "add_prefix_space", true);
    return ok_status();
  }
  return unimplemented("pre_tokenizer '" + type + "' is not supported");
}

// bos_token etc. in tokenizer_config.json: a string, {"content": ...} or null.
std::optional<std::string> config_token(const json& config, const char* key) {
  auto it = config.find(key);
  if (it == config.end()) return std::nullopt;
  if (it->is_string()) return it->get<std::string>();
  if (it->is_object() && it->contains("content") && (*it)["content"].is_string()) {
    return (*it)["content"].get<std::string>();
  }
  return std::nullopt;
}

Result<VocabData> parse(const json& j, const std::optional<std::string>& config_json) {
  if (!j.is_object() || !j.contains("model") || !j["model"].is_object()) {
    return data_loss("no \"model\" object");
  }
  const json& model = j["model"];
  const std::string model_type = type_of(model);
  if (!model_type.empty() && model_type != "BPE") {
    return unimplemented("model type '" + model_type + "' is not supported; only BPE is");
  }
  if (!model.contains("vocab") || !model["vocab"].is_object()) {
    return data_loss("model has no \"vocab\" object");
  }
  for (const char* key : {"continuing_subword_prefix", "end_of_word_suffix"}) {
    auto it = model.find(key);
    if (it != model.end() && it->is_string() && !it->get<std::string>().empty()) {
      return unimplemented(std::string("BPE ") + key + " is not supported");
    }
  }

  Pipeline p;
  TANDEM_RETURN_IF_ERROR(read_normalizer(j.value("normalizer", json()), &p));
  TANDEM_RETURN_IF_ERROR(read_pre_tokenizer(j.value("pre_tokenizer", json()), &p));

  VocabData v;
  if (p.spm_style) {
    v.model = "llama";
    v.add_space_prefix = p.prepend_space;
    if (p.nfc) return unimplemented("NFC with a SentencePiece-style tokenizer is not supported");
  } else if (p.byte_level) {
    v.model = "gpt2";
    v.add_space_prefix = p.prepend_space;
    v.normalize_nfc = p.nfc;
    v.ignore_merges = bool_or(model, "ignore_merges", false);
    if (p.split_regex.empty()) {
      v.pre = "gpt2";
    } else {
      v.pre_regex = p.split_regex;
      if (p.split_regex == kLlama3Regex)
        v.pre = "llama-bpe";
      else if (p.split_regex == kQwen2Regex)
        v.pre = "qwen2";
    }
  } else {
    return unimplemented(
        "neither byte-level (ByteLevel pre-tokenizer) nor SentencePiece-style (Metaspace, or "
        "Replace ' ' -> U+2581)");
  }

  // Tokens: the vocab plus the added tokens, indexed by id.
  int64_t max_id = -1;
  for (const auto& [tok, id] : model["vocab"].items()) {
    if (!id.is_number_integer()) return data_loss("vocab entry '" + tok + "' has no integer id");
    max_id = std::max<int64_t>(max_id, id.get<int64_t>());
  }
  const json added = j.value("added_tokens", json::array());
  if (!added.is_array()) return data_loss("\"added_tokens\" is not an array");
  for (const json& a : added) {
    if (!a.is_object() || !a.contains("id") || !a["id"].is_number_integer() ||
        !a.contains("content") || !a["content"].is_string()) {
      return data_loss("an added token lacks an integer \"id\" or a string \"content\"");
    }
    max_id = std::max<int64_t>(max_id, a["id"].get<int64_t>());
  }
  if (max_id < 0) return data_loss("the vocabulary is empty");
  if (max_id >= (int64_t{1} << 24))
    return data_loss("token id " + std::to_string(max_id) + " is too large");
  const auto n = static_cast<size_t>(max_id + 1);
  v.tokens.assign(n, std::string());
  v.token_types.assign(n, kTokenUnused);  // ids no entry names
  for (const auto& [tok, id] : model["vocab"].items()) {
    const int64_t i = id.get<int64_t>();
    if (i < 0) return data_loss("vocab entry '" + tok + "' has a negative id");
    v.tokens[static_cast<size_t>(i)] = tok;
    v.token_types[static_cast<size_t>(i)] = kTokenNormal;
  }
  const bool byte_fallback = bool_or(model, "byte_fallback", false);
  if (v.model == "llama" && byte_fallback) {
    for (size_t i = 0; i < n; ++i) {
      const std::string& t = v.tokens[i];
      if (t.size() == 6 && t.rfind("<0x", 0) == 0 && t[5] == '>') v.token_types[i] = kTokenByte;
    }
  }
  for (const json& a : added) {
    const int64_t i = a["id"].get<int64_t>();
    if (i < 0) return data_loss("an added token has a negative id");
    v.tokens[static_cast<size_t>(i)] = a["content"].get<std::string>();
    v.token_types[static_cast<size_t>(i)] =
        bool_or(a, "special", false) ? kTokenControl : kTokenUserDefined;
  }
  auto id_of = [&](const std::string& t) -> int32_t {
    for (size_t i = 0; i < n; ++i) {
      if (v.tokens[i] == t) return static_cast<int32_t>(i);
    }
    return -1;
  };
  if (model.contains("unk_token") && model["unk_token"].is_string()) {
    v.unk_id = id_of(model["unk_token"].get<std::string>());
    if (v.unk_id >= 0) v.token_types[static_cast<size_t>(v.unk_id)] = kTokenUnknown;
  }

  // Merges: "a b" strings, or ["a", "b"] pairs (tokenizers >= 0.20).
  if (model.contains("merges")) {
    const json& merges = model["merges"];
    if (!merges.is_array()) return data_loss("model \"merges\" is not an array");
    v.merges.reserve(merges.size());
    for (const json& m : merges) {
      if (m.is_string()) {
        v.merges.push_back(m.get<std::string>());
      } else if (m.is_array() && m.size() == 2 && m[0].is_string() && m[1].is_string()) {
        v.merges.push_back(m[0].get<std::string>() + " " + m[1].get<std::string>());
      } else {
        return data_loss("a merge is neither \"a b\" nor [\"a\", \"b\"]");
      }
    }
  }

  // Special ids: tokenizer_config.json, else the post-processor's template.
  bool add_bos_known = false, bos_known = false, eos_known = false;
  if (config_json) {
    json c = json::parse(*config_json, nullptr, /*allow_exceptions=*/false);
    if (c.is_object()) {
      bos_known = c.contains("bos_token");  // null says: no BOS
      eos_known = c.contains("eos_token");
      if (auto t = config_token(c, "bos_token")) v.bos_id = id_of(*t);
      if (auto t = config_token(c, "eos_token")) v.eos_id = id_of(*t);
      if (auto t = config_token(c, "pad_token")) v.pad_id = id_of(*t);
      if (c.contains("add_bos_token") && c["add_bos_token"].is_boolean()) {
        v.add_bos = c["add_bos_token"].get<bool>();
        add_bos_known = true;
      }
    }
  }
  const json post = j.value("post_processor", json());
  if (type_of(post) == "TemplateProcessing" && post.contains("single") &&
      post["single"].is_array() && !post["single"].empty()) {
    const json& first = post["single"][0];
    if (first.is_object() && first.contains("SpecialToken")) {
      const int32_t id = id_of(first["SpecialToken"].value("id", std::string()));
      if (id >= 0) {
        if (v.bos_id < 0) v.bos_id = id;
        bos_known = true;
        if (!add_bos_known) v.add_bos = true;
      }
    }
  }
  // No tokenizer_config.json: guess from the usual names, among special tokens only.
  auto special_id = [&](const char* t) {
    const int32_t id = id_of(t);
    return id >= 0 && v.token_types[static_cast<size_t>(id)] == kTokenControl ? id : -1;
  };
  if (!bos_known && v.bos_id < 0) {
    for (const char* t : {"<s>", "<|begin_of_text|>"}) {
      if ((v.bos_id = special_id(t)) >= 0) break;
    }
  }
  if (!eos_known && v.eos_id < 0) {
    for (const char* t : {"</s>", "<|end_of_text|>", "<|endoftext|>", "<|im_end|>"}) {
      if ((v.eos_id = special_id(t)) >= 0) break;
    }
  }
  return v;
}

}  // namespace

Result<VocabData> parse_hf_tokenizer_json(std::string_view json_text,
                                          const std::optional<std::string>& config_json,
                                          const std::string& name) {
  try {
    json j = json::parse(json_text, nullptr, /*allow_exceptions=*/false);
    if (j.is_discarded()) return data_loss(name + ": not valid JSON");
    auto v = parse(j, config_json);
    if (!v.ok()) return v.status().with_context(name);
    return v;
  } catch (const json::exception& e) {
    return data_loss(name + ": unexpected tokenizer.json structure: " + e.what());
  } catch (const std::exception& e) {
    return internal_error(name + ": reading tokenizer.json failed: " + e.what());
  }
}

}  // namespace tandem
