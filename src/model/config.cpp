#include "model/config.h"

#include <nlohmann/json.hpp>

namespace tandem {

const char* arch_name(Arch a) {
  switch (a) {
    case Arch::kLlama: return "llama";
    case Arch::kMistral: return "mistral";
    case Arch::kQwen2: return "qwen2";
  }
  return "?";
}

Status ModelConfig::validate(const std::string& source) const {
  auto bad = [&](const std::string& what) { return invalid_argument(source + ": " + what); };
  if (vocab_size <= 0) return bad("vocab size must be positive");
  if (hidden_size <= 0) return bad("hidden size must be positive");
  if (intermediate_size <= 0) return bad("intermediate size must be positive");
  if (n_layers <= 0) return bad("layer count must be positive");
  if (n_heads <= 0 || n_kv_heads <= 0) return bad("head counts must be positive");
  if (n_heads % n_kv_heads != 0)
    return bad("attention heads (" + std::to_string(n_heads) + ") not a multiple of KV heads (" +
               std::to_string(n_kv_heads) + ")");
  if (head_dim <= 0 || head_dim % 2 != 0 || head_dim > 512)
    return bad("head_dim " + std::to_string(head_dim) + " must be even and at most 512");
  if (!(rms_norm_eps > 0)) return bad("rms_norm_eps must be positive");
  if (!(rope_theta > 0)) return bad("rope_theta must be positive");
  if (max_position <= 0) return bad("context length must be positive");
  return ok_status();
}

Result<ModelConfig> config_from_hf_json(const std::string& json_text, const std::string& source) {
  nlohmann::json j = nlohmann::json::parse(json_text, nullptr, /*allow_exceptions=*/false);
  if (j.is_discarded() || !j.is_object()) return data_loss(source + ": not a valid JSON object");
  ModelConfig c;
  std::string type = j.value("model_type", "");
  if (type.empty() && j.contains("architectures") && j["architectures"].is_array() &&
      !j["architectures"].empty() && j["architectures"][0].is_string()) {
    const std::string a = j["architectures"][0];
    if (a == "LlamaForCausalLM") type = "llama";
    if (a == "MistralForCausalLM") type = "mistral";
    if (a == "Qwen2ForCausalLM") type = "qwen2";
  }
  if (type == "llama") {
    c.arch = Arch::kLlama;
  } else if (type == "mistral") {
    c.arch = Arch::kMistral;
  } else if (type == "qwen2") {
    c.arch = Arch::kQwen2;
    c.qkv_bias = true;
  } else {
    return unimplemented(source + ": model_type '" + type +
                         "' is not supported (supported: llama, mistral, qwen2)");
  }
  try {
    auto get_int = [&](const char* key, int32_t def, bool required) -> Result<int32_t> {
      if (!j.contains(key) || j[key].is_null()) {
        if (required) return invalid_argument(source + ": missing required key '" + key + "'");
        return def;
      }
      if (!j[key].is_number_integer())
        return invalid_argument(source + ": key '" + key + "' must be an integer");
      const int64_t v = j[key].get<int64_t>();
      if (v < 0 || v > (int64_t{1} << 30))
        return invalid_argument(source + ": key '" + key + "' out of range: " + std::to_string(v));
      return static_cast<int32_t>(v);
    };
    auto get_float = [&](const char* key, float def) -> Result<float> {
      if (!j.contains(key) || j[key].is_null()) return def;
      if (!j[key].is_number()) return invalid_argument(source + ": key '" + key + "' must be a number");
      return j[key].get<float>();
    };
    TANDEM_ASSIGN_OR_RETURN(c.vocab_size, get_int("vocab_size", 0, true));
    TANDEM_ASSIGN_OR_RETURN(c.hidden_size, get_int("hidden_size", 0, true));
    TANDEM_ASSIGN_OR_RETURN(c.intermediate_size, get_int("intermediate_size", 0, true));
    TANDEM_ASSIGN_OR_RETURN(c.n_layers, get_int("num_hidden_layers", 0, true));
    TANDEM_ASSIGN_OR_RETURN(c.n_heads, get_int("num_attention_heads", 0, true));
    TANDEM_ASSIGN_OR_RETURN(c.n_kv_heads, get_int("num_key_value_heads", c.n_heads, false));
    if (c.n_heads <= 0) return invalid_argument(source + ": num_attention_heads must be positive");
    TANDEM_ASSIGN_OR_RETURN(c.head_dim, get_int("head_dim", c.hidden_size / c.n_heads, false));
    TANDEM_ASSIGN_OR_RETURN(c.max_position, get_int("max_position_embeddings", 2048, false));
    TANDEM_ASSIGN_OR_RETURN(c.rms_norm_eps, get_float("rms_norm_eps", 1e-6f));
    TANDEM_ASSIGN_OR_RETURN(c.rope_theta, get_float("rope_theta", 10000.0f));
    TANDEM_ASSIGN_OR_RETURN(c.bos_id, get_int("bos_token_id", -1, false));
    TANDEM_ASSIGN_OR_RETURN(c.eos_id, get_int("eos_token_id", -1, false));
    if (c.arch == Arch::kMistral) {
      TANDEM_ASSIGN_OR_RETURN(c.sliding_window, get_int("sliding_window", 0, false));
    }
    if (c.arch == Arch::kQwen2 && j.value("use_sliding_window", false)) {
      return unimplemented(source + ": qwen2 use_sliding_window=true is not supported");
    }
    c.tie_embeddings = j.value("tie_word_embeddings", false);
    if (j.contains("rope_scaling") && !j["rope_scaling"].is_null()) {
      return unimplemented(source + ": rope_scaling is not supported yet");
    }
  } catch (const nlohmann::json::exception& e) {
    return data_loss(source + ": " + e.what());
  }
  c.rope_style = ops::RopeStyle::kNeox;
  TANDEM_RETURN_IF_ERROR(c.validate(source));
  return c;
}

Result<ModelConfig> config_from_gguf(const GgufFile& g) {
  ModelConfig c;
  TANDEM_ASSIGN_OR_RETURN(std::string arch, g.get_string("general.architecture"));
  if (arch == "llama") {
    c.arch = Arch::kLlama;
    c.rope_style = ops::RopeStyle::kInterleaved;  // convert_hf_to_gguf permutes Q/K for llama
  } else if (arch == "mistral") {
    c.arch = Arch::kMistral;
    c.rope_style = ops::RopeStyle::kInterleaved;
  } else if (arch == "qwen2") {
    c.arch = Arch::kQwen2;
    c.qkv_bias = true;
    c.rope_style = ops::RopeStyle::kNeox;
  } else {
    return unimplemented(g.name() + ": architecture '" + arch +
                         "' is not supported (supported: llama, mistral, qwen2)");
  }
  auto req_int = [&](const std::string& key) -> Result<int32_t> {
    TANDEM_ASSIGN_OR_RETURN(int64_t v, g.get_int(arch + "." + key));
    if (v < 0 || v > (int64_t{1} << 30))
      return invalid_argument(g.name() + ": " + arch + "." + key + " out of range");
    return static_cast<int32_t>(v);
  };
  auto opt_int = [&](const std::string& key, int32_t def) -> Result<int32_t> {
    if (g.find(arch + "." + key) == nullptr) return def;
    return req_int(key);
  };
  TANDEM_ASSIGN_OR_RETURN(c.hidden_size, req_int("embedding_length"));
  TANDEM_ASSIGN_OR_RETURN(c.intermediate_size, req_int("feed_forward_length"));
  TANDEM_ASSIGN_OR_RETURN(c.n_layers, req_int("block_count"));
  TANDEM_ASSIGN_OR_RETURN(c.n_heads, req_int("attention.head_count"));
  TANDEM_ASSIGN_OR_RETURN(c.n_kv_heads, opt_int("attention.head_count_kv", c.n_heads));
  if (c.n_heads <= 0) return invalid_argument(g.name() + ": attention.head_count must be positive");
  TANDEM_ASSIGN_OR_RETURN(c.head_dim, opt_int("attention.key_length", c.hidden_size / c.n_heads));
  TANDEM_ASSIGN_OR_RETURN(c.max_position, opt_int("context_length", 2048));
  TANDEM_ASSIGN_OR_RETURN(c.sliding_window, opt_int("attention.sliding_window", 0));
  if (g.find(arch + ".rope.freq_base") != nullptr) {
    TANDEM_ASSIGN_OR_RETURN(double theta, g.get_float(arch + ".rope.freq_base"));
    c.rope_theta = static_cast<float>(theta);
  }
  if (g.find(arch + ".attention.layer_norm_rms_epsilon") != nullptr) {
    TANDEM_ASSIGN_OR_RETURN(double eps, g.get_float(arch + ".attention.layer_norm_rms_epsilon"));
    c.rms_norm_eps = static_cast<float>(eps);
  }
  if (g.find(arch + ".rope.scaling.type") != nullptr) {
    TANDEM_ASSIGN_OR_RETURN(std::string st, g.get_string(arch + ".rope.scaling.type"));
    if (st != "none") return unimplemented(g.name() + ": rope scaling '" + st + "' is not supported yet");
  }
  if (g.find_tensor("rope_freqs.weight") != nullptr)
    return unimplemented(g.name() + ": rope_freqs (Llama-3 rope scaling) is not supported yet");
  if (const GgufValue* toks = g.find("tokenizer.ggml.tokens")) {
    c.vocab_size = static_cast<int32_t>(toks->array_size());
  } else if (const TensorInfo* emb = g.find_tensor("token_embd.weight")) {
    c.vocab_size = static_cast<int32_t>(emb->view.shape[0]);
  }
  if (g.find(arch + ".vocab_size") != nullptr) {
    TANDEM_ASSIGN_OR_RETURN(c.vocab_size, req_int("vocab_size"));
  }
  if (g.find("tokenizer.ggml.bos_token_id") != nullptr) {
    TANDEM_ASSIGN_OR_RETURN(int64_t v, g.get_int("tokenizer.ggml.bos_token_id"));
    c.bos_id = static_cast<int32_t>(v);
  }
  if (g.find("tokenizer.ggml.eos_token_id") != nullptr) {
    TANDEM_ASSIGN_OR_RETURN(int64_t v, g.get_int("tokenizer.ggml.eos_token_id"));
    c.eos_id = static_cast<int32_t>(v);
  }
  c.tie_embeddings = g.find_tensor("output.weight") == nullptr;
  TANDEM_RETURN_IF_ERROR(c.validate(g.name()));
  return c;
}

}  // namespace tandem
