// Architecture hyperparameters, read from a Hugging Face config.json or a
// GGUF header. One struct for llama, mistral and qwen2: they differ only in
// flags (QKV bias, sliding window) and in RoPE pairing.
#pragma once

#include <cstdint>
#include <string>

#include "base/status.h"
#include "model/gguf.h"
#include "tensor/ops.h"

namespace tandem {

enum class Arch { kLlama, kMistral, kQwen2 };
const char* arch_name(Arch a);

struct ModelConfig {
  Arch arch = Arch::kLlama;
  int32_t vocab_size = 0;
  int32_t hidden_size = 0;        // d_model
  int32_t intermediate_size = 0;  // SwiGLU hidden width
  int32_t n_layers = 0;
  int32_t n_heads = 0;
  int32_t n_kv_heads = 0;  // n_heads % n_kv_heads == 0 (GQA)
  int32_t head_dim = 0;
  int32_t max_position = 0;    // context length the model was trained for
  int32_t sliding_window = 0;  // 0 = full attention (mistral may set it)
  float rms_norm_eps = 1e-5f;
  float rope_theta = 10000.0f;
  bool qkv_bias = false;  // qwen2
  bool tie_embeddings = false;
  ops::RopeStyle rope_style = ops::RopeStyle::kNeox;
  int32_t bos_id = -1;
  int32_t eos_id = -1;

  int32_t q_dim() const { return n_heads * head_dim; }
  int32_t kv_dim() const { return n_kv_heads * head_dim; }
  // Checks internal consistency; `source` names the file in messages.
  Status validate(const std::string& source) const;
};

// Parses a Hugging Face config.json (text); `source` names the file in errors.
Result<ModelConfig> config_from_hf_json(const std::string& json_text, const std::string& source);
Result<ModelConfig> config_from_gguf(const GgufFile& gguf);

}  // namespace tandem
