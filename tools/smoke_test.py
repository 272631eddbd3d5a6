#!/usr/bin/python3
"""Self-checks for the Python tools (runs in a few seconds).

  smoke_test.py [--dir /tmp/tandem-smoke]

Checks: safetensors round trip (F32/F16/BF16); GGUF write/read round trip;
q8_0/q4_0 quantizers against a scalar transcription of ggml's reference code;
permute/unpermute are inverse; interleaved-pair RoPE (GGUF llama, ggml "normal"
mode) on permuted Q/K equals rotate-half RoPE on HF Q/K; reference.py logits
on HF f32 dir == f32 GGUF (1e-5) for llama/mistral/qwen2; f16/bf16 close;
q8_0 and q4_0 GGUF close to f32.
"""
import argparse
import os
import subprocess
import sys

import numpy as np
import torch

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import gguf_writer as gw  # noqa: E402
import reference  # noqa: E402
import safetensors_io as st  # noqa: E402


def scalar_q8_0(x):
    out = []
    for b in np.asarray(x, np.float32).reshape(-1, 32):
        amax = np.float32(0)
        for v in b:
            amax = max(amax, np.float32(abs(v)))
        d = np.float32(amax / np.float32(127))
        idv = np.float32(1) / d if d != 0 else np.float32(0)
        q = []
        for v in b:
            t = np.float32(v * idv)
            r = np.floor(abs(t) + 0.5) * (1 if t >= 0 else -1)
            q.append(int(r))
        out.append(np.float16(d).tobytes() + np.array(q, np.int8).tobytes())
    return b"".join(out)


def scalar_q4_0(x):
    out = []
    for b in np.asarray(x, np.float32).reshape(-1, 32):
        amax, mx = np.float32(0), np.float32(0)
        for v in b:
            if amax < abs(v):
                amax, mx = np.float32(abs(v)), v
        d = np.float32(mx / np.float32(-8))
        idv = np.float32(1) / d if d != 0 else np.float32(0)
        qs = []
        for j in range(16):
            x0 = np.float32(b[j] * idv)
            x1 = np.float32(b[16 + j] * idv)
            xi0 = min(15, int(np.float32(x0 + np.float32(8.5))))
            xi1 = min(15, int(np.float32(x1 + np.float32(8.5))))
            qs.append(xi0 | (xi1 << 4))
        out.append(np.float16(d).tobytes() + bytes(qs))
    return b"".join(out)


def check(cond, msg):
    print(("ok   " if cond else "FAIL ") + msg)
    if not cond:
        check.failed = True


check.failed = False


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--dir", default="/tmp/tandem-smoke")
    a = ap.parse_args()
    torch.set_num_threads(2)
    os.makedirs(a.dir, exist_ok=True)
    rng = np.random.default_rng(0)

    # safetensors round trip
    t = {"a": rng.standard_normal((3, 5)).astype(np.float32),
         "b": rng.standard_normal(7).astype(np.float32)}
    for dt in ("F32", "F16", "BF16"):
        p = os.path.join(a.dir, "rt.safetensors")
        st.write_safetensors(p, t, dtype=dt, metadata={"format": "pt"})
        h, off = st.read_header(p)
        r = st.read_safetensors(p)
        tol = {"F32": 0, "F16": 1e-3, "BF16": 1e-2}[dt]
        ok = off % 8 == 0 and all(np.allclose(r[k], t[k], atol=tol * 4, rtol=tol) for k in t)
        if dt == "F32":
            ok = ok and all(np.array_equal(r[k], t[k]) for k in t)
        check(ok, "safetensors round trip %s" % dt)

    # quantizers vs scalar transcription
    x = rng.standard_normal(32 * 40).astype(np.float32)
    x[:32] = 0
    x[32:64] = np.linspace(-1, 1, 32)
    check(gw.quantize_q8_0(x) == scalar_q8_0(x), "q8_0 matches scalar reference")
    check(gw.quantize_q4_0(x) == scalar_q4_0(x), "q4_0 matches scalar reference")
    dq8 = gw.dequantize(gw.Q8_0, gw.quantize_q8_0(x), [x.size])
    dq4 = gw.dequantize(gw.Q4_0, gw.quantize_q4_0(x), [x.size])
    check(np.abs(dq8 - x).max() < 0.02 and np.abs(dq4 - x).max() < 0.5,
          "q8_0/q4_0 dequant error %.4g / %.4g" % (np.abs(dq8 - x).max(), np.abs(dq4 - x).max()))
    bf = gw.dequantize(gw.BF16, gw.f32_to_bf16_bits(x).tobytes(), [x.size])
    check(np.abs(bf - x).max() <= np.abs(x).max() / 256, "bf16 round trip")

    # permute
    w = rng.standard_normal((4 * 16, 64)).astype(np.float32)
    check(np.array_equal(gw.unpermute_qk(gw.permute_qk(w, 4), 4), w), "unpermute(permute(w)) == w")
    # interleaved RoPE on permuted rows == rotate-half RoPE on HF rows
    hd, nh, T, theta = 16, 4, 9, 10000.0
    h = rng.standard_normal((T, 64)).astype(np.float64)
    inv = theta ** (-np.arange(0, hd, 2) / hd)
    ang = np.outer(np.arange(T), inv)  # [T, hd/2]
    q_hf = (h @ w.T.astype(np.float64)).reshape(T, nh, hd)
    c, s = np.cos(ang)[:, None, :], np.sin(ang)[:, None, :]
    x1, x2 = q_hf[..., :hd // 2], q_hf[..., hd // 2:]
    rh = np.concatenate([x1 * c - x2 * s, x2 * c + x1 * s], -1)
    q_gg = (h @ gw.permute_qk(w, nh).T.astype(np.float64)).reshape(T, nh, hd)
    e, o = q_gg[..., 0::2], q_gg[..., 1::2]
    il = np.empty_like(q_gg)
    il[..., 0::2], il[..., 1::2] = e * c - o * s, o * c + e * s
    # un-interleave: GGUF pair i holds HF dims (i, i + hd/2)
    back = np.concatenate([il[..., 0::2], il[..., 1::2]], -1)
    check(np.allclose(back, rh, atol=1e-9), "interleaved RoPE(permuted) == rotate-half RoPE(HF)")

    # test models + reference logits
    tm = os.path.join(a.dir, "tm")
    subprocess.run([sys.executable, os.path.join(HERE, "make_test_models.py"), "--out", tm],
                   check=True)
    prompts = [[1, 5, 17, 300, 42, 7, 99, 250], [1], list(range(3, 43))]
    for arch in ("llama", "mistral", "qwen2"):
        ref = reference.Model(os.path.join(tm, arch + "-f32"))
        lg = [ref.logits(p).numpy() for p in prompts]
        ref64 = reference.Model(os.path.join(tm, arch + "-f32"), torch.float64)
        d64 = max(np.abs(ref64.logits(p).numpy() - l).max() for p, l in zip(prompts, lg))
        check(d64 < 1e-4, "%s f32 vs f64 max diff %.2e" % (arch, d64))
        scale = max(np.abs(l).max() for l in lg)
        for src, tol in (("f32.gguf", 1e-5), ("f16", 0.02), ("bf16", 0.1), ("f16.gguf", 0.02),
                         ("bf16.gguf", 0.1), ("q8_0.gguf", 0.15), ("q4_0.gguf", 1.5)):
            path = os.path.join(tm, "%s-%s" % (arch, src))
            m = reference.Model(path)
            d = max(np.abs(m.logits(p).numpy() - l).max() for p, l in zip(prompts, lg))
            check(d <= tol, "%s %-9s max |dlogit| %.2e (tol %g, logit scale %.2f)" %
                  (arch, src, d, tol, scale))

    # logits CLI
    out = os.path.join(a.dir, "ref_llama")
    subprocess.run([sys.executable, os.path.join(HERE, "reference.py"), "logits", "--model",
                    os.path.join(tm, "llama-q8_0.gguf"), "--prompts",
                    os.path.join(tm, "prompts.json"), "--out", out, "--greedy-steps", "8"],
                   check=True)
    import json
    j = json.load(open(out + ".json"))
    b = np.fromfile(out + ".bin", dtype="<f4")
    n = sum(c["n_positions"] for c in j["cases"]) * j["vocab_size"]
    check(b.size == n and all(len(c["greedy"]) == 8 for c in j["cases"]), "logits CLI output shape")
    last = j["cases"][-1]
    row = b[last["offset"] + (last["n_positions"] - 1) * j["vocab_size"]:
            last["offset"] + last["n_positions"] * j["vocab_size"]]
    check(int(row.argmax()) == last["greedy"][0], "greedy[0] == argmax(last logits)")
    print("FAILED" if check.failed else "ALL OK")
    sys.exit(1 if check.failed else 0)


if __name__ == "__main__":
    main()
