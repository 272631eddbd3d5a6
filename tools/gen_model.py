#!/usr/bin/python3
"""Random-weight GGUF files at the shapes of real models, for speed tests.

  gen_model.py --shape tinyllama-1.1b --dtype q4_0 --out /tmp/models/tinyllama-q4_0.gguf [--seed 0]
  gen_model.py --list

Weights are N(0, 0.02) (biases too), norm weights 1, so activations stay
finite through every layer; the tokenizer is a synthetic SentencePiece-style
"llama" vocabulary of the model's size (<unk>, <s>, </s>, 256 byte tokens,
filler pieces; see gguf_writer.byte_vocab_tokenizer). Every 2-D weight,
token embedding and output head included, is stored in --dtype; norms and
biases are f32. Tied models (Llama-3.2, Qwen2.5) have no output.weight.

Not reproduced: Llama-3.2's RoPE scaling (tandem does not implement it yet;
it does not change the cost of a token) and the real BPE vocabularies.

The file is written tensor by tensor, in chunks of rows generated and
quantized by --jobs worker processes, so memory stays around a few hundred
MB whatever the model size. Output is a pure function of (shape, dtype,
seed), independent of --jobs.
"""
import argparse
import collections
import multiprocessing as mp
import os
import struct
import sys
import time

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import gguf_writer as gw  # noqa: E402

# Hugging Face config.json values of each model (checked against the
# published configs).
SHAPES = {
    "tinyllama-1.1b": dict(model_type="llama", hidden_size=2048, num_hidden_layers=22,
                           num_attention_heads=32, num_key_value_heads=4, intermediate_size=5632,
                           vocab_size=32000, rope_theta=10000.0, rms_norm_eps=1e-5,
                           max_position_embeddings=2048, tie_word_embeddings=False),
    "llama-3.2-1b": dict(model_type="llama", hidden_size=2048, num_hidden_layers=16,
                         num_attention_heads=32, num_key_value_heads=8, intermediate_size=8192,
                         vocab_size=128256, rope_theta=500000.0, rms_norm_eps=1e-5,
                         max_position_embeddings=131072, tie_word_embeddings=True),
    "qwen2.5-0.5b": dict(model_type="qwen2", hidden_size=896, num_hidden_layers=24,
                         num_attention_heads=14, num_key_value_heads=2, intermediate_size=4864,
                         vocab_size=151936, rope_theta=1000000.0, rms_norm_eps=1e-6,
                         max_position_embeddings=32768, tie_word_embeddings=True),
    "qwen2.5-1.5b": dict(model_type="qwen2", hidden_size=1536, num_hidden_layers=28,
                         num_attention_heads=12, num_key_value_heads=2, intermediate_size=8960,
                         vocab_size=151936, rope_theta=1000000.0, rms_norm_eps=1e-6,
                         max_position_embeddings=32768, tie_word_embeddings=True),
}

STD = 0.02
CHUNK_ELEMS = 1 << 22  # values generated and encoded per task (16 MB as f32)


class Spec:
    """One tensor: GGUF name, numpy shape (rows, cols) or (n,), storage type, fill."""

    def __init__(self, name, shape, gtype, fill):
        self.name, self.shape, self.gtype, self.fill = name, tuple(shape), gtype, fill

    @property
    def ne(self):
        return list(self.shape[::-1])

    @property
    def nbytes(self):
        return gw.tensor_nbytes(self.gtype, int(np.prod(self.shape)))

    def chunks(self):
        """Row ranges of at most CHUNK_ELEMS values (at least one row)."""
        rows = self.shape[0] if len(self.shape) == 2 else 1
        cols = self.shape[-1]
        step = max(1, CHUNK_ELEMS // cols)
        return [(r, min(rows, r + step)) for r in range(0, rows, step)]


def tensor_specs(cfg, dtype):
    H, L = cfg["hidden_size"], cfg["num_hidden_layers"]
    nh, nkv, F, V = (cfg["num_attention_heads"], cfg["num_key_value_heads"],
                     cfg["intermediate_size"], cfg["vocab_size"])
    hd = H // nh
    Q, KV = nh * hd, nkv * hd
    def mat(name, rows, cols):
        gt = gw.mixed_type(dtype, name)
        if gt in (gw.Q8_0, gw.Q4_0) and cols % gw.QK != 0:
            gt = gw.F16  # as export_gguf does
        elif gt in gw.K_QUANTS and cols % gw.QK_K != 0:
            gt = gw.Q8_0 if cols % gw.QK == 0 else gw.F16
        return Spec(name, (rows, cols), gt, "normal")

    specs = [mat("token_embd.weight", V, H)]
    for i in range(L):
        p = "blk.%d." % i
        specs.append(Spec(p + "attn_norm.weight", (H,), gw.F32, "ones"))
        specs.append(mat(p + "attn_q.weight", Q, H))
        specs.append(mat(p + "attn_k.weight", KV, H))
        specs.append(mat(p + "attn_v.weight", KV, H))
        if cfg["model_type"] == "qwen2":
            specs.append(Spec(p + "attn_q.bias", (Q,), gw.F32, "normal"))
            specs.append(Spec(p + "attn_k.bias", (KV,), gw.F32, "normal"))
            specs.append(Spec(p + "attn_v.bias", (KV,), gw.F32, "normal"))
        specs.append(mat(p + "attn_output.weight", H, Q))
        specs.append(Spec(p + "ffn_norm.weight", (H,), gw.F32, "ones"))
        specs.append(mat(p + "ffn_gate.weight", F, H))
        specs.append(mat(p + "ffn_up.weight", F, H))
        specs.append(mat(p + "ffn_down.weight", H, F))
    specs.append(Spec("output_norm.weight", (H,), gw.F32, "ones"))
    if not cfg["tie_word_embeddings"]:
        specs.append(mat("output.weight", V, H))
    return specs


def encode_chunk(task):
    """Worker: the encoded bytes of rows [r0, r1) of one tensor."""
    seed, index, shape, gtype, fill, r0, r1 = task
    cols = shape[-1]
    n = (r1 - r0) * cols if len(shape) == 2 else shape[0]
    if fill == "ones":
        x = np.ones(n, dtype=np.float32)
    else:
        # One stream per (seed, tensor, first row): chunks are independent.
        rng = np.random.default_rng([seed, index, r0])
        x = rng.standard_normal(n, dtype=np.float32)
        x *= np.float32(STD)
    return gw.encode_tensor(x, gtype)


def metadata(w, name, cfg, dtype):
    """The same keys export_gguf writes."""
    arch = gw.gguf_arch(cfg)
    nh = cfg["num_attention_heads"]
    w.add_str("general.architecture", arch)
    w.add_str("general.name", name)
    w.add_u32("general.alignment", gw.ALIGNMENT)
    w.add_u32("general.file_type", gw.FILE_TYPE[dtype])
    if dtype not in ("f32", "f16", "bf16"):
        w.add_u32("general.quantization_version", 2)
    w.add_u32(arch + ".context_length", cfg["max_position_embeddings"])
    w.add_u32(arch + ".embedding_length", cfg["hidden_size"])
    w.add_u32(arch + ".block_count", cfg["num_hidden_layers"])
    w.add_u32(arch + ".feed_forward_length", cfg["intermediate_size"])
    w.add_u32(arch + ".attention.head_count", nh)
    w.add_u32(arch + ".attention.head_count_kv", cfg["num_key_value_heads"])
    w.add_u32(arch + ".rope.dimension_count", cfg["hidden_size"] // nh)
    w.add_f32(arch + ".rope.freq_base", cfg["rope_theta"])
    w.add_f32(arch + ".attention.layer_norm_rms_epsilon", cfg["rms_norm_eps"])
    w.add_u32(arch + ".vocab_size", cfg["vocab_size"])
    t = gw.byte_vocab_tokenizer(cfg["vocab_size"])
    w.add_str("tokenizer.ggml.model", t["model"])
    w.add_arr("tokenizer.ggml.tokens", gw.T_STR, t["tokens"])
    w.add_arr("tokenizer.ggml.scores", gw.T_F32, t["scores"])
    w.add_arr("tokenizer.ggml.token_type", gw.T_I32, t["token_type"])
    w.add_u32("tokenizer.ggml.bos_token_id", t["bos"])
    w.add_u32("tokenizer.ggml.eos_token_id", t["eos"])
    w.add_u32("tokenizer.ggml.unknown_token_id", t["unk"])
    w.add_bool("tokenizer.ggml.add_bos_token", True)
    w.add_bool("tokenizer.ggml.add_eos_token", False)


def write_header(f, w, specs):
    """GGUF header (GGUFWriter's KV list + tensor infos), padded to the alignment."""
    parts = [gw.GGUF_MAGIC, struct.pack("<IQQ", gw.GGUF_VERSION, len(specs), len(w.kv))]
    for k, t, v, et in w.kv:
        parts.append(w._str(k) + struct.pack("<I", t) + w._val(t, v, et))
    off = 0
    for s in specs:
        parts.append(w._str(s.name) + struct.pack("<I", len(s.ne)) +
                     struct.pack("<%dQ" % len(s.ne), *s.ne) + struct.pack("<IQ", s.gtype, off))
        off += s.nbytes
        off += (-off) % gw.ALIGNMENT
    head = b"".join(parts)
    head += b"\0" * ((-len(head)) % gw.ALIGNMENT)
    f.write(head)
    return off


def generate(shape, dtype, out, seed=0, jobs=None, log=sys.stderr):
    cfg = SHAPES[shape]
    specs = tensor_specs(cfg, dtype)
    w = gw.GGUFWriter()
    metadata(w, "%s-random-%s" % (shape, dtype), cfg, dtype)
    tasks = []
    for i, s in enumerate(specs):
        for r0, r1 in s.chunks():
            tasks.append((seed, i, s.shape, s.gtype, s.fill, r0, r1))
    jobs = jobs or os.cpu_count() or 1
    t0 = time.time()
    tmp = out + ".tmp"
    with open(tmp, "wb") as f:
        data_bytes = write_header(f, w, specs)
        base = f.tell()
        # Ordered results with at most 2 * jobs chunks in flight.
        pool = mp.get_context("fork").Pool(jobs) if jobs > 1 else None
        try:
            pending = collections.deque()
            it = iter(tasks)
            ti = 0  # index into specs of the tensor being written
            written = 0  # bytes of the current tensor so far
            done = 0

            def submit():
                task = next(it, None)
                if task is None:
                    return False
                pending.append(pool.apply_async(encode_chunk, (task,)) if pool else task)
                return True

            for _ in range(2 * jobs):
                if not submit():
                    break
            while pending:
                r = pending.popleft()
                b = r.get() if pool else encode_chunk(r)
                submit()
                f.write(b)
                written += len(b)
                if written == specs[ti].nbytes:
                    pad = (-(f.tell() - base)) % gw.ALIGNMENT
                    f.write(b"\0" * pad)
                    ti += 1
                    written = 0
                done += 1
                if log and (done % 64 == 0 or not pending):
                    log.write("\r%s: %d/%d chunks, %.0f s" % (os.path.basename(out), done,
                                                             len(tasks), time.time() - t0))
                    log.flush()
        finally:
            if pool:
                pool.close()
                pool.join()
        assert ti == len(specs) and f.tell() - base == data_bytes, "size mismatch"
    os.replace(tmp, out)
    if log:
        n = sum(int(np.prod(s.shape)) for s in specs)
        log.write("\n%s: %s %s, %.3f B params, %.1f MB, %.0f s\n" % (
            out, shape, dtype, n / 1e9, os.path.getsize(out) / 1e6, time.time() - t0))
    return out


def main():
    ap = argparse.ArgumentParser(description="Write a random-weight GGUF at a real model's shapes.")
    ap.add_argument("--shape", choices=sorted(SHAPES))
    ap.add_argument("--dtype", default="q4_0", choices=sorted(gw.FILE_TYPE))
    ap.add_argument("--out")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--jobs", type=int, default=0, help="worker processes (default: all cores)")
    ap.add_argument("--list", action="store_true", help="print the known shapes and exit")
    a = ap.parse_args()
    if a.list:
        for k, v in SHAPES.items():
            print(k, " ".join("%s=%s" % kv for kv in v.items()))
        return
    if not a.shape or not a.out:
        ap.error("--shape and --out are required")
    d = os.path.dirname(os.path.abspath(a.out))
    os.makedirs(d, exist_ok=True)
    generate(a.shape, a.dtype, a.out, a.seed, a.jobs or None)


if __name__ == "__main__":
    main()
