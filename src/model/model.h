// A loaded decoder-only transformer (llama / mistral / qwen2) and its forward
// pass over a batch of sequences at different positions.
//
// Weights keep their stored dtype. Matrices the CPU kernels read faster in
// the interleaved kPanel8 layout (src/tensor/packed.h) are repacked at load
// time into memory the model owns, and their pages of the file mapping are
// released, so resident memory stays about one copy of the weights; the rest
// stay in the memory-mapped file. Norm weights and biases become f32.
#pragma once

#include <memory>
#include <optional>
#include <span>
#include <string>
#include <variant>
#include <vector>

#include "base/huge_pages.h"
#include "base/status.h"
#include "base/thread_pool.h"
#include "model/config.h"
#include "model/gguf.h"
#include "model/kv_cache.h"
#include "model/safetensors.h"

namespace tandem {

struct LayerWeights {
  std::vector<float> attn_norm;          // [hidden]
  TensorView wq, wk, wv, wo;             // [q_dim, hidden], [kv_dim, hidden] x2, [hidden, q_dim]
  std::vector<float> bq, bk, bv;         // qwen2 only: [q_dim], [kv_dim], [kv_dim]
  std::vector<float> ffn_norm;           // [hidden]
  TensorView w_gate, w_up, w_down;       // [ffn, hidden] x2, [hidden, ffn]
};

struct ModelWeights {
  TensorView token_embd;  // [vocab, hidden]
  std::vector<LayerWeights> layers;
  std::vector<float> output_norm;  // [hidden]
  TensorView output;               // [vocab, hidden] (token_embd when tied)
};

// One sequence's part of a forward batch.
struct SeqChunk {
  std::span<const int32_t> tokens;       // new tokens, at positions start_pos, start_pos + 1, ...
  int32_t start_pos = 0;                 // positions before it are already in the KV cache
  std::span<const int32_t> block_table;  // KV blocks covering [0, start_pos + tokens.size())
  bool all_logits = false;               // logits for every token, else only for the last
};

// Where forward() spends its wall time, by operation, summed over calls.
// Each op's time is measured on the calling thread around the whole op, so
// a parallel op counts its wall time once, not once per worker.
struct ForwardTimes {
  enum Op {
    kEmbed,      // token embedding rows, batch bookkeeping
    kNorm,       // RMSNorm before attention, before the FFN, and the final one
    kQkv,        // Q, K, V projections
    kRopeKv,     // RoPE on Q and K, K/V rows into the cache
    kAttention,  // attention over the KV cache
    kWo,         // output projection
    kResidual,   // residual adds
    kGateUp,     // FFN gate and up projections
    kSiluMul,    // SwiGLU
    kDown,       // FFN down projection
    kHead,       // output head
    kCount
  };
  double seconds[kCount] = {};
  int64_t calls = 0;
  static const char* name(int op);
  double total() const;
};

// Reusable scratch memory for forward(); one per thread that calls forward.
struct ForwardScratch {
  std::vector<float> x, xn, q, k, v, att, ffn_gate, ffn_up, ffn_out, tmp, last;
  std::vector<int32_t> pos;
  ForwardTimes* times = nullptr;  // when set, forward() adds its op times here
};

class Model {
 public:
  // `path`: a Hugging Face model directory (config.json + *.safetensors) or a
  // .gguf file. Errors name the file, the tensor and the problem.
  static Result<std::unique_ptr<Model>> load(const std::string& path);

  const ModelConfig& config() const { return config_; }
  const ModelWeights& weights() const { return weights_; }
  // "gguf" or "safetensors"; weight dtype of the attention Q projection.
  const std::string& format() const { return format_; }
  DType weight_dtype() const { return weights_.layers[0].wq.dtype; }
  // The GGUF file, when loaded from one (for its tokenizer metadata).
  const GgufFile* gguf() const { return gguf_ ? &*gguf_ : nullptr; }
  const std::string& path() const { return path_; }

  // Runs the batch: writes each chunk's K/V into `cache` and returns logits,
  // rows in chunk order: all tokens of a chunk when all_logits, else its last.
  // logits: [n_rows, vocab]. Results for a chunk do not depend on the other
  // chunks in the batch (bitwise).
  Status forward(std::span<const SeqChunk> batch, KvCache& cache, std::vector<float>& logits,
                 ForwardScratch& scratch, ThreadPool* pool) const;

 private:
  Model() = default;
  Status load_weights_hf();
  Status load_weights_gguf();
  Status pack_weights();

  // One arena holds the kPanel8 copies of all packed weights, 2 MiB aligned
  // and advised for transparent huge pages (see pack_weights).
  HugePages packed_;

  std::string path_;
  std::string format_;
  ModelConfig config_;
  ModelWeights weights_;
  std::optional<GgufFile> gguf_;
  std::optional<SafetensorsSet> safetensors_;
};

}  // namespace tandem
