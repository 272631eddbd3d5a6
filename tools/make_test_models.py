#!/usr/bin/python3
"""Write small random test models (deterministic for a given --seed).

  make_test_models.py --out DIR [--seed 0]

For each arch in llama, mistral, qwen2:
  DIR/<arch>-f32/, DIR/<arch>-f16/, DIR/<arch>-bf16/   HF dirs (config.json + model.safetensors)
  DIR/<arch>-{f32,f16,bf16,q8_0,q4_0}.gguf             GGUF files
  DIR/llamak-{q4_k_m,q5_k}.gguf                        K-quant GGUFs (llama, hidden 256)
All files of one arch hold the same random f32 weights (each rounded/quantized to
its own dtype).  Shapes: hidden 64, 2 layers, 4 query heads, head_dim 16,
intermediate 160, vocab 384; KV heads: llama 2, mistral 1 (MQA), qwen2 2.
qwen2 has random nonzero q/k/v biases.  rope_theta: llama 1e4, mistral 1e6,
qwen2 1e6.  The GGUF vocab is a trivial SentencePiece-style "llama" vocab:
<unk>, <s>, </s>, <0x00>..<0xFF>, then filler pieces "\u2581tokN".
Also DIR/prompts.json = {"prompts": [[ids...], ...]} (8 prompts, 1..40 tokens).
"""
import argparse
import json
import os
import sys

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import gguf_writer  # noqa: E402
import safetensors_io  # noqa: E402

BASE = dict(hidden_size=64, intermediate_size=160, num_hidden_layers=2,
            num_attention_heads=4, head_dim=16, vocab_size=384,
            max_position_embeddings=512, bos_token_id=1, eos_token_id=2)
ARCHS = {
    "llama": dict(num_key_value_heads=2, rope_theta=10000.0, rms_norm_eps=1e-5),
    "mistral": dict(num_key_value_heads=1, rope_theta=1000000.0, rms_norm_eps=1e-5),
    "qwen2": dict(num_key_value_heads=2, rope_theta=1000000.0, rms_norm_eps=1e-6),
}


def random_state_dict(cfg, arch, rng):
    d, ff, V = cfg["hidden_size"], cfg["intermediate_size"], cfg["vocab_size"]
    nh, nkv, hd = cfg["num_attention_heads"], cfg["num_key_value_heads"], cfg["head_dim"]

    def mat(r, c, std=0.05):
        return (rng.standard_normal((r, c)) * std).astype(np.float32)

    def norm(n):
        return (1.0 + 0.1 * rng.standard_normal(n)).astype(np.float32)

    sd = {"model.embed_tokens.weight": mat(V, d, 0.5)}
    for i in range(cfg["num_hidden_layers"]):
        p = "model.layers.%d." % i
        sd[p + "input_layernorm.weight"] = norm(d)
        sd[p + "self_attn.q_proj.weight"] = mat(nh * hd, d)
        sd[p + "self_attn.k_proj.weight"] = mat(nkv * hd, d)
        sd[p + "self_attn.v_proj.weight"] = mat(nkv * hd, d)
        sd[p + "self_attn.o_proj.weight"] = mat(d, nh * hd)
        if arch == "qwen2":
            sd[p + "self_attn.q_proj.bias"] = (0.1 * rng.standard_normal(nh * hd)).astype(np.float32)
            sd[p + "self_attn.k_proj.bias"] = (0.1 * rng.standard_normal(nkv * hd)).astype(np.float32)
            sd[p + "self_attn.v_proj.bias"] = (0.1 * rng.standard_normal(nkv * hd)).astype(np.float32)
        sd[p + "post_attention_layernorm.weight"] = norm(d)
        sd[p + "mlp.gate_proj.weight"] = mat(ff, d)
        sd[p + "mlp.up_proj.weight"] = mat(ff, d)
        sd[p + "mlp.down_proj.weight"] = mat(d, ff)
    sd["model.norm.weight"] = norm(d)
    sd["lm_head.weight"] = mat(V, d, 0.2)
    return sd


def main():
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", required=True)
    ap.add_argument("--seed", type=int, default=0)
    a = ap.parse_args()
    os.makedirs(a.out, exist_ok=True)
    tok = gguf_writer.byte_vocab_tokenizer(BASE["vocab_size"])
    for k, (arch, extra) in enumerate(sorted(ARCHS.items())):
        rng = np.random.default_rng([a.seed, k])
        cfg = dict(BASE, **extra)
        hf_cfg = safetensors_io.make_config(arch, cfg)
        sd = random_state_dict(cfg, arch, rng)
        for dt in ("F32", "F16", "BF16"):
            safetensors_io.write_hf_dir(os.path.join(a.out, "%s-%s" % (arch, dt.lower())),
                                        sd, hf_cfg, dtype=dt)
        for dt in ("f32", "f16", "bf16", "q8_0", "q4_0"):
            gguf_writer.export_gguf(sd, hf_cfg, tok,
                                    os.path.join(a.out, "%s-%s.gguf" % (arch, dt)), dt,
                                    name="test-%s" % arch)
    # K-quants need rows that are multiples of 256: one wider llama model.
    kcfg = dict(BASE, hidden_size=256, intermediate_size=512, head_dim=64,
                **ARCHS["llama"])
    ksd = random_state_dict(kcfg, "llama", np.random.default_rng([a.seed, 7]))
    for dt in ("q4_k_m", "q5_k"):
        gguf_writer.export_gguf(ksd, safetensors_io.make_config("llama", kcfg), tok,
                                os.path.join(a.out, "llamak-%s.gguf" % dt), dt, name="test-llamak")
    prng = np.random.default_rng([a.seed, 99])
    prompts = []
    for L in (1, 2, 3, 5, 8, 16, 31, 40):
        ids = prng.integers(3, BASE["vocab_size"], size=L).tolist()
        if L % 2 == 1:
            ids[0] = 1  # some prompts start with BOS
        prompts.append(ids)
    with open(os.path.join(a.out, "prompts.json"), "w") as f:
        json.dump({"prompts": prompts}, f)
    print("wrote test models to %s" % a.out)


if __name__ == "__main__":
    main()
