#!/usr/bin/python3
"""End-to-end test of `tandem ckpt`: save files and directories, restore them
bit-exactly (latest and by step, one entry alone), ls/du JSON, verify, gc, and
clear errors with a nonzero exit for bad input and damaged stores.

usage: ckpt_cli_test.py TANDEM_BINARY
"""
import json
import os
import random
import shutil
import struct
import subprocess
import sys
import tempfile

TANDEM = sys.argv[1]
failures = []


def run(*args, ok=True):
    p = subprocess.run([TANDEM, "ckpt"] + [str(a) for a in args], capture_output=True, text=True)
    if ok and p.returncode != 0:
        raise SystemExit("FAIL: %s -> %d\n%s%s" % (args, p.returncode, p.stdout, p.stderr))
    return p


def check(cond, msg):
    if not cond:
        failures.append(msg)
        print("FAIL:", msg)


def expect_error(args, needle, code=None):
    p = run(*args, ok=False)
    check(p.returncode != 0, "%s should fail" % (args,))
    check(p.returncode in (1, 2), "%s exit %d is not 1 or 2 (crash?)" % (args, p.returncode))
    if code is not None:
        check(p.returncode == code, "%s exit %d, want %d" % (args, p.returncode, code))
    check(needle in p.stderr, "%s: stderr %r lacks %r" % (args, p.stderr, needle))


def read(path):
    with open(path, "rb") as f:
        return f.read()


def main():
    tmp = tempfile.mkdtemp(prefix="tandem-ckpt-cli-")
    try:
        rnd = random.Random(3)
        src = os.path.join(tmp, "src")
        os.makedirs(os.path.join(src, "sub"))
        files = {
            "a.bin": bytes(rnd.getrandbits(8) for _ in range(3 * 1024 * 1024 + 17)),
            "sub/b.txt": b"hello\n" * 1000,
            "sub/empty": b"",
        }
        for name, data in files.items():
            with open(os.path.join(src, name), "wb") as f:
                f.write(data)
        single = os.path.join(tmp, "notes.txt")
        with open(single, "wb") as f:
            f.write(b"step one notes")
        store = os.path.join(tmp, "store")

        run("save", store, "--step", 1, src, single)
        # step 2: one file changed by one byte; most chunks are shared
        data2 = bytearray(files["a.bin"])
        data2[100] ^= 0xFF
        with open(os.path.join(src, "a.bin"), "wb") as f:
            f.write(data2)
        p = run("save", store, "--step", 2, "--tag", "best", src)
        check("new chunks of" in p.stdout, "save prints a summary: %r" % p.stdout)

        ls = json.loads(run("ls", store, "--json").stdout)
        check([e["step"] for e in ls] == [1, 2], "ls steps: %s" % ls)
        check(ls[1]["latest"] and ls[1]["tags"] == ["best"], "ls latest/tags: %s" % ls)
        check(ls[0]["entries"] == 4 and ls[1]["entries"] == 3, "ls entries: %s" % ls)
        check(ls[1]["written_bytes"] < ls[0]["written_bytes"] / 2, "dedup: step 2 writes little: %s" % ls)
        check("(latest)" in run("ls", store).stdout, "plain ls marks latest")

        out1 = os.path.join(tmp, "out1")
        run("restore", store, "--step", 1, "--to", out1)
        for name, data in files.items():
            check(read(os.path.join(out1, "src", name)) == data, "step 1 %s restores exactly" % name)
        check(read(os.path.join(out1, "notes.txt")) == b"step one notes", "single file stored under its name")
        out2 = os.path.join(tmp, "out2")
        run("restore", store, "--to", out2)  # latest
        check(read(os.path.join(out2, "src", "a.bin")) == bytes(data2), "latest restores step 2")
        check(not os.path.exists(os.path.join(out2, "notes.txt")), "step 2 has no notes.txt")
        out3 = os.path.join(tmp, "out3")
        run("restore", store, "--step", 1, "--to", out3, "--entry", "src/sub/b.txt")
        check(os.listdir(os.path.join(out3, "src")) == ["sub"] and
              read(os.path.join(out3, "src/sub/b.txt")) == files["sub/b.txt"], "one entry alone")
        expect_error(["restore", store, "--step", 1, "--to", out1], "exists")
        run("restore", store, "--step", 1, "--to", out1, "--force")

        check(run("verify", store).stdout.startswith("ok:"), "verify ok")
        du = json.loads(run("du", store, "--json").stdout)
        for key in ("logical_bytes", "unique_bytes", "physical_bytes", "dedup_ratio", "compression_ratio"):
            check(key in du, "du has %s" % key)
        check(du["dedup_ratio"] > 1.5, "dedup ratio %s" % du["dedup_ratio"])

        # gc: keep only the newest step; step 1 goes, step 2 still restores
        p = run("gc", store, "--keep-last", 1)
        check("removed 1 steps" in p.stdout, "gc output: %r" % p.stdout)
        check([e["step"] for e in json.loads(run("ls", store, "--json").stdout)] == [2], "gc kept step 2")
        out4 = os.path.join(tmp, "out4")
        run("restore", store, "--to", out4)
        check(read(os.path.join(out4, "src", "a.bin")) == bytes(data2), "step 2 survives gc")
        run("verify", store)

        # bad input: clear message, exit 1 or 2, never a crash
        expect_error([], "usage", 2)
        expect_error(["frobnicate", store], "unknown command", 2)
        expect_error(["save", store, src], "--step", 2)
        expect_error(["save", store, "--step", "x", src], "--step", 2)
        expect_error(["save", store, "--step", 3], "PATH", 2)
        expect_error(["save", store, "--step", 3, os.path.join(tmp, "missing")], "does not exist", 1)
        expect_error(["restore", store], "--to", 2)
        expect_error(["restore", store, "--step", 7, "--to", out4], "step 7", 1)
        expect_error(["restore", store, "--to", out4, "--entry", "nope", "--force"], "no entry", 1)
        expect_error(["ls", os.path.join(tmp, "missing")], "not a tandem store", 1)
        expect_error(["ls", src], "not a tandem store", 1)
        expect_error(["save", src, "--step", 1, single], "not a tandem store", 1)
        expect_error(["gc", store, "--keep-last", "-3"], "non-negative", 2)
        expect_error(["ls", store, "--bogus"], "unknown option", 2)

        # damage: a flipped bit in the payload of every chunk record of every
        # pack (read from each pack's index: docs/store.md) is reported by
        # verify and restore
        packs = os.path.join(store, "packs")
        for name in os.listdir(packs):
            with open(os.path.join(packs, name), "r+b") as f:
                f.seek(-56, os.SEEK_END)
                footer = f.read(56)
                index_offset, count = struct.unpack("<QQ", footer[8:24])
                f.seek(index_offset)
                index = f.read(88 * count)
                for i in range(count):
                    offset, nbytes = struct.unpack("<QQ", index[88 * i + 32:88 * i + 48])
                    if nbytes <= 56:
                        continue
                    at = offset + 56 + (nbytes - 56) // 2
                    f.seek(at)
                    b = f.read(1)
                    f.seek(at)
                    f.write(bytes([b[0] ^ 4]))
        expect_error(["verify", store], "DATA_LOSS", 1)
        expect_error(["restore", store, "--to", os.path.join(tmp, "out5")], "DATA_LOSS", 1)
    finally:
        shutil.rmtree(tmp)
    if failures:
        print("%d failures" % len(failures))
        sys.exit(1)
    print("ok")


if __name__ == "__main__":
    main()
