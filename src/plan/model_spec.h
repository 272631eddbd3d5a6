// Architecture of a model for planning: shapes only, no weights. From it the
// cost model derives parameters, FLOPs and bytes per token, KV bytes per
// token and, for mixture-of-experts models, active parameters.
//
// Attention is grouped-query (GQA) or, when kv_lora_rank > 0, DeepSeek's
// multi-head latent attention (MLA), modelled with the up-projections
// absorbed into the query and output (the usual inference form): the cache
// holds kv_lora_rank + qk_rope_head_dim values per token and layer, and each
// head attends over that latent width.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "base/status.h"

namespace tandem::plan {

struct ModelSpec {
  std::string name;
  std::string source;  // where the shapes come from
  int64_t hidden = 0;
  int64_t ffn = 0;  // dense SwiGLU width (dense layers)
  int64_t n_layers = 0;
  int64_t n_heads = 0;
  int64_t n_kv_heads = 0;
  int64_t head_dim = 0;
  int64_t vocab = 0;
  int64_t max_context = 0;
  bool tied_embeddings = false;
  bool qkv_bias = false;
  // Mixture of experts (n_experts == 0: dense).
  int64_t n_experts = 0;         // routed experts per MoE layer
  int64_t n_active_experts = 0;  // routed experts per token
  int64_t n_shared_experts = 0;  // always-on experts per MoE layer
  int64_t moe_ffn = 0;           // width of one expert (ffn when 0)
  int64_t n_dense_layers = 0;    // leading layers with a dense FFN (DeepSeek first_k_dense_replace)
  // Multi-head latent attention (kv_lora_rank == 0: GQA).
  int64_t q_lora_rank = 0;
  int64_t kv_lora_rank = 0;
  int64_t qk_nope_dim = 0;
  int64_t qk_rope_dim = 0;
  int64_t v_head_dim = 0;
  double weight_bytes = 2;  // bytes per stored parameter
  double kv_bytes = 2;      // bytes per cached element
  std::string compute_dtype = "bf16";

  bool moe() const { return n_experts > 0; }
  bool mla() const { return kv_lora_rank > 0; }
  int64_t n_moe_layers() const { return moe() ? n_layers - n_dense_layers : 0; }
  int64_t expert_width() const { return moe_ffn > 0 ? moe_ffn : ffn; }

  // Per layer: attention projections, a dense FFN, one expert.
  double attn_params_per_layer() const;
  double dense_ffn_params() const { return 3.0 * hidden * ffn; }
  double expert_params() const { return 3.0 * hidden * expert_width(); }
  double router_params() const { return moe() ? double(hidden) * n_experts : 0; }
  double embedding_params() const { return double(vocab) * hidden; }
  double head_params() const { return double(vocab) * hidden; }

  // Parameters every token's matmuls touch: attention, dense FFNs, routers
  // and shared experts of all layers (head and embedding excluded).
  double always_params() const;
  // All parameters stored (tied embedding counted once).
  double params() const;
  // Parameters one token uses: always_params + its active experts + head
  // (the embedding row is a lookup, not a matmul).
  double active_params() const;

  // FLOPs of one token through the layer matmuls (2 per multiply-add), head excluded.
  double matmul_flops_per_token() const;
  double head_flops() const { return 2.0 * head_params(); }
  // Attention FLOPs per (token, attended position) over all layers: QK^T and PV.
  double attn_flops_per_position() const;
  // Bytes of K and V (or the MLA latent) cached per token, all layers.
  double kv_bytes_per_token() const;
  // Bytes of all stored weights.
  double weight_bytes_total() const { return params() * weight_bytes; }

  // Prefill of an n-token prompt from position 0 and decode of one token at
  // context `ctx` for one sequence alone: FLOPs and bytes moved (weights once
  // per step, KV read), as the roofline formulas in docs/planning.md write them.
  double prefill_flops(int64_t n) const;
  double decode_flops(int64_t ctx) const;
  double decode_bytes(int64_t ctx) const;

  Status validate() const;
};

// Parses one entry (Hugging Face config.json keys: hidden_size,
// num_hidden_layers, num_local_experts / n_routed_experts, kv_lora_rank, ...
// plus weight_bytes, kv_bytes, compute_dtype). Works on a raw config.json too.
Result<ModelSpec> model_spec_from_json(const std::string& json_text, const std::string& source);
// {"models": [ {...}, ... ]}
Result<std::vector<ModelSpec>> parse_model_catalog(const std::string& json_text, const std::string& source);
Result<std::vector<ModelSpec>> load_model_catalog(const std::string& path);
Result<ModelSpec> find_model(const std::vector<ModelSpec>& catalog, const std::string& name);

}  // namespace tandem::plan
