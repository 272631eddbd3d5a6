#!/usr/bin/python3
"""Per-step checkpoint cost of the shipped model's training, all in one run.

Trains tools/train_tiny.py's model (models/tiny-kjv shape: 5.1M params,
AdamW, batch 16 x 128 tokens by default) on held-out KJV text and rotates,
in blocks of --block steps for --rounds rounds, between:
  none          no checkpoint
  tandem        tandem store every step (async; full chunks, zstd 1)
  tandem-delta  the same with the XOR-delta codec
  tandem-z0     tandem store every step without compression (zstd level 0)
  tandem-z0-buffered  the same with pack files through the page cache (no O_DIRECT)
  tandem-z0-sha256    tandem-z0 in a format-2 store (chunks named by SHA-256, as before BLAKE3)
  torch.save    torch.save of the same state every step (file + rename, no fsync)
Each round visits every mode once, starting one mode later than the round
before (ABCDE, BCDEA, ...), so no mode always follows the same one. A step's
time covers forward, backward, optimizer step and the checkpoint call; at
the end of a tandem block the wait for its last background save (flush) is
added to that block, so all background work of a block is inside it.
Reports per mode: the median over rounds of the block's mean step time
(wall and process CPU, which includes the store's background threads), the
overhead against `none` as the median of per-round ratios (each mode's block
against the `none` block of the same round), and bytes written per step
against the raw state size.

usage: nice -n 10 /usr/bin/python3 bench/ckpt_train_bench.py [--block 2] [--rounds 12]
       [--batch 16] [--seq 128] [--dir /tmp/tandem-ckpt-bench] [--store-threads 1]
       [--torch-threads 1] [--zstd 1] [--nice 10] [--modes none,tandem,...]
"""
import argparse
import os
import shutil
import sys
import time



def _torch_threads_arg():
    for i, a in enumerate(sys.argv):
        if a == "--torch-threads" and i + 1 < len(sys.argv):
            return sys.argv[i + 1]
        if a.startswith("--torch-threads="):
            return a.split("=", 1)[1]
    return "1"


# torch.set_num_threads() sets torch's own pool; Debian's torch does its
# GEMMs in OpenBLAS, whose pthread pool is sized from this variable when the
# library loads (default: every core, whose idle workers spin in
# sched_yield). Without it "--torch-threads 1" trained on both vCPUs and the
# background persistence competed with a spinning BLAS thread.
# numpy loads the same OpenBLAS, so this comes before both imports.
os.environ.setdefault("OPENBLAS_NUM_THREADS", _torch_threads_arg())

import numpy as np  # noqa: E402
import torch  # noqa: E402
import torch.nn.functional as F  # noqa: E402

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(ROOT, "tools"))
sys.path.insert(0, os.path.join(ROOT, "python"))
import train_tiny  # noqa: E402
import tandem_ckpt  # noqa: E402


def median(v):
    v = sorted(v)
    n = len(v)
    return v[n // 2] if n % 2 else 0.5 * (v[n // 2 - 1] + v[n // 2])


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--block", type=int, default=2)
    ap.add_argument("--rounds", type=int, default=12)
    ap.add_argument("--batch", type=int, default=16)
    ap.add_argument("--seq", type=int, default=128)
    ap.add_argument("--dir", default="/tmp/tandem-ckpt-bench")
    ap.add_argument("--store-threads", type=int, default=1)
    ap.add_argument("--torch-threads", type=int, default=1)
    ap.add_argument("--zstd", type=int, default=1, help="zstd level of the tandem and tandem-delta modes")
    ap.add_argument("--nice", type=int, default=10, help="background persistence runs this much nicer")
    ap.add_argument("--modes", default="none,tandem,tandem-delta,tandem-z0,tandem-z0-buffered,torch.save",
                    help="comma-separated subset of the modes; none is always run")
    args = ap.parse_args()
    torch.set_num_threads(args.torch_threads)
    torch.manual_seed(1234)
    rng = np.random.RandomState(1234)

    import sentencepiece as spm
    sp = spm.SentencePieceProcessor(model_file=os.path.join(ROOT, "models/tiny-kjv/tokenizer.model"))
    with open(os.path.join(ROOT, "models/tiny-kjv/heldout.txt")) as f:
        stream = np.array([1] + sp.encode(f.read()), dtype=np.int64)

    model = train_tiny.TinyLlama(train_tiny.CONFIG)
    decay = [p for p in model.parameters() if p.dim() == 2]
    nodecay = [p for p in model.parameters() if p.dim() < 2]
    opt = torch.optim.AdamW([{"params": decay, "weight_decay": 0.1},
                             {"params": nodecay, "weight_decay": 0.0}],
                            lr=2.5e-3, betas=(0.9, 0.95), eps=1e-8)

    shutil.rmtree(args.dir, ignore_errors=True)
    os.makedirs(args.dir)

    def ck(sub, **kw):
        return lambda: tandem_ckpt.TrainingCheckpointer(os.path.join(args.dir, sub), keep_last=2, gc_every=8,
                                                        threads=args.store_threads, nice=args.nice, **kw)
    makers = {
        "tandem": ck("full", delta=False, zstd_level=args.zstd),
        "tandem-delta": ck("delta", delta=True, zstd_level=args.zstd),
        "tandem-z0": ck("z0", delta=False, zstd_level=0),
        "tandem-z0-buffered": ck("z0b", delta=False, zstd_level=0, direct_io=False),
        "tandem-z0-sha256": ck("z0s", delta=False, zstd_level=0, hash="sha256"),
    }
    modes = ["none"] + [m for m in args.modes.split(",") if m and m != "none"]
    for m in modes:
        if m not in makers and m not in ("none", "torch.save"):
            ap.error("unknown mode " + m)
    cks = {m: makers[m]() for m in modes if m in makers}
    pt_path = os.path.join(args.dir, "state.pt")
    wall = {m: [] for m in modes}   # per round: mean step seconds of the block
    cpu = {m: [] for m in modes}
    written = {m: 0 for m in modes}
    nsaved = {m: 0 for m in modes}
    raw_bytes = None

    def train_step(step):
        starts = rng.randint(0, len(stream) - args.seq - 1, size=args.batch)
        batch = np.stack([stream[s:s + args.seq + 1] for s in starts])
        x, y = torch.from_numpy(batch[:, :-1]), torch.from_numpy(batch[:, 1:])
        for g in opt.param_groups:
            g["lr"] = train_tiny.lr_at(step, 1000, 2.5e-3, 50)
        logits = model(x)
        loss = F.cross_entropy(logits.reshape(-1, logits.shape[-1]), y.reshape(-1))
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        return loss.item()

    # warm-up: allocator, optimizer state, first (full) checkpoints
    step = 0
    for m in cks:
        step += 1
        train_step(step)
        cks[m].save(step, model=model, optimizer=opt, extra={"step": step})
        cks[m].flush()
    base_stats = {m: cks[m].stats() for m in cks}
    raw_bytes = sum(item[4].nbytes for item in tandem_ckpt.state_items(model, opt, {"step": step}))

    for r in range(args.rounds):
        order = modes[r % len(modes):] + modes[:r % len(modes)]
        line = []
        for m in order:
            w0, c0 = time.perf_counter(), time.process_time()
            for _ in range(args.block):
                step += 1
                train_step(step)
                if m in cks:
                    cks[m].save(step, model=model, optimizer=opt, extra={"step": step})
                elif m == "torch.save":
                    torch.save({"model": model.state_dict(), "optimizer": opt.state_dict(),
                                "rng": torch.get_rng_state(), "step": step}, pt_path + ".tmp")
                    os.replace(pt_path + ".tmp", pt_path)
                    written[m] += os.path.getsize(pt_path)
                nsaved[m] += 1
            if m in cks:
                cks[m].flush()
            wall[m].append((time.perf_counter() - w0) / args.block)
            cpu[m].append((time.process_time() - c0) / args.block)
            line.append("%s %.0f/%.0f" % (m, 1e3 * wall[m][-1], 1e3 * cpu[m][-1]))
        print("round %2d (ms wall/cpu per step): %s" % (r, ", ".join(line)), flush=True)
    for m in cks:
        s = cks[m].stats()
        b = base_stats[m]
        written[m] = (s["chunk_file_bytes"] - b["chunk_file_bytes"]) + (s["manifest_bytes"] - b["manifest_bytes"])
        print("%s: %s" % (m, s))
        cks[m].close()

    print()
    print("state per step: %.1f MB raw (model + AdamW moments + RNG + meta); batch %d x %d; torch threads %d, "
          "store threads %d, background nice +%d, zstd %d; %d rounds x %d steps per mode"
          % (raw_bytes / 1e6, args.batch, args.seq, args.torch_threads, args.store_threads, args.nice, args.zstd,
             args.rounds, args.block))
    print("%-13s %10s %10s %10s %10s %10s %16s %8s" % ("mode", "wall_ms", "overhead", "ovh_mean", "cpu_ms",
                                                        "cpu_ovh", "written_MB/step", "vs_raw"))
    for m in modes:
        ratio = [a / b for a, b in zip(wall[m], wall["none"])]
        cratio = [a / b for a, b in zip(cpu[m], cpu["none"])]
        mean_ovh = sum(wall[m]) / sum(wall["none"]) - 1
        w = written[m] / nsaved[m] if m != "none" else 0
        print("%-13s %10.0f %9.1f%% %9.1f%% %10.0f %9.1f%% %16.2f %7.2fx"
              % (m, 1e3 * median(wall[m]), 100 * (median(ratio) - 1), 100 * mean_ovh, 1e3 * median(cpu[m]),
                 100 * (median(cratio) - 1), w / 1e6, w / raw_bytes if raw_bytes else 0))
    print("(wall_ms, cpu_ms: medians over rounds of the block's mean step; overhead: median over rounds of the "
          "block's ratio to the same round's `none` block; ovh_mean: ratio of the means)")
    shutil.rmtree(args.dir, ignore_errors=True)


if __name__ == "__main__":
    main()
