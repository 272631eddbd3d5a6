#!/usr/bin/python3
"""Smoke test of `tandem bench`: the JSON it prints has the documented keys
and positive values. Correctness of the output only; no timing assertions.

  bench_smoke.py TANDEM_BINARY MODEL.gguf
"""
import json
import os
import subprocess
import sys
import tempfile


def run(cmd):
    p = subprocess.run(cmd, capture_output=True, text=True, timeout=600)
    if p.returncode != 0:
        sys.exit("FAIL: %s exited %d\n%s" % (" ".join(cmd), p.returncode, p.stderr))
    try:
        return json.loads(p.stdout)
    except ValueError as e:
        sys.exit("FAIL: %s printed no JSON (%s):\n%s" % (" ".join(cmd), e, p.stdout))


def check_positive(j, keys, what):
    for k in keys:
        v = j.get(k)
        if not isinstance(v, (int, float)) or isinstance(v, bool) or not v > 0:
            sys.exit("FAIL: %s: key %r missing or not a positive number: %r" % (what, k, v))


def main():
    tandem, model = sys.argv[1], sys.argv[2]
    r = run([tandem, "bench", "roofline", "--json", "--seconds", "0.3", "--mem-mib", "64"])
    check_positive(r, ["mem_bw_gbs", "peak_gflops_f32", "peak_gops_int8", "threads"], "roofline")
    if not isinstance(r.get("isa"), str) or not r["isa"]:
        sys.exit("FAIL: roofline: 'isa' missing")

    m = run([tandem, "bench", "model", "-m", model, "--json", "--pp", "32", "--tg", "8",
             "--reps", "1", "--batch", "2", "--roofline-seconds", "0.3", "--ops"])
    check_positive(m, ["pp512_tps", "tg128_tps", "pp512_roofline_pct", "tg128_roofline_pct",
                       "peak_rss_bytes", "tg_batch_tps", "batch", "threads", "params",
                       "pp_flops_per_token", "tg_bytes_per_token"], "model")
    if m["pp_tokens"] != 32 or m["tg_tokens"] != 8 or m["batch"] != 2:
        sys.exit("FAIL: model: pp_tokens/tg_tokens/batch do not echo the options: %r" % m)

    # --ops: every phase has every op; the matmuls carry their rates, and the
    # shares of a phase add up to 100%.
    ops = m.get("ops", {})
    want = ["embed", "norm", "qkv", "rope_kv", "attention", "wo", "residual", "gate_up", "silu_mul", "down", "head"]
    if sorted(ops) != sorted(["pp32", "tg8", "tg8 x2"]):
        sys.exit("FAIL: model --ops: phases %r" % sorted(ops))
    for phase, table in ops.items():
        if list(table) != want:
            sys.exit("FAIL: model --ops: %s has ops %r" % (phase, list(table)))
        share = sum(o["share_pct"] for o in table.values())
        if abs(share - 100.0) > 0.5:
            sys.exit("FAIL: model --ops: %s shares add to %.2f%%" % (phase, share))
        for name in ["qkv", "wo", "gate_up", "down", "head"]:
            if not table[name].get("gflops", 0) > 0 or not table[name].get("weight_gbs", 0) > 0:
                sys.exit("FAIL: model --ops: %s %s has no rate: %r" % (phase, name, table[name]))
        if "gflops" in table["attention"]:
            sys.exit("FAIL: model --ops: attention has a weight rate")

    # The same roofline read back from a file instead of measured.
    with tempfile.NamedTemporaryFile("w", suffix=".json", delete=False) as f:
        json.dump(r, f)
    try:
        m2 = run([tandem, "bench", "model", "-m", model, "--json", "--pp", "16", "--tg", "4",
                  "--reps", "1", "--roofline", f.name])
    finally:
        os.unlink(f.name)
    check_positive(m2, ["pp512_tps", "tg128_tps", "pp512_roofline_pct", "tg128_roofline_pct",
                        "peak_rss_bytes"], "model --roofline")
    if m2.get("mem_bw_gbs") != r["mem_bw_gbs"] or "tg_batch_tps" in m2 or "ops" in m2:
        sys.exit("FAIL: model --roofline: roofline not taken from the file, or batch / ops keys without --batch / --ops")
    print("ok")


if __name__ == "__main__":
    main()
