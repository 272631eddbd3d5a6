#include "plan/model_spec.h"

#include <nlohmann/json.hpp>

#include "base/mapped_file.h"

namespace tandem::plan {

double ModelSpec::attn_params_per_layer() const {
  const double h = static_cast<double>(hidden);
  if (mla()) {
    const double qk = static_cast<double>(qk_nope_dim + qk_rope_dim);
    double q = q_lora_rank > 0 ? h * q_lora_rank + double(q_lora_rank) * n_heads * qk
                               : h * n_heads * qk;
    double kv_a = h * double(kv_lora_rank + qk_rope_dim);
    double kv_b = double(kv_lora_rank) * n_heads * double(qk_nope_dim + v_head_dim);
    double o = double(n_heads) * v_head_dim * h;
    return q + kv_a + kv_b + o;
  }
  const double qd = double(n_heads) * head_dim, kvd = double(n_kv_heads) * head_dim;
  double p = h * qd + 2 * h * kvd + qd * h;
  if (qkv_bias) p += qd + 2 * kvd;
  return p;
}

double ModelSpec::always_params() const {
  double per_layer_dense = attn_params_per_layer() + dense_ffn_params();
  if (!moe()) return per_layer_dense * n_layers;
  double per_moe_layer = attn_params_per_layer() + router_params() + n_shared_experts * expert_params();
  return per_layer_dense * n_dense_layers + per_moe_layer * n_moe_layers();
}

double ModelSpec::params() const {
  double p = always_params() + double(n_moe_layers()) * n_experts * expert_params() + embedding_params();
  if (!tied_embeddings) p += head_params();
  return p;
}

double ModelSpec::active_params() const {
  return always_params() + double(n_moe_layers()) * n_active_experts * expert_params() + head_params();
}

double ModelSpec::matmul_flops_per_token() const {
  return 2.0 * (always_params() + double(n_moe_layers()) * n_active_experts * expert_params());
}

double ModelSpec::attn_flops_per_position() const {
  if (mla()) {
    // Absorbed MLA: per head, q.k over kv_lora_rank + rope dims, p.v over kv_lora_rank.
    return double(n_layers) * n_heads * (2.0 * double(kv_lora_rank + qk_rope_dim) + 2.0 * kv_lora_rank);
  }
  return double(n_layers) * 4.0 * n_heads * head_dim;
}

double ModelSpec::kv_bytes_per_token() const {
  if (mla()) return double(n_layers) * double(kv_lora_rank + qk_rope_dim) * kv_bytes;
  return double(n_layers) * 2.0 * n_kv_heads * head_dim * kv_bytes;
}

double ModelSpec::prefill_flops(int64_t n) const {
  // Token p (0-based) attends p + 1 positions: sum = n (n + 1) / 2.
  return matmul_flops_per_token() * n + head_flops() +
         attn_flops_per_position() * (double(n) * (n + 1) / 2.0);
}

double ModelSpec::decode_flops(int64_t ctx) const {
  return matmul_flops_per_token() + head_flops() + attn_flops_per_position() * double(ctx + 1);
}

double ModelSpec::decode_bytes(int64_t ctx) const {
  // One token touches its active experts only: always-on weights, k experts
  // per MoE layer, the head, one embedding row; plus the KV of ctx + 1 positions.
  double w = (always_params() + double(n_moe_layers()) * n_active_experts * expert_params() +
              head_params() + double(hidden)) * weight_bytes;
  return w + kv_bytes_per_token() * double(ctx + 1);
}

Status ModelSpec::validate() const {
  auto bad = [&](const std::string& what) { return invalid_argument("model '" + name + "': " + what); };
  if (hidden <= 0 || n_layers <= 0 || n_heads <= 0 || vocab <= 0) return bad("hidden_size, num_hidden_layers, num_attention_heads and vocab_size must be > 0");
  if (!mla() && (n_kv_heads <= 0 || head_dim <= 0 || n_heads % n_kv_heads != 0))
    return bad("num_key_value_heads must divide num_attention_heads, head_dim > 0");
  if (mla() && (qk_rope_dim <= 0 || qk_nope_dim <= 0 || v_head_dim <= 0))
    return bad("MLA needs qk_rope_head_dim, qk_nope_head_dim and v_head_dim");
  if (ffn <= 0 && (!moe() || n_dense_layers > 0)) return bad("intermediate_size must be > 0");
  if (moe() && (n_active_experts <= 0 || n_active_experts > n_experts)) return bad("num_experts_per_tok must be in [1, experts]");
  if (moe() && expert_width() <= 0) return bad("expert width must be > 0");
  if (n_dense_layers < 0 || n_dense_layers > n_layers) return bad("first_k_dense_replace out of range");
  if (!(weight_bytes > 0) || !(kv_bytes > 0)) return bad("weight_bytes and kv_bytes must be > 0");
  return ok_status();
}

namespace {

using nlohmann::json;

int64_t geti(const json& j, const char* key, int64_t def) {
  if (j.contains(key) && j[key].is_number_integer()) return j[key].get<int64_t>();
  return def;
}

Result<ModelSpec> spec_from(const json& j, const std::string& source) {
  ModelSpec m;
  m.name = j.value("name", "");
  if (m.name.empty()) m.name = j.value("_name_or_path", j.value("model_type", source));
  m.source = j.value("source", source);
  m.hidden = geti(j, "hidden_size", 0);
  m.ffn = geti(j, "intermediate_size", 0);
  m.n_layers = geti(j, "num_hidden_layers", 0);
  m.n_heads = geti(j, "num_attention_heads", 0);
  m.n_kv_heads = geti(j, "num_key_value_heads", m.n_heads);
  m.head_dim = geti(j, "head_dim", m.n_heads > 0 ? m.hidden / m.n_heads : 0);
  m.vocab = geti(j, "vocab_size", 0);
  m.max_context = geti(j, "max_position_embeddings", 0);
  m.tied_embeddings = j.value("tie_word_embeddings", false);
  m.qkv_bias = j.value("qkv_bias", j.value("attention_bias", false)) ||
               j.value("model_type", "") == "qwen2";
  m.n_experts = geti(j, "num_local_experts", geti(j, "n_routed_experts", geti(j, "num_experts", 0)));
  m.n_active_experts = geti(j, "num_experts_per_tok", 0);
  m.n_shared_experts = geti(j, "n_shared_experts", 0);
  m.moe_ffn = geti(j, "moe_intermediate_size", 0);
  m.n_dense_layers = m.n_experts > 0 ? geti(j, "first_k_dense_replace", 0) : 0;
  m.q_lora_rank = geti(j, "q_lora_rank", 0);
  m.kv_lora_rank = geti(j, "kv_lora_rank", 0);
  m.qk_nope_dim = geti(j, "qk_nope_head_dim", 0);
  m.qk_rope_dim = geti(j, "qk_rope_head_dim", 0);
  m.v_head_dim = geti(j, "v_head_dim", 0);
  m.weight_bytes = j.value("weight_bytes", 2.0);
  m.kv_bytes = j.value("kv_bytes", 2.0);
  m.compute_dtype = j.value("compute_dtype", std::string("bf16"));
  TANDEM_RETURN_IF_ERROR(m.validate().with_context(source));
  return m;
}

}  // namespace

Result<ModelSpec> model_spec_from_json(const std::string& json_text, const std::string& source) {
  json j = json::parse(json_text, nullptr, false);
  if (j.is_discarded() || !j.is_object()) return invalid_argument(source + ": not a JSON object");
  return spec_from(j, source);
}

Result<std::vector<ModelSpec>> parse_model_catalog(const std::string& json_text, const std::string& source) {
  json j = json::parse(json_text, nullptr, false);
  if (j.is_discarded() || !j.contains("models") || !j["models"].is_array())
    return invalid_argument(source + ": expected {\"models\": [...]}");
  std::vector<ModelSpec> out;
  for (const json& e : j["models"]) {
    if (!e.contains("name")) return invalid_argument(source + ": a model has no 'name'");
    TANDEM_ASSIGN_OR_RETURN(ModelSpec m, spec_from(e, source));
    out.push_back(std::move(m));
  }
  return out;
}

Result<std::vector<ModelSpec>> load_model_catalog(const std::string& path) {
  TANDEM_ASSIGN_OR_RETURN(std::string text, read_file(path));
  return parse_model_catalog(text, path);
}

Result<ModelSpec> find_model(const std::vector<ModelSpec>& catalog, const std::string& name) {
  std::string names;
  for (const ModelSpec& m : catalog) {
    if (m.name == name) return m;
    names += (names.empty() ? "" : ", ") + m.name;
  }
  return not_found("unknown model '" + name + "' (catalog has: " + names + "; or give a config.json / .gguf path)");
}

}  // namespace tandem::plan
