#include "bench/model_bench.h"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <memory>
#include <random>

#include "tensor/dtype.h"

namespace tandem::bench {
namespace {

using Clock = std::chrono::steady_clock;

double seconds_since(Clock::time_point t0) {
  return std::chrono::duration<double>(Clock::now() - t0).count();
}

constexpr int32_t kBlockSize = 16;

// A KV cache of `n_seqs` sequences of up to `n_positions` each, with one
// block table per sequence.
struct SeqCaches {
  std::unique_ptr<KvCache> cache;
  std::vector<std::vector<int32_t>> tables;
};

SeqCaches make_caches(const ModelConfig& c, int32_t n_seqs, int32_t n_positions) {
  const int32_t per_seq = (n_positions + kBlockSize - 1) / kBlockSize;
  SeqCaches s;
  s.cache = std::make_unique<KvCache>(c, per_seq * n_seqs, kBlockSize);
  s.tables.resize(static_cast<size_t>(n_seqs));
  for (int32_t q = 0; q < n_seqs; ++q)
    for (int32_t b = 0; b < per_seq; ++b) s.tables[static_cast<size_t>(q)].push_back(q * per_seq + b);
  return s;
}

std::vector<int32_t> random_tokens(int64_t n, int32_t vocab, std::mt19937_64& rng) {
  std::uniform_int_distribution<int32_t> dist(0, vocab - 1);
  std::vector<int32_t> t(static_cast<size_t>(n));
  for (auto& x : t) x = dist(rng);
  return t;
}

}  // namespace

ModelCost model_cost(const Model& model) {
  const ModelWeights& w = model.weights();
  const ModelConfig& c = model.config();
  ModelCost cost;
  double bytes = 0, params = 0;
  auto matrix = [&](const TensorView& t) {
    bytes += static_cast<double>(t.nbytes);
    params += static_cast<double>(t.numel());
    cost.layer_matmul_params += static_cast<double>(t.numel());
  };
  auto vec = [&](const std::vector<float>& v) {
    bytes += static_cast<double>(v.size() * sizeof(float));
    params += static_cast<double>(v.size());
  };
  for (const LayerWeights& L : w.layers) {
    for (const TensorView* t : {&L.wq, &L.wk, &L.wv, &L.wo, &L.w_gate, &L.w_up, &L.w_down})
      matrix(*t);
    for (const std::vector<float>* v : {&L.attn_norm, &L.ffn_norm, &L.bq, &L.bk, &L.bv}) vec(*v);
  }
  vec(w.output_norm);
  cost.head_params = static_cast<double>(w.output.numel());
  bytes += static_cast<double>(w.output.nbytes);
  params += cost.head_params;
  // One embedding row per token; the table's parameters count unless the
  // head is the same tensor.
  bytes += static_cast<double>(dtype_row_bytes(w.token_embd.dtype, c.hidden_size));
  if (w.token_embd.data != w.output.data) params += static_cast<double>(w.token_embd.numel());
  cost.tg_bytes_per_token = bytes;
  cost.params = params;
  return cost;
}

double prefill_flops(const ModelConfig& c, const ModelCost& cost, int64_t n_tokens, int64_t chunk) {
  const int64_t n_chunks = (n_tokens + chunk - 1) / std::max<int64_t>(1, chunk);
  double attended = 0;  // sum over tokens of the cached positions each attends to
  for (int64_t p = 0; p < n_tokens; ++p) {
    const int64_t span = c.sliding_window > 0 ? std::min<int64_t>(p + 1, c.sliding_window) : p + 1;
    attended += static_cast<double>(span);
  }
  return 2.0 * cost.layer_matmul_params * static_cast<double>(n_tokens) +
         2.0 * cost.head_params * static_cast<double>(n_chunks) +
         4.0 * c.n_heads * c.head_dim * static_cast<double>(c.n_layers) * attended;
}

double PhaseResult::mean() const {
  if (tokens_per_s.empty()) return 0;
  double s = 0;
  for (double v : tokens_per_s) s += v;
  return s / static_cast<double>(tokens_per_s.size());
}

double PhaseResult::stddev() const {
  if (tokens_per_s.size() < 2) return 0;
  const double m = mean();
  double s = 0;
  for (double v : tokens_per_s) s += (v - m) * (v - m);
  return std::sqrt(s / static_cast<double>(tokens_per_s.size() - 1));
}

Result<ModelBenchResult> run_model_bench(const Model& model, const ModelBenchOptions& o,
                                         ThreadPool& pool,
                                         const std::function<void(const std::string&)>& progress) {
  const ModelConfig& c = model.config();
  if (o.pp_tokens < 1 || o.tg_tokens < 1 || o.reps < 1 || o.chunk_tokens < 1 || o.batch < 0)
    return invalid_argument("bench: pp, tg, reps and chunk must be >= 1, batch >= 0");
  if (std::max(o.pp_tokens, o.tg_tokens) > c.max_position) {
    return out_of_range("bench: " + std::to_string(std::max(o.pp_tokens, o.tg_tokens)) +
                        " positions do not fit the model's context length " +
                        std::to_string(c.max_position));
  }
  auto say = [&](const std::string& s) {
    if (progress) progress(s);
  };
  std::mt19937_64 rng(o.seed);
  ModelBenchResult res;
  std::vector<float> logits;
  ForwardScratch scratch;

  // Prompt processing: one sequence from position 0, chunk after chunk.
  {
    SeqCaches kv = make_caches(c, 1, o.pp_tokens);
    res.kv_cache_bytes = std::max(res.kv_cache_bytes, kv.cache->bytes());
    // Warm-up, as llama-bench does: one forward of a full chunk faults in
    // every weight and grows the scratch buffers to their largest size. With
    // a one-token warm-up, rep 1 paid for first-touching about 60 MB of
    // scratch (the embedding step's resizes): 95-224 ms of a TinyLlama pp512.
    const std::vector<int32_t> warm = random_tokens(std::min(o.pp_tokens, o.chunk_tokens), c.vocab_size, rng);
    SeqChunk w;
    w.tokens = warm;
    w.block_table = kv.tables[0];
    TANDEM_RETURN_IF_ERROR(model.forward(std::span<const SeqChunk>(&w, 1), *kv.cache, logits, scratch, &pool));
    scratch.times = o.op_times ? &res.pp_ops : nullptr;
    for (int32_t r = 0; r < o.reps; ++r) {
      const std::vector<int32_t> prompt = random_tokens(o.pp_tokens, c.vocab_size, rng);
      const auto t0 = Clock::now();
      for (int32_t start = 0; start < o.pp_tokens; start += o.chunk_tokens) {
        const int32_t len = std::min(o.chunk_tokens, o.pp_tokens - start);
        SeqChunk ch;
        ch.tokens = std::span<const int32_t>(prompt.data() + start, static_cast<size_t>(len));
        ch.start_pos = start;
        ch.block_table = kv.tables[0];
        TANDEM_RETURN_IF_ERROR(model.forward(std::span<const SeqChunk>(&ch, 1), *kv.cache, logits, scratch, &pool));
      }
      const double dt = seconds_since(t0);
      res.pp.tokens_per_s.push_back(o.pp_tokens / dt);
      say("pp" + std::to_string(o.pp_tokens) + " rep " + std::to_string(r + 1) + "/" +
          std::to_string(o.reps) + ": " + std::to_string(o.pp_tokens / dt) + " tokens/s");
    }
  }

  // Token generation: one sequence, one token per forward call.
  {
    SeqCaches kv = make_caches(c, 1, o.tg_tokens);
    res.kv_cache_bytes = std::max(res.kv_cache_bytes, kv.cache->bytes());
    for (int32_t r = -1; r < o.reps; ++r) {  // r == -1: warm-up step
      const int32_t steps = r < 0 ? 1 : o.tg_tokens;
      scratch.times = o.op_times && r >= 0 ? &res.tg_ops : nullptr;
      const std::vector<int32_t> toks = random_tokens(steps, c.vocab_size, rng);
      const auto t0 = Clock::now();
      for (int32_t i = 0; i < steps; ++i) {
        SeqChunk ch;
        ch.tokens = std::span<const int32_t>(toks.data() + i, 1);
        ch.start_pos = i;
        ch.block_table = kv.tables[0];
        TANDEM_RETURN_IF_ERROR(model.forward(std::span<const SeqChunk>(&ch, 1), *kv.cache, logits, scratch, &pool));
      }
      const double dt = seconds_since(t0);
      if (r < 0) continue;
      res.tg.tokens_per_s.push_back(steps / dt);
      say("tg" + std::to_string(o.tg_tokens) + " rep " + std::to_string(r + 1) + "/" +
          std::to_string(o.reps) + ": " + std::to_string(steps / dt) + " tokens/s");
    }
  }

  // Batched generation: `batch` sequences, each one token per forward call.
  if (o.batch > 1) {
    const int32_t B = o.batch;
    SeqCaches kv = make_caches(c, B, o.tg_tokens);
    res.kv_cache_bytes = std::max(res.kv_cache_bytes, kv.cache->bytes());
    std::vector<SeqChunk> chunks(static_cast<size_t>(B));
    for (int32_t r = -1; r < o.reps; ++r) {  // r == -1: warm-up step
      const int32_t steps = r < 0 ? 1 : o.tg_tokens;
      scratch.times = o.op_times && r >= 0 ? &res.tg_batch_ops : nullptr;
      const std::vector<int32_t> toks = random_tokens(int64_t{steps} * B, c.vocab_size, rng);
      const auto t0 = Clock::now();
      for (int32_t i = 0; i < steps; ++i) {
        for (int32_t q = 0; q < B; ++q) {
          SeqChunk& ch = chunks[static_cast<size_t>(q)];
          ch.tokens = std::span<const int32_t>(toks.data() + int64_t{i} * B + q, 1);
          ch.start_pos = i;
          ch.block_table = kv.tables[static_cast<size_t>(q)];
        }
        TANDEM_RETURN_IF_ERROR(model.forward(chunks, *kv.cache, logits, scratch, &pool));
      }
      const double dt = seconds_since(t0);
      if (r < 0) continue;
      res.tg_batch.tokens_per_s.push_back(static_cast<double>(steps) * B / dt);
      say("tg" + std::to_string(o.tg_tokens) + " x" + std::to_string(B) + " rep " +
          std::to_string(r + 1) + "/" + std::to_string(o.reps) + ": " +
          std::to_string(static_cast<double>(steps) * B / dt) + " tokens/s");
    }
  }
  scratch.times = nullptr;
  return res;
}

}  // namespace tandem::bench
