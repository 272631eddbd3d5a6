#include "model/model.h"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <functional>

#include "base/mapped_file.h"
#include "tensor/ops.h"
#include "tensor/packed.h"
#include "tensor/quant.h"

namespace tandem {
namespace {

using FindFn = std::function<const TensorInfo*(const std::string&)>;

// Runs fn over rows [0, n) of a row-wise op (each row `row_elems` floats),
// split over the pool when there is enough work to pay for waking it
// (prefill, big batches), inline otherwise. Rows are independent in every op
// that uses this, so the split never changes a result. kMinElems: floats per
// chunk; the cheap ops (a norm, a residual add: a few loads and FMAs per
// float) take 4x more, so 16 sequences' rows of 2048 run inline (TinyLlama
// q8_0, 16 sequences: norms 0.60-0.65 -> 0.33 ms a step, bench model --ops).
constexpr int64_t kMinElems = int64_t{1} << 14;
constexpr int64_t kMinElemsCheap = int64_t{1} << 16;

void for_rows(ThreadPool* pool, int64_t n, int64_t row_elems, const std::function<void(int64_t, int64_t)>& fn,
              int64_t min_elems = kMinElems) {
  const int64_t kMinElems = min_elems;
  if (pool == nullptr || pool->size() == 1 || n * row_elems < 2 * kMinElems) {
    fn(0, n);
    return;
  }
  const size_t grain = static_cast<size_t>(std::max<int64_t>(1, kMinElems / std::max<int64_t>(1, row_elems)));
  pool->parallel_for(static_cast<size_t>(n), grain, [&](size_t a, size_t b) {
    fn(static_cast<int64_t>(a), static_cast<int64_t>(b));
  });
}

// Adds the wall time since the previous lap to an op of ForwardTimes; does
// nothing (not even read the clock) when no ForwardTimes was given.
class OpClock {
 public:
  explicit OpClock(ForwardTimes* times) : times_(times) {
    if (times_ != nullptr) last_ = std::chrono::steady_clock::now();
  }
  void lap(ForwardTimes::Op op) {
    if (times_ == nullptr) return;
    const auto now = std::chrono::steady_clock::now();
    times_->seconds[op] += std::chrono::duration<double>(now - last_).count();
    last_ = now;
  }

 private:
  ForwardTimes* times_;
  std::chrono::steady_clock::time_point last_;
};

// Finds a 2-D weight and checks its shape and dtype.
Result<TensorView> get_matrix(const FindFn& find, const std::string& file, const std::string& name,
                              int64_t rows, int64_t cols) {
  const TensorInfo* t = find(name);
  if (t == nullptr) return not_found(file + ": missing tensor '" + name + "'");
  const std::vector<int64_t> want{rows, cols};
  if (t->view.shape != want) {
    return invalid_argument(file + ": tensor '" + name + "' has shape " + t->view.shape_string() +
                            ", expected " + shape_to_string(want) + " from the model config");
  }
  if (!ops::matmul_supports(t->view.dtype)) {
    return unimplemented(file + ": tensor '" + name + "' has dtype " +
                         std::string(dtype_name(t->view.dtype)) +
                         ", which the CPU backend does not support yet (supported: f32, f16, "
                         "bf16, q8_0, q4_0)");
  }
  if (cols % dtype_info(t->view.dtype).block_elems != 0) {
    return invalid_argument(file + ": tensor '" + name + "' row length " + std::to_string(cols) +
                            " is not a multiple of the " + std::string(dtype_name(t->view.dtype)) +
                            " block size");
  }
  return t->view;
}

// Finds a 1-D tensor and converts it to f32.
Result<std::vector<float>> get_vector(const FindFn& find, const std::string& file,
                                      const std::string& name, int64_t n) {
  const TensorInfo* t = find(name);
  if (t == nullptr) return not_found(file + ": missing tensor '" + name + "'");
  if (t->view.shape != std::vector<int64_t>{n}) {
    return invalid_argument(file + ": tensor '" + name + "' has shape " + t->view.shape_string() +
                            ", expected " + shape_to_string({n}) + " from the model config");
  }
  std::vector<float> out(static_cast<size_t>(n));
  if (n % dtype_info(t->view.dtype).block_elems != 0 ||
      !dequantize_row(t->view.dtype, t->view.data, out.data(), n)) {
    return unimplemented(file + ": tensor '" + name + "' has unsupported dtype " +
                         std::string(dtype_name(t->view.dtype)));
  }
  return out;
}

struct NameScheme {
  std::string embd, out_norm, output;
  std::function<std::string(int, const char*)> layer;  // (layer, canonical part) -> name
};

// Canonical parts: attn_norm q k v o q_bias k_bias v_bias ffn_norm gate up down
NameScheme hf_names() {
  NameScheme s;
  s.embd = "model.embed_tokens.weight";
  s.out_norm = "model.norm.weight";
  s.output = "lm_head.weight";
  s.layer = [](int l, const char* part) {
    const std::string p = "model.layers." + std::to_string(l) + ".";
    const std::string k = part;
    if (k == "attn_norm") return p + "input_layernorm.weight";
    if (k == "q") return p + "self_attn.q_proj.weight";
    if (k == "k") return p + "self_attn.k_proj.weight";
    if (k == "v") return p + "self_attn.v_proj.weight";
    if (k == "o") return p + "self_attn.o_proj.weight";
    if (k == "q_bias") return p + "self_attn.q_proj.bias";
    if (k == "k_bias") return p + "self_attn.k_proj.bias";
    if (k == "v_bias") return p + "self_attn.v_proj.bias";
    if (k == "ffn_norm") return p + "post_attention_layernorm.weight";
    if (k == "gate") return p + "mlp.gate_proj.weight";
    if (k == "up") return p + "mlp.up_proj.weight";
    return p + "mlp.down_proj.weight";
  };
  return s;
}

NameScheme gguf_names() {
  NameScheme s;
  s.embd = "token_embd.weight";
  s.out_norm = "output_norm.weight";
  s.output = "output.weight";
  s.layer = [](int l, const char* part) {
    const std::string p = "blk." + std::to_string(l) + ".";
    const std::string k = part;
    if (k == "attn_norm") return p + "attn_norm.weight";
    if (k == "q") return p + "attn_q.weight";
    if (k == "k") return p + "attn_k.weight";
    if (k == "v") return p + "attn_v.weight";
    if (k == "o") return p + "attn_output.weight";
    if (k == "q_bias") return p + "attn_q.bias";
    if (k == "k_bias") return p + "attn_k.bias";
    if (k == "v_bias") return p + "attn_v.bias";
    if (k == "ffn_norm") return p + "ffn_norm.weight";
    if (k == "gate") return p + "ffn_gate.weight";
    if (k == "up") return p + "ffn_up.weight";
    return p + "ffn_down.weight";
  };
  return s;
}

Status load_all(const ModelConfig& c, const FindFn& find, const std::string& file,
                const NameScheme& n, ModelWeights& w) {
  const int64_t H = c.hidden_size, Q = c.q_dim(), KV = c.kv_dim(), F = c.intermediate_size,
                V = c.vocab_size;
  TANDEM_ASSIGN_OR_RETURN(w.token_embd, get_matrix(find, file, n.embd, V, H));
  w.layers.resize(static_cast<size_t>(c.n_layers));
  for (int l = 0; l < c.n_layers; ++l) {
    LayerWeights& L = w.layers[static_cast<size_t>(l)];
    TANDEM_ASSIGN_OR_RETURN(L.attn_norm, get_vector(find, file, n.layer(l, "attn_norm"), H));
    TANDEM_ASSIGN_OR_RETURN(L.wq, get_matrix(find, file, n.layer(l, "q"), Q, H));
    TANDEM_ASSIGN_OR_RETURN(L.wk, get_matrix(find, file, n.layer(l, "k"), KV, H));
    TANDEM_ASSIGN_OR_RETURN(L.wv, get_matrix(find, file, n.layer(l, "v"), KV, H));
    TANDEM_ASSIGN_OR_RETURN(L.wo, get_matrix(find, file, n.layer(l, "o"), H, Q));
    if (c.qkv_bias) {
      TANDEM_ASSIGN_OR_RETURN(L.bq, get_vector(find, file, n.layer(l, "q_bias"), Q));
      TANDEM_ASSIGN_OR_RETURN(L.bk, get_vector(find, file, n.layer(l, "k_bias"), KV));
      TANDEM_ASSIGN_OR_RETURN(L.bv, get_vector(find, file, n.layer(l, "v_bias"), KV));
    }
    TANDEM_ASSIGN_OR_RETURN(L.ffn_norm, get_vector(find, file, n.layer(l, "ffn_norm"), H));
    TANDEM_ASSIGN_OR_RETURN(L.w_gate, get_matrix(find, file, n.layer(l, "gate"), F, H));
    TANDEM_ASSIGN_OR_RETURN(L.w_up, get_matrix(find, file, n.layer(l, "up"), F, H));
    TANDEM_ASSIGN_OR_RETURN(L.w_down, get_matrix(find, file, n.layer(l, "down"), H, F));
  }
  TANDEM_ASSIGN_OR_RETURN(w.output_norm, get_vector(find, file, n.out_norm, H));
  if (c.tie_embeddings && find(n.output) == nullptr) {
    w.output = w.token_embd;
  } else {
    TANDEM_ASSIGN_OR_RETURN(w.output, get_matrix(find, file, n.output, V, H));
  }
  return ok_status();
}

bool has_gguf_magic(const std::string& path) {
  auto f = MappedFile::open(path);
  return f.ok() && f->size() >= 4 && std::memcmp(f->data(), "GGUF", 4) == 0;
}

}  // namespace

Result<std::unique_ptr<Model>> Model::load(const std::string& path) {
  std::unique_ptr<Model> m(new Model());
  m->path_ = path;
  if (is_directory(path)) {
    m->format_ = "safetensors";
    TANDEM_RETURN_IF_ERROR(m->load_weights_hf());
  } else if (file_exists(path)) {
    if (!has_gguf_magic(path)) {
      return invalid_argument(path + ": not a GGUF file (no 'GGUF' magic) and not a model directory");
    }
    m->format_ = "gguf";
    TANDEM_RETURN_IF_ERROR(m->load_weights_gguf());
  } else {
    return not_found(path + ": no such model file or directory");
  }
  TANDEM_RETURN_IF_ERROR(m->pack_weights());
  return m;
}

Status Model::pack_weights() {
  // TANDEM_PACK=0 keeps the stored row-major layout (for A/B measurements).
  if (const char* env = std::getenv("TANDEM_PACK"); env != nullptr && std::string(env) == "0") return ok_status();
  // A tied head is the embedding table: pack it once; embedding_row reads
  // rows of either layout.
  const bool tied = weights_.output.data == weights_.token_embd.data;
  std::vector<TensorView*> todo;
  for (LayerWeights& L : weights_.layers) {
    for (TensorView* t : {&L.wq, &L.wk, &L.wv, &L.wo, &L.w_gate, &L.w_up, &L.w_down}) todo.push_back(t);
  }
  todo.push_back(&weights_.output);
  std::erase_if(todo, [](const TensorView* v) {
    return v->layout != Layout::kRowMajor || !ops::prefers_panel8(v->dtype);
  });
  if (todo.empty()) return ok_status();
  // Decode streams every weight once per token. On 4 KiB pages that is a TLB
  // miss every 4 KiB, and the bandwidth the roofline measures (on huge pages)
  // is out of reach; so all packed matrices share one 2 MiB-aligned arena,
  // advised for transparent huge pages. Pages are touched only by packing, so
  // resident memory still grows one matrix at a time while the file's pages
  // are released behind it.
  std::vector<size_t> offset;
  size_t total = 0;
  for (const TensorView* v : todo) {
    offset.push_back(total);
    total += (packed::matrix_bytes(v->dtype, v->dim(0), v->dim(1)) + 63) / 64 * 64;
  }
  // An untied embedding table joins the arena as it is stored (row-major).
  // Read from the file mapping, each token's row is a page fault, and a
  // disk read when the page cache has let the file go: on the f32
  // TinyLlama-shaped file (262 MB of embeddings) that was 5.3 ms per decoded
  // token (tandem bench model --ops, "embed"). Copied here, the mapped pages
  // are released like the packed matrices', so resident memory stays the
  // file's size.
  const bool copy_embd = !tied && weights_.token_embd.layout == Layout::kRowMajor;
  const size_t embd_offset = total;
  if (copy_embd) total += (weights_.token_embd.nbytes + 63) / 64 * 64;
  packed_ = alloc_huge_pages(total);
  if (packed_ == nullptr) {
    return Status(StatusCode::kResourceExhausted, path_ + ": out of memory repacking the weights (" +
                                                      std::to_string(total) + " bytes)");
  }
  uint8_t* arena = packed_.get();
  ThreadPool& pool = ThreadPool::global();
  for (size_t i = 0; i < todo.size(); ++i) {
    TensorView& v = *todo[i];
    const int64_t m = v.dim(0), k = v.dim(1);
    uint8_t* p = arena + offset[i];
    packed::pack(v.dtype, static_cast<const uint8_t*>(v.data), m, k, p, &pool);
    release_mapped_pages(v.data, v.nbytes);
    v.data = p;
    v.layout = Layout::kPanel8;
    v.nbytes = packed::matrix_bytes(v.dtype, m, k);
  }
  if (tied) weights_.token_embd = weights_.output;
  if (copy_embd) {
    TensorView& e = weights_.token_embd;
    std::memcpy(arena + embd_offset, e.data, e.nbytes);
    release_mapped_pages(e.data, e.nbytes);
    e.data = arena + embd_offset;
  }
  return ok_status();
}

Status Model::load_weights_hf() {
  const std::string cfg_path = path_ + "/config.json";
  if (!file_exists(cfg_path)) return not_found(cfg_path + ": missing (a model directory needs config.json)");
  TANDEM_ASSIGN_OR_RETURN(std::string text, read_file(cfg_path));
  TANDEM_ASSIGN_OR_RETURN(config_, config_from_hf_json(text, cfg_path));
  TANDEM_ASSIGN_OR_RETURN(SafetensorsSet set, SafetensorsSet::open_dir(path_));
  safetensors_.emplace(std::move(set));
  const SafetensorsSet& s = *safetensors_;
  FindFn find = [&s](const std::string& name) { return s.find_tensor(name); };
  return load_all(config_, find, path_, hf_names(), weights_);
}

Status Model::load_weights_gguf() {
  TANDEM_ASSIGN_OR_RETURN(GgufFile g, GgufFile::open(path_));
  gguf_.emplace(std::move(g));
  TANDEM_ASSIGN_OR_RETURN(config_, config_from_gguf(*gguf_));
  const GgufFile& gg = *gguf_;
  FindFn find = [&gg](const std::string& name) { return gg.find_tensor(name); };
  return load_all(config_, find, path_, gguf_names(), weights_);
}

const char* ForwardTimes::name(int op) {
  static constexpr const char* kNames[kCount] = {"embed",    "norm",     "qkv",      "rope_kv",
                                                 "attention", "wo",      "residual", "gate_up",
                                                 "silu_mul", "down",     "head"};
  return op >= 0 && op < kCount ? kNames[op] : "?";
}

double ForwardTimes::total() const {
  double t = 0;
  for (double v : seconds) t += v;
  return t;
}

Status Model::forward(std::span<const SeqChunk> batch, KvCache& cache, std::vector<float>& logits,
                      ForwardScratch& s, ThreadPool* pool) const {
  const ModelConfig& c = config_;
  const int64_t H = c.hidden_size, Q = c.q_dim(), KV = c.kv_dim(), F = c.intermediate_size,
                V = c.vocab_size, hd = c.head_dim;
  const int group = c.n_heads / c.n_kv_heads;
  const int32_t bs = cache.block_size();

  // Validate the batch and flatten it: token t belongs to chunk tok_seq[t].
  int64_t T = 0, n_out = 0;
  for (const SeqChunk& ch : batch) {
    if (ch.tokens.empty()) return invalid_argument("forward: empty chunk");
    if (ch.start_pos < 0) return invalid_argument("forward: negative start position");
    const int64_t end = static_cast<int64_t>(ch.start_pos) + static_cast<int64_t>(ch.tokens.size());
    if (end > c.max_position) {
      return out_of_range("forward: position " + std::to_string(end - 1) +
                          " is beyond the model's context length " + std::to_string(c.max_position));
    }
    if (static_cast<int64_t>(ch.block_table.size()) * bs < end)
      return invalid_argument("forward: block table too short for the chunk's positions");
    for (int32_t b : ch.block_table)
      if (b < 0 || b >= cache.n_blocks()) return invalid_argument("forward: block id out of range");
    for (int32_t tok : ch.tokens)
      if (tok < 0 || tok >= V)
        return invalid_argument("forward: token id " + std::to_string(tok) + " outside vocabulary of " +
                                std::to_string(V));
    T += static_cast<int64_t>(ch.tokens.size());
    n_out += ch.all_logits ? static_cast<int64_t>(ch.tokens.size()) : 1;
  }
  if (T == 0) {
    logits.clear();
    return ok_status();
  }
  OpClock clock(s.times);
  std::vector<int32_t> tok_seq(static_cast<size_t>(T));
  s.pos.resize(static_cast<size_t>(T));
  s.x.resize(static_cast<size_t>(T * H));
  {
    int64_t t = 0;
    for (size_t si = 0; si < batch.size(); ++si) {
      const SeqChunk& ch = batch[si];
      for (size_t i = 0; i < ch.tokens.size(); ++i, ++t) {
        tok_seq[static_cast<size_t>(t)] = static_cast<int32_t>(si);
        s.pos[static_cast<size_t>(t)] = ch.start_pos + static_cast<int32_t>(i);
        ops::embedding_row(weights_.token_embd, ch.tokens[i], s.x.data() + t * H);
      }
    }
  }
  s.xn.resize(static_cast<size_t>(T * H));
  s.q.resize(static_cast<size_t>(T * Q));
  s.k.resize(static_cast<size_t>(T * KV));
  s.v.resize(static_cast<size_t>(T * KV));
  s.att.resize(static_cast<size_t>(T * Q));
  s.tmp.resize(static_cast<size_t>(T * H));
  s.ffn_gate.resize(static_cast<size_t>(T * F));
  s.ffn_up.resize(static_cast<size_t>(T * F));
  const ops::RopeTable rope = ops::make_rope_table(c.head_dim, c.rope_theta, c.rope_style);
  const float scale = 1.0f / std::sqrt(static_cast<float>(hd));
  // x += tmp, split over rows for big batches.
  auto add_residual = [&] {
    for_rows(
        pool, T, H,
        [&](int64_t t0, int64_t t1) {
          for (int64_t i = t0 * H; i < t1 * H; ++i) s.x[static_cast<size_t>(i)] += s.tmp[static_cast<size_t>(i)];
        },
        kMinElemsCheap);
    clock.lap(ForwardTimes::kResidual);
  };
  auto norm = [&](const std::vector<float>& weight) {
    for_rows(
        pool, T, H,
        [&](int64_t t0, int64_t t1) {
          ops::rmsnorm(s.x.data() + t0 * H, weight.data(), t1 - t0, H, c.rms_norm_eps, s.xn.data() + t0 * H);
        },
        kMinElemsCheap);
    clock.lap(ForwardTimes::kNorm);
  };
  clock.lap(ForwardTimes::kEmbed);

  for (int l = 0; l < c.n_layers; ++l) {
    const LayerWeights& L = weights_.layers[static_cast<size_t>(l)];
    norm(L.attn_norm);
    ops::matmul_many(s.xn.data(), T, H,
                     {{&L.wq, L.bq.empty() ? nullptr : L.bq.data(), s.q.data()},
                      {&L.wk, L.bk.empty() ? nullptr : L.bk.data(), s.k.data()},
                      {&L.wv, L.bv.empty() ? nullptr : L.bv.data(), s.v.data()}},
                     pool);
    clock.lap(ForwardTimes::kQkv);
    // RoPE, then this step's K/V rows into the cache before attention reads
    // them; each token's rows are its own.
    for_rows(pool, T, Q + 2 * KV, [&](int64_t t0, int64_t t1) {
      ops::rope(s.q.data() + t0 * Q, s.pos.data() + t0, t1 - t0, c.n_heads, rope);
      ops::rope(s.k.data() + t0 * KV, s.pos.data() + t0, t1 - t0, c.n_kv_heads, rope);
      for (int64_t t = t0; t < t1; ++t) {
        const SeqChunk& ch = batch[static_cast<size_t>(tok_seq[static_cast<size_t>(t)])];
        const int32_t p = s.pos[static_cast<size_t>(t)];
        const int32_t blk = ch.block_table[static_cast<size_t>(p / bs)];
        std::memcpy(cache.rows(blk, l, 0) + static_cast<int64_t>(p % bs) * KV, s.k.data() + t * KV,
                    static_cast<size_t>(KV) * sizeof(float));
        std::memcpy(cache.rows(blk, l, 1) + static_cast<int64_t>(p % bs) * KV, s.v.data() + t * KV,
                    static_cast<size_t>(KV) * sizeof(float));
      }
    });
    clock.lap(ForwardTimes::kRopeKv);
    // Attention, one task per (token, KV head): the group of query heads
    // that share a KV head reads its sequence's cache rows together, from the
    // window start to the token's own position in ascending order.
    auto attend = [&](size_t task0, size_t task1) {
      thread_local std::vector<float> scores;
      thread_local std::vector<const float*> k_rows, v_rows;
      for (size_t task = task0; task < task1; ++task) {
        const int64_t t = static_cast<int64_t>(task) / c.n_kv_heads;
        const int kvh = static_cast<int>(static_cast<int64_t>(task) % c.n_kv_heads);
        const SeqChunk& ch = batch[static_cast<size_t>(tok_seq[static_cast<size_t>(t)])];
        const int32_t p = s.pos[static_cast<size_t>(t)];
        const int32_t j0 = c.sliding_window > 0 ? std::max(0, p - c.sliding_window + 1) : 0;
        const size_t n = static_cast<size_t>(p - j0 + 1);
        scores.resize(n * static_cast<size_t>(group));
        k_rows.resize(n);
        v_rows.resize(n);
        for (int32_t j = j0; j <= p; ++j) {
          const int32_t blk = ch.block_table[static_cast<size_t>(j / bs)];
          const int64_t off = static_cast<int64_t>(j % bs) * KV + kvh * hd;
          k_rows[static_cast<size_t>(j - j0)] = cache.rows(blk, l, 0) + off;
          v_rows[static_cast<size_t>(j - j0)] = cache.rows(blk, l, 1) + off;
        }
        const int64_t h0 = static_cast<int64_t>(kvh) * group * hd;
        ops::attend(s.q.data() + t * Q + h0, group, k_rows.data(), v_rows.data(), static_cast<int64_t>(n),
                    static_cast<int>(hd), scale, scores.data(), s.att.data() + t * Q + h0);
      }
    };
    const size_t n_tasks = static_cast<size_t>(T) * static_cast<size_t>(c.n_kv_heads);
    if (pool != nullptr) {
      pool->parallel_for(n_tasks, 1, attend);
    } else {
      attend(0, n_tasks);
    }
    clock.lap(ForwardTimes::kAttention);
    ops::matmul(s.att.data(), T, Q, L.wo, nullptr, s.tmp.data(), pool);
    clock.lap(ForwardTimes::kWo);
    add_residual();

    norm(L.ffn_norm);
    ops::matmul_many(s.xn.data(), T, H, {{&L.w_gate, nullptr, s.ffn_gate.data()}, {&L.w_up, nullptr, s.ffn_up.data()}},
                     pool);
    clock.lap(ForwardTimes::kGateUp);
    // Elementwise: any split gives every element the same operations.
    for_rows(pool, T, F, [&](int64_t t0, int64_t t1) {
      ops::silu_mul(s.ffn_gate.data() + t0 * F, s.ffn_up.data() + t0 * F, s.ffn_gate.data() + t0 * F, (t1 - t0) * F);
    });
    clock.lap(ForwardTimes::kSiluMul);
    ops::matmul(s.ffn_gate.data(), T, F, L.w_down, nullptr, s.tmp.data(), pool);
    clock.lap(ForwardTimes::kDown);
    add_residual();
  }

  // Final norm and output head, only for the rows that want logits.
  s.last.resize(static_cast<size_t>(n_out * H));
  {
    int64_t t = 0, r = 0;
    for (const SeqChunk& ch : batch) {
      const int64_t n = static_cast<int64_t>(ch.tokens.size());
      const int64_t first = ch.all_logits ? 0 : n - 1;
      for (int64_t i = first; i < n; ++i, ++r) {
        std::memcpy(s.last.data() + r * H, s.x.data() + (t + i) * H, static_cast<size_t>(H) * sizeof(float));
      }
      t += n;
    }
  }
  s.xn.resize(static_cast<size_t>(std::max(T, n_out) * H));
  ops::rmsnorm(s.last.data(), weights_.output_norm.data(), n_out, H, c.rms_norm_eps, s.xn.data());
  clock.lap(ForwardTimes::kNorm);
  logits.resize(static_cast<size_t>(n_out * V));
  ops::matmul(s.xn.data(), n_out, H, weights_.output, nullptr, logits.data(), pool);
  clock.lap(ForwardTimes::kHead);
  if (s.times != nullptr) ++s.times->calls;
  return ok_status();
}

}  // namespace tandem
