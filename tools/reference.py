#!/usr/bin/python3
"""Plain PyTorch reference forward pass for llama / mistral / qwen2 (no transformers).

Written from the architecture definitions, HF conventions: RMSNorm
(x * rsqrt(mean(x^2) + eps) * w), rotate-half RoPE with
inv_freq = theta^(-2i/head_dim), GQA (query head h uses KV head h // (nh/nkv)),
causal softmax attention scaled by 1/sqrt(head_dim), SwiGLU MLP, optional q/k/v
biases (qwen2), untied or tied output head.  Computes in float32 (--f64 for
float64).

Model sources:
  * an HF directory: config.json + model.safetensors (F32/F16/BF16, upcast)
  * a .gguf file (F32/F16/BF16/Q8_0/Q4_0/Q4_K/Q5_K/Q6_K dequantized with numpy; for GGUF arch
    "llama" the Q/K rows are un-permuted back to the HF rotate-half layout).
    Layers stored as Q8_0/Q4_0/K-quants see their input quantized per block of 32
    (quantize_activations), which is how llama.cpp defines those matmuls.

Subcommands:
  reference.py logits --model PATH --prompts PROMPTS.json --out OUT [--greedy-steps 64] [--f64]
      PROMPTS.json = {"prompts": [[ids...], ...]} (ids used as given, no BOS added)
      writes OUT.json = {"vocab_size": V, "cases": [{"tokens", "n_positions",
      "offset" (float32 element offset into OUT.bin), "greedy" (N greedy ids,
      each step a full recompute over prompt + generated so far; ties -> lowest id)}]}
      and OUT.bin = little-endian float32 logits [n_positions, V] per case, concatenated.
      (OUT may be given with or without .json; both files share the stem.)
  reference.py ppl --model PATH --tokens FILE [--tokenizer tokenizer.model] --window W [--f64]
      FILE: a JSON list of token ids, or a text file (encoded in one piece with
      SentencePiece sp.encode(text), no BOS; tokenizer defaults to
      tokenizer.model next to the model).  The stream is cut into consecutive
      non-overlapping windows of W tokens (the last one may be shorter); each
      window is evaluated fresh as [BOS] + window and all its tokens are
      predicted (the first from BOS alone).  Prints JSON
      {"ppl", "nll_sum", "n_tokens", "n_windows", "window"}; ppl = exp(nll_sum/n_tokens).
  reference.py generate --model PATH --text "In the beginning" [--n 40]
      greedy decode text with the SentencePiece tokenizer (BOS prepended).
"""
import argparse
import json
import math
import os
import sys

import numpy as np
import torch

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import gguf_writer  # noqa: E402
import safetensors_io  # noqa: E402


# ------------------------------------------------------------ loading
def load_hf(d):
    cfg, sd = safetensors_io.read_hf_dir(d)
    c = {
        "arch": cfg.get("model_type", "llama"),
        "hidden": cfg["hidden_size"],
        "n_layers": cfg["num_hidden_layers"],
        "n_head": cfg["num_attention_heads"],
        "n_kv": cfg.get("num_key_value_heads", cfg["num_attention_heads"]),
        "head_dim": cfg.get("head_dim") or cfg["hidden_size"] // cfg["num_attention_heads"],
        "eps": cfg.get("rms_norm_eps", 1e-6),
        "theta": cfg.get("rope_theta", 10000.0),
        "vocab": cfg["vocab_size"],
        "bos": cfg.get("bos_token_id", 1),
    }
    return c, sd


def load_gguf(path):
    kv, ts = gguf_writer.read_gguf(path)
    arch = kv["general.architecture"]
    nh = kv[arch + ".attention.head_count"]
    nkv = kv.get(arch + ".attention.head_count_kv", nh)
    hidden = kv[arch + ".embedding_length"]
    c = {
        "arch": arch,
        "hidden": hidden,
        "n_layers": kv[arch + ".block_count"],
        "n_head": nh,
        "n_kv": nkv,
        "head_dim": kv.get(arch + ".attention.key_length", hidden // nh),
        "eps": kv[arch + ".attention.layer_norm_rms_epsilon"],
        "theta": kv.get(arch + ".rope.freq_base", 10000.0),
        "bos": kv.get("tokenizer.ggml.bos_token_id", 1),
    }
    sd = {}
    quantized = set()
    for name, (gt, ne, raw) in ts.items():
        a = gguf_writer.dequantize(gt, raw, ne)
        if gt in gguf_writer.INT8_ACT_TYPES:
            quantized.add(gguf_writer.gguf_to_hf_name(name))
        if arch == "llama":
            if name.endswith("attn_q.weight") or name.endswith("attn_q.bias"):
                a = gguf_writer.unpermute_qk(a, nh)
            elif name.endswith("attn_k.weight") or name.endswith("attn_k.bias"):
                a = gguf_writer.unpermute_qk(a, nkv)
        sd[gguf_writer.gguf_to_hf_name(name)] = a
    c["vocab"] = kv.get(arch + ".vocab_size", sd["model.embed_tokens.weight"].shape[0])
    c["act_quant"] = quantized
    if "output.weight" not in ts and "token_embd.weight" in ts and \
            "model.embed_tokens.weight" in quantized:
        c["act_quant"].add("lm_head.weight")  # tied head: same quantized matrix
    return c, sd


def load_model(path):
    if os.path.isdir(path):
        return load_hf(path)
    return load_gguf(path)


def quantize_activations(x):
    """What tandem feeds a q8_0 / q4_0 / K-quant matmul (llama.cpp: q8_0 /
    q4_0; its K-quant path uses blocks of 256 instead): the input
    quantized per block of 32 along the last dimension, in float32:
    d = max|x| / 127, q = round-half-even(x * (1 / d)); returns d * q."""
    shape = x.shape
    xb = x.to(torch.float32).reshape(-1, 32)
    d = xb.abs().amax(-1, keepdim=True) / torch.tensor(127.0, dtype=torch.float32)
    inv = torch.where(d != 0, torch.tensor(1.0, dtype=torch.float32) / d, torch.zeros_like(d))
    q = torch.round(xb * inv)  # half to even, like nearbyint / _mm256_round_ps
    return (q * d).reshape(shape).to(x.dtype)


class Model:
    def __init__(self, path, dtype=torch.float32):
        self.c, sd = load_model(path)
        self.dtype = dtype
        self.w = {k: torch.from_numpy(np.ascontiguousarray(v, dtype=np.float32)).to(dtype)
                  for k, v in sd.items()}
        if "lm_head.weight" not in self.w:
            self.w["lm_head.weight"] = self.w["model.embed_tokens.weight"]
        c = self.c
        self.act_quant = c.get("act_quant", set())
        hd = c["head_dim"]
        self.inv_freq = 1.0 / (float(c["theta"]) **
                               (torch.arange(0, hd, 2, dtype=torch.float64) / hd))

    def rms(self, x, w):
        return x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + self.c["eps"]) * w

    def forward(self, tokens):
        """tokens: LongTensor [B, T] -> logits [B, T, V] (dtype of the model)."""
        c, W = self.c, self.w
        B, T = tokens.shape
        nh, nkv, hd = c["n_head"], c["n_kv"], c["head_dim"]
        pos = torch.arange(T, dtype=torch.float64)
        ang = torch.outer(pos, self.inv_freq)
        ang = torch.cat([ang, ang], -1)
        cos, sin = ang.cos().to(self.dtype), ang.sin().to(self.dtype)

        def rope(x):
            h = x.shape[-1] // 2
            rot = torch.cat([-x[..., h:], x[..., :h]], -1)
            return x * cos + rot * sin

        def lin(x, name):
            if name + ".weight" in self.act_quant:
                x = quantize_activations(x)
            y = x @ W[name + ".weight"].T
            b = W.get(name + ".bias")
            return y + b if b is not None else y

        mask = torch.full((T, T), float("-inf"), dtype=self.dtype).triu(1)
        x = W["model.embed_tokens.weight"][tokens]
        for i in range(c["n_layers"]):
            p = "model.layers.%d." % i
            h = self.rms(x, W[p + "input_layernorm.weight"])
            q = lin(h, p + "self_attn.q_proj").view(B, T, nh, hd).transpose(1, 2)
            k = lin(h, p + "self_attn.k_proj").view(B, T, nkv, hd).transpose(1, 2)
            v = lin(h, p + "self_attn.v_proj").view(B, T, nkv, hd).transpose(1, 2)
            q, k = rope(q), rope(k)
            rep = nh // nkv
            k = k.repeat_interleave(rep, dim=1)
            v = v.repeat_interleave(rep, dim=1)
            att = (q @ k.transpose(-1, -2)) / math.sqrt(hd) + mask
            o = (att.softmax(-1) @ v).transpose(1, 2).reshape(B, T, nh * hd)
            x = x + lin(o, p + "self_attn.o_proj")
            h = self.rms(x, W[p + "post_attention_layernorm.weight"])
            g = lin(h, p + "mlp.gate_proj")
            u = lin(h, p + "mlp.up_proj")
            x = x + lin(torch.nn.functional.silu(g) * u, p + "mlp.down_proj")
        x = self.rms(x, W["model.norm.weight"])
        if "lm_head.weight" in self.act_quant:
            x = quantize_activations(x)
        return x @ W["lm_head.weight"].T

    def logits(self, ids):
        with torch.no_grad():
            return self.forward(torch.tensor([ids], dtype=torch.long))[0]

    def greedy(self, ids, n):
        ids = list(ids)
        out = []
        for _ in range(n):
            nxt = int(torch.argmax(self.logits(ids)[-1]).item())
            out.append(nxt)
            ids.append(nxt)
        return out


# ------------------------------------------------------------ commands
def _stem(out):
    return out[:-5] if out.endswith(".json") else out


def cmd_logits(a):
    m = Model(a.model, torch.float64 if a.f64 else torch.float32)
    with open(a.prompts) as f:
        prompts = json.load(f)["prompts"]
    stem = _stem(a.out)
    cases = []
    off = 0
    with open(stem + ".bin", "wb") as fb:
        for ids in prompts:
            lg = m.logits(ids).to(torch.float32).numpy()
            fb.write(np.ascontiguousarray(lg, dtype="<f4").tobytes())
            g = m.greedy(ids, a.greedy_steps) if a.greedy_steps > 0 else []
            cases.append({"tokens": list(ids), "n_positions": len(ids), "offset": off,
                          "greedy": g})
            off += lg.size
    V = int(m.w["lm_head.weight"].shape[0])
    with open(stem + ".json", "w") as f:
        json.dump({"vocab_size": V, "model": a.model, "cases": cases}, f)
    print(json.dumps({"out": stem + ".json", "bin": stem + ".bin", "cases": len(cases)}))


def _tokenizer_for(model_path, explicit):
    if explicit:
        return explicit
    d = model_path if os.path.isdir(model_path) else os.path.dirname(model_path)
    return os.path.join(d, "tokenizer.model")


def load_token_stream(path, model_path, tokenizer=None):
    with open(path, "rb") as f:
        raw = f.read()
    try:
        ids = json.loads(raw.decode("utf-8"))
        if isinstance(ids, list) and all(isinstance(i, int) for i in ids):
            return ids
    except (ValueError, UnicodeDecodeError):
        pass
    import sentencepiece as spm
    sp = spm.SentencePieceProcessor(model_file=_tokenizer_for(model_path, tokenizer))
    return sp.encode(raw.decode("utf-8"))


def cmd_ppl(a):
    m = Model(a.model, torch.float64 if a.f64 else torch.float32)
    ids = load_token_stream(a.tokens, a.model, a.tokenizer)
    if a.max_tokens:
        ids = ids[: a.max_tokens]
    W, bos = a.window, m.c["bos"]
    wins = [ids[i:i + W] for i in range(0, len(ids), W)]
    nll, n = 0.0, 0
    bs = 8
    with torch.no_grad():
        for s in range(0, len(wins), bs):
            group = wins[s:s + bs]
            L = max(len(w) for w in group)
            same = all(len(w) == L for w in group)
            batches = [group] if same else [[w] for w in group]
            for bt in batches:
                x = torch.tensor([[bos] + w for w in bt], dtype=torch.long)
                lg = m.forward(x)[:, :-1].to(torch.float64)
                lp = torch.log_softmax(lg, -1)
                y = torch.tensor(bt, dtype=torch.long)
                nll -= lp.gather(-1, y.unsqueeze(-1)).sum().item()
                n += y.numel()
    print(json.dumps({"ppl": math.exp(nll / n), "nll_sum": nll, "n_tokens": n,
                      "n_windows": len(wins), "window": W}))


def cmd_generate(a):
    import sentencepiece as spm
    m = Model(a.model)
    sp = spm.SentencePieceProcessor(model_file=_tokenizer_for(a.model, a.tokenizer))
    ids = [m.c["bos"]] + sp.encode(a.text)
    g = m.greedy(ids, a.n)
    print(json.dumps({"prompt_ids": ids, "ids": g, "text": sp.decode(ids[1:] + g)}))


def main():
    torch.set_num_threads(2)
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = ap.add_subparsers(dest="cmd", required=True)
    p = sub.add_parser("logits")
    p.add_argument("--model", required=True)
    p.add_argument("--prompts", required=True)
    p.add_argument("--out", required=True)
    p.add_argument("--greedy-steps", type=int, default=64)
    p.add_argument("--f64", action="store_true")
    p = sub.add_parser("ppl")
    p.add_argument("--model", required=True)
    p.add_argument("--tokens", required=True)
    p.add_argument("--tokenizer", default=None)
    p.add_argument("--window", type=int, required=True)
    p.add_argument("--max-tokens", type=int, default=0)
    p.add_argument("--f64", action="store_true")
    p = sub.add_parser("generate")
    p.add_argument("--model", required=True)
    p.add_argument("--text", required=True)
    p.add_argument("--n", type=int, default=40)
    p.add_argument("--tokenizer", default=None)
    a = ap.parse_args()
    {"logits": cmd_logits, "ppl": cmd_ppl, "generate": cmd_generate}[a.cmd](a)


if __name__ == "__main__":
    main()
