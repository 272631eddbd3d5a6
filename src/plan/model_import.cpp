#include "plan/model_import.h"

#include <filesystem>

#include <nlohmann/json.hpp>

#include "base/mapped_file.h"
#include "model/gguf.h"
#include "tensor/dtype.h"

namespace tandem::plan {

ModelSpec model_spec_from_config(const ModelConfig& c, const std::string& name, double weight_bytes,
                                 double kv_bytes, const std::string& compute_dtype) {
  ModelSpec m;
  m.name = name;
  m.source = name;
  m.hidden = c.hidden_size;
  m.ffn = c.intermediate_size;
  m.n_layers = c.n_layers;
  m.n_heads = c.n_heads;
  m.n_kv_heads = c.n_kv_heads;
  m.head_dim = c.head_dim;
  m.vocab = c.vocab_size;
  m.max_context = c.max_position;
  m.tied_embeddings = c.tie_embeddings;
  m.qkv_bias = c.qkv_bias;
  m.weight_bytes = weight_bytes;
  m.kv_bytes = kv_bytes;
  m.compute_dtype = compute_dtype;
  return m;
}

namespace {

double torch_dtype_bytes(const nlohmann::json& j) {
  const std::string t = j.value("torch_dtype", "bfloat16");
  if (t == "float32") return 4;
  if (t.find("float8") != std::string::npos) return 1;
  return 2;
}

Result<ModelSpec> from_hf(const std::string& path, const std::vector<ModelSpec>&) {
  TANDEM_ASSIGN_OR_RETURN(std::string text, read_file(path));
  auto j = nlohmann::json::parse(text, nullptr, false);
  if (j.is_discarded()) return invalid_argument(path + ": not valid JSON");
  // The model module's reader for the architectures it runs; the plan's own
  // parser (same keys, plus MoE and MLA) for the others (mixtral, deepseek).
  auto cfg = config_from_hf_json(text, path);
  TANDEM_ASSIGN_OR_RETURN(ModelSpec extra, model_spec_from_json(text, path));
  if (!cfg.ok()) {
    extra.name = std::filesystem::path(path).parent_path().filename().string();
    if (extra.name.empty()) extra.name = path;
    extra.weight_bytes = j.value("weight_bytes", torch_dtype_bytes(j));
    return extra;
  }
  ModelSpec m = model_spec_from_config(*cfg, std::filesystem::path(path).parent_path().filename().string(),
                                       torch_dtype_bytes(j), 2, "bf16");
  if (m.name.empty()) m.name = path;
  m.source = path;
  m.n_experts = extra.n_experts;
  m.n_active_experts = extra.n_active_experts;
  m.n_shared_experts = extra.n_shared_experts;
  m.moe_ffn = extra.moe_ffn;
  m.n_dense_layers = extra.n_dense_layers;
  TANDEM_RETURN_IF_ERROR(m.validate());
  return m;
}

Result<ModelSpec> from_gguf(const std::string& path) {
  TANDEM_ASSIGN_OR_RETURN(GgufFile g, GgufFile::open(path));
  TANDEM_ASSIGN_OR_RETURN(ModelConfig cfg, config_from_gguf(g));
  double wb = 2;
  std::string compute = "bf16";
  if (const TensorInfo* t = g.find_tensor("blk.0.attn_q.weight")) {
    const DTypeInfo& info = dtype_info(t->view.dtype);
    wb = double(info.block_bytes) / double(info.block_elems);
    if (t->view.dtype == DType::kQ8_0 || t->view.dtype == DType::kQ4_0) compute = "int8";
  }
  ModelSpec m = model_spec_from_config(cfg, std::filesystem::path(path).stem().string(), wb, 2, compute);
  m.source = path;
  for (const auto& [k, v] : g.metadata()) {
    auto ends = [&](const char* s) { std::string e(s); return k.size() > e.size() && k.compare(k.size() - e.size(), e.size(), e) == 0; };
    if (ends(".expert_count")) m.n_experts = v.i;
    if (ends(".expert_used_count")) m.n_active_experts = v.i;
    if (ends(".expert_feed_forward_length")) m.moe_ffn = v.i;
  }
  if (m.n_experts <= 1) m.n_experts = m.n_active_experts = 0;
  TANDEM_RETURN_IF_ERROR(m.validate());
  return m;
}

}  // namespace

Result<ModelSpec> resolve_model(const std::string& what, const std::vector<ModelSpec>& catalog) {
  for (const ModelSpec& m : catalog)
    if (m.name == what) return m;
  namespace fs = std::filesystem;
  std::error_code ec;
  if (fs::is_directory(what, ec)) {
    if (fs::exists(fs::path(what) / "config.json", ec)) return from_hf((fs::path(what) / "config.json").string(), catalog);
    return not_found(what + ": directory without config.json");
  }
  if (fs::is_regular_file(what, ec)) {
    if (what.size() > 5 && what.substr(what.size() - 5) == ".gguf") return from_gguf(what);
    return from_hf(what, catalog);
  }
  return find_model(catalog, what);
}

}  // namespace tandem::plan
