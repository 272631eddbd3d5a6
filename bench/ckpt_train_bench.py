#!/usr/bin/python3
"""Per-step checkpoint cost of the shipped model's training, all in one run.

Trains tools/train_tiny.py's model (models/tiny-kjv shape: 5.1M params,
AdamW, batch 16 x 128 tokens by default) on held-out KJV text and rotates,
in blocks of --block steps for --rounds rounds, between:
  none          no checkpoint
  tandem        tandem store every step (async; full chunks, zstd 1)
  tandem-delta  the same with the XOR-delta codec
  torch.save    torch.save of the same state every step (file + rename, no fsync)
Each step's time covers forward, backward, optimizer step and the checkpoint
call; at the end of a tandem block the wait for its last background save is
added to that block. Prints step time, overhead against `none`, and bytes
written per step against the raw state size.

usage: nice /usr/bin/python3 bench/ckpt_train_bench.py [--block 6] [--rounds 3]
       [--batch 16] [--seq 128] [--dir /tmp/tandem-ckpt-bench] [--store-threads 1]
"""
import argparse
import os
import shutil
import sys
import time

import numpy as np
import torch
import torch.nn.functional as F

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(ROOT, "tools"))
sys.path.insert(0, os.path.join(ROOT, "python"))
import train_tiny  # noqa: E402
import tandem_ckpt  # noqa: E402


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--block", type=int, default=6)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--batch", type=int, default=16)
    ap.add_argument("--seq", type=int, default=128)
    ap.add_argument("--dir", default="/tmp/tandem-ckpt-bench")
    ap.add_argument("--store-threads", type=int, default=1)
    ap.add_argument("--zstd", type=int, default=1)
    args = ap.parse_args()
    torch.set_num_threads(2)
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
    cks = {
        "tandem": tandem_ckpt.TrainingCheckpointer(os.path.join(args.dir, "full"), delta=False,
                                                   keep_last=2, gc_every=8, threads=args.store_threads,
                                                   zstd_level=args.zstd),
        "tandem-delta": tandem_ckpt.TrainingCheckpointer(os.path.join(args.dir, "delta"), delta=True,
                                                         keep_last=2, gc_every=8, threads=args.store_threads,
                                                         zstd_level=args.zstd),
    }
    pt_path = os.path.join(args.dir, "state.pt")
    modes = ["none", "tandem", "tandem-delta", "torch.save"]
    times = {m: [] for m in modes}
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
    for m in ("tandem", "tandem-delta"):
        step += 1
        train_step(step)
        cks[m].save(step, model=model, optimizer=opt, extra={"step": step})
        cks[m].flush()
    base_stats = {m: cks[m].stats() for m in cks}
    raw_bytes = sum(item[4].nbytes for item in tandem_ckpt.state_items(model, opt, {"step": step}))

    for r in range(args.rounds):
        for m in modes:
            block_times = []
            for _ in range(args.block):
                step += 1
                t0 = time.perf_counter()
                train_step(step)
                if m in cks:
                    cks[m].save(step, model=model, optimizer=opt, extra={"step": step})
                elif m == "torch.save":
                    torch.save({"model": model.state_dict(), "optimizer": opt.state_dict(),
                                "rng": torch.get_rng_state(), "step": step}, pt_path + ".tmp")
                    os.replace(pt_path + ".tmp", pt_path)
                    written[m] += os.path.getsize(pt_path)
                block_times.append(time.perf_counter() - t0)
                nsaved[m] += 1
            if m in cks:
                t0 = time.perf_counter()
                cks[m].flush()
                block_times[-1] += time.perf_counter() - t0
            times[m] += block_times
            print("round %d %-13s mean step %.0f ms" % (r, m, 1e3 * sum(block_times) / len(block_times)),
                  flush=True)
    for m in cks:
        s = cks[m].stats()
        b = base_stats[m]
        written[m] = (s["chunk_file_bytes"] - b["chunk_file_bytes"]) + (s["manifest_bytes"] - b["manifest_bytes"])
        print("%s: %s" % (m, s))
        cks[m].close()

    base = sum(times["none"]) / len(times["none"])
    print()
    print("state per step: %.1f MB raw (model + AdamW moments + RNG + meta); batch %d x %d; %d steps per mode"
          % (raw_bytes / 1e6, args.batch, args.seq, len(times["none"])))
    print("%-13s %12s %10s %16s %12s" % ("mode", "step_ms", "overhead", "written_MB/step", "vs_raw"))
    for m in modes:
        t = sum(times[m]) / len(times[m])
        w = written[m] / nsaved[m] if m != "none" else 0
        print("%-13s %12.0f %9.1f%% %16.2f %11.2fx" % (m, 1e3 * t, 100 * (t / base - 1), w / 1e6,
                                                      w / raw_bytes if raw_bytes else 0))
    shutil.rmtree(args.dir, ignore_errors=True)


if __name__ == "__main__":
    main()
