#!/usr/bin/python3
"""Kill training with SIGKILL at random steps, resume from tandem's store,
and check the loss sequence is bitwise identical to an uninterrupted run
(which does not checkpoint at all). Every step that was recomputed after a
kill must also repeat its earlier loss bit for bit.

usage: train_resume_test.py [--steps N] [--kills K] [--seed S]
Needs the _tandem_store module built (build*/python) and bible-kjv-text.
"""
import argparse
import os
import random
import shutil
import signal
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
TRAIN = os.path.join(ROOT, "tools", "train_tiny.py")


def read_losses(path):
    """[(step, hex)] from complete lines (a kill can cut the last one)."""
    out = []
    if not os.path.exists(path):
        return out
    with open(path) as f:
        for line in f:
            if not line.endswith("\n"):
                break
            s, h = line.split()
            out.append((int(s), h))
    return out


def cmd(args, out_dir, loss_log, ckpt_dir=None):
    c = [sys.executable, TRAIN, "--steps", str(args.steps * 4), "--stop-at", str(args.steps),
         "--batch", "2", "--seq", "32", "--warmup", "3",
         "--out-dir", out_dir, "--tokenizer", os.path.join(ROOT, "models", "tiny-kjv", "tokenizer.model"),
         "--loss-log", loss_log]
    if ckpt_dir:
        c += ["--ckpt-dir", ckpt_dir, "--resume", "--ckpt-keep", "3"]
    return c


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--steps", type=int, default=14)
    ap.add_argument("--kills", type=int, default=3)
    ap.add_argument("--seed", type=int, default=int(time.time()))
    args = ap.parse_args()
    print("seed", args.seed, flush=True)
    rnd = random.Random(args.seed)
    tmp = tempfile.mkdtemp(prefix="tandem-train-resume-")
    try:
        ref_log = os.path.join(tmp, "ref.txt")
        subprocess.run(cmd(args, os.path.join(tmp, "ref"), ref_log), check=True,
                       stdout=subprocess.DEVNULL)
        ref = read_losses(ref_log)
        assert [s for s, _ in ref] == list(range(1, args.steps + 1)), ref

        log = os.path.join(tmp, "killed.txt")
        ckpt = os.path.join(tmp, "ckpt")
        kill_points = sorted(rnd.sample(range(2, args.steps), args.kills))
        print("killing at steps", kill_points, flush=True)
        runs = 0
        for target in kill_points + [None]:
            runs += 1
            p = subprocess.Popen(cmd(args, os.path.join(tmp, "run"), log, ckpt), stdout=subprocess.DEVNULL)
            if target is None:
                assert p.wait() == 0, "final run failed"
                break
            while p.poll() is None:
                got = read_losses(log)
                if got and got[-1][0] >= target:
                    break
                time.sleep(0.01)
            assert p.poll() is None, "training finished before the kill at step %d" % target
            p.send_signal(signal.SIGKILL)
            p.wait()
            print("killed at step %d" % read_losses(log)[-1][0], flush=True)

        seen = {}
        repeats = 0
        for s, h in read_losses(log):
            if s in seen:
                repeats += 1
                assert seen[s] == h, "step %d recomputed after a kill gave loss %s, first %s" % (s, h, seen[s])
            seen[s] = h
        got = sorted(seen.items())
        if got != ref:
            for (s1, a), (s2, b) in zip(got, ref):
                if (s1, a) != (s2, b):
                    print("first difference: step %d %s vs reference step %d %s" % (s1, a, s2, b))
                    break
            print("FAIL: loss sequence differs from the uninterrupted run")
            sys.exit(1)
        sys.path.insert(0, os.path.join(ROOT, "python"))
        import tandem_ckpt
        v = tandem_ckpt.Reader(ckpt).verify()
        assert v["ok"], v
        print("ok: %d steps bitwise identical to the uninterrupted run after %d SIGKILLs "
              "(%d steps recomputed, all identical); store verified (%d manifests)"
              % (len(got), runs - 1, repeats, v["manifests"]))
    finally:
        shutil.rmtree(tmp)


if __name__ == "__main__":
    main()
