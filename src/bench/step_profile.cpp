#include "bench/step_profile.h"

#include <algorithm>
#include <time.h>

#include <chrono>
#include <memory>
#include <random>

#include <nlohmann/json.hpp>

#include "model/kv_cache.h"

namespace tandem::bench {

std::string profile_model_config_json(const Model& model, const std::string& name) {
  const ModelConfig& mc = model.config();
  const DType wd = model.weight_dtype();
  const DTypeInfo& di = dtype_info(wd);
  const nlohmann::json j = {{"name", name}, {"hidden_size", mc.hidden_size},
                            {"intermediate_size", mc.intermediate_size}, {"num_hidden_layers", mc.n_layers},
                            {"num_attention_heads", mc.n_heads}, {"num_key_value_heads", mc.n_kv_heads},
                            {"head_dim", mc.head_dim}, {"vocab_size", mc.vocab_size},
                            {"max_position_embeddings", mc.max_position}, {"tie_word_embeddings", mc.tie_embeddings},
                            {"qkv_bias", mc.qkv_bias}, {"weight_bytes", double(di.block_bytes) / di.block_elems},
                            {"kv_bytes", 4.0},  // the engine's KV cache is f32
                            {"compute_dtype", (wd == DType::kQ8_0 || wd == DType::kQ4_0) ? "int8" : "fp32"}};
  return j.dump();
}

std::vector<StepPoint> default_step_grid(int32_t max_context, int32_t max_batch) {
  std::vector<StepPoint> g;
  const int32_t C = max_context;
  // Prefill: one chunk from position 0, lengths doubling up to C / 2 (and 512).
  for (int32_t len = 8; len <= std::min(C / 2, 512); len *= 2) g.push_back({"prefill", {{0, len, true}}, 0, {}});
  // Prefill chunks later in the prompt (attention over a longer prefix).
  for (int32_t start : {C / 4, C / 2}) g.push_back({"prefill", {{start, std::min(64, C / 4), true}}, 0, {}});
  // Decode: batches of 1..max_batch at short, middle and long context.
  for (int32_t b = 1; b <= max_batch; b *= 2)
    for (int32_t ctx : {16, C / 2, C - 8}) {
      StepPoint p{"decode", {}, 0, {}};
      for (int32_t i = 0; i < b; ++i) p.chunks.push_back({ctx, 1, true});
      g.push_back(p);
    }
  // Mixed: decodes plus one prompt chunk, as continuous batching runs them.
  for (int32_t b : {4, std::max(4, max_batch / 2)}) {
    StepPoint p{"mixed", {}, 0, {}};
    for (int32_t i = 0; i < b; ++i) p.chunks.push_back({C / 4, 1, true});
    p.chunks.push_back({0, std::min(64, C / 4), true});
    g.push_back(p);
  }
  return g;
}

Status run_step_profile(const Model& model, std::vector<StepPoint>& grid, const StepProfileOptions& o,
                        ThreadPool& pool, const std::function<void(const std::string&)>& progress) {
  const ModelConfig& c = model.config();
  constexpr int32_t kBlock = 16;
  size_t max_chunks = 1;
  int32_t max_pos = 1;
  for (const StepPoint& p : grid) {
    max_chunks = std::max(max_chunks, p.chunks.size());
    for (const StepChunk& ch : p.chunks) max_pos = std::max(max_pos, ch.start + ch.len);
  }
  if (max_pos > c.max_position && c.max_position > 0)
    return out_of_range("step profile: a point reaches position " + std::to_string(max_pos) +
                        " beyond the model's context " + std::to_string(c.max_position));
  const int32_t per_seq = (max_pos + kBlock - 1) / kBlock;
  KvCache cache(c, per_seq * int32_t(max_chunks), kBlock);
  std::vector<std::vector<int32_t>> tables(max_chunks);
  for (size_t q = 0; q < max_chunks; ++q)
    for (int32_t b = 0; b < per_seq; ++b) tables[q].push_back(int32_t(q) * per_seq + b);
  std::mt19937_64 rng(o.seed);
  std::uniform_int_distribution<int32_t> tok(0, c.vocab_size - 1);
  std::vector<int32_t> tokens(size_t(max_pos) * max_chunks);
  for (auto& t : tokens) t = tok(rng);
  ForwardScratch scratch;
  std::vector<float> logits;
  for (StepPoint& p : grid) {
    std::vector<SeqChunk> batch(p.chunks.size());
    for (size_t i = 0; i < p.chunks.size(); ++i) {
      const StepChunk& ch = p.chunks[i];
      batch[i].tokens = std::span<const int32_t>(tokens.data() + i * size_t(max_pos) + size_t(ch.start), size_t(ch.len));
      batch[i].start_pos = ch.start;
      batch[i].block_table = tables[i];
      batch[i].all_logits = false;
    }
    p.samples.clear();
    for (int r = 0; r <= o.reps; ++r) {
      auto clock_s = [&] {
        if (!o.cpu_time) return std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch()).count();
        timespec ts{};
        clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
        return double(ts.tv_sec) + 1e-9 * double(ts.tv_nsec);
      };
      const double t0 = clock_s();
      TANDEM_RETURN_IF_ERROR(model.forward(batch, cache, logits, scratch, &pool));
      const double s = clock_s() - t0;
      if (r > 0) p.samples.push_back(s);  // the first run warms caches and pages
    }
    std::vector<double> v = p.samples;
    std::sort(v.begin(), v.end());
    p.seconds = v[v.size() / 2];
    if (progress) {
      int64_t toks = 0;
      for (const StepChunk& ch : p.chunks) toks += ch.len;
      progress(p.kind + ": " + std::to_string(p.chunks.size()) + " chunks, " + std::to_string(toks) +
               " tokens, " + std::to_string(p.seconds * 1e3) + " ms");
    }
  }
  return ok_status();
}

}  // namespace tandem::bench
