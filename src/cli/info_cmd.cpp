// tandem info: what a model file holds.
#include <cstdio>

#include "cli/args.h"
#include "cli/commands.h"
#include "engine/model_loader.h"

namespace tandem::cli {

int run_info(const std::vector<std::string>& argv) {
  const std::vector<FlagSpec> flags = {{"model", "m", true, "model directory or .gguf file"},
                                       {"help", "h", false, "show this help"}};
  auto parsed = Args::parse(argv, flags);
  if (!parsed.ok() || !parsed->get("model")) {
    std::fprintf(stderr, "usage: tandem info -m PATH\n");
    return 2;
  }
  auto loaded = load_model(*parsed->get("model"));
  if (!loaded.ok()) {
    std::fprintf(stderr, "tandem info: %s\n", loaded.status().to_string().c_str());
    return 1;
  }
  const ModelConfig& c = loaded->model->config();
  const ModelWeights& w = loaded->model->weights();
  int64_t params = w.token_embd.numel() + static_cast<int64_t>(w.output_norm.size());
  if (w.output.data != w.token_embd.data) params += w.output.numel();
  for (const auto& L : w.layers) {
    params += static_cast<int64_t>(L.attn_norm.size() + L.ffn_norm.size() + L.bq.size() + L.bk.size() +
                                   L.bv.size());
    params += L.wq.numel() + L.wk.numel() + L.wv.numel() + L.wo.numel() + L.w_gate.numel() +
              L.w_up.numel() + L.w_down.numel();
  }
  std::printf(
      "path: %s\nformat: %s\narch: %s\nweights: %s\nparameters: %lld\nvocab: %d\nhidden: %d\n"
      "intermediate: %d\nlayers: %d\nheads: %d\nkv_heads: %d\nhead_dim: %d\ncontext: %d\n"
      "rope_theta: %g\nrms_norm_eps: %g\nqkv_bias: %s\ntied_embeddings: %s\n"
      "tokenizer: %s, %d tokens, bos %d, eos %d\n",
      loaded->model->path().c_str(), loaded->model->format().c_str(), arch_name(c.arch),
      std::string(dtype_name(loaded->model->weight_dtype())).c_str(), static_cast<long long>(params),
      c.vocab_size, c.hidden_size, c.intermediate_size, c.n_layers, c.n_heads, c.n_kv_heads,
      c.head_dim, c.max_position, static_cast<double>(c.rope_theta),
      static_cast<double>(c.rms_norm_eps), c.qkv_bias ? "yes" : "no",
      w.output.data == w.token_embd.data ? "yes" : "no", loaded->tokenizer->vocab().model.c_str(),
      loaded->tokenizer->vocab_size(), loaded->tokenizer->bos_id(), loaded->tokenizer->eos_id());
  return 0;
}

}  // namespace tandem::cli
