#!/usr/bin/python3
"""Golden SentencePiece vectors from the real sentencepiece library (Debian's
python3-sentencepiece), for tandem's tokenizer tests.

    /usr/bin/python3 tools/spm_golden.py
        models/tiny-kjv/tokenizer.model -> tests/data/tokenizer/tiny_kjv_spm.json
    /usr/bin/python3 tools/spm_golden.py --train-small
        trains tests/data/tokenizer/small_spm.model (a 600-piece BPE model with
        byte fallback, user-defined and control symbols) on the golden strings
        of tests/data/tokenizer/llama2.json, then writes small_spm.json

Output: {"tokenizer": "sentencepiece <version>", "model": <path>, "model_sha256": ...,
         "cases": [{"text": ..., "ids": [...]}]} with ids from
SentencePieceProcessor.encode(text) (no BOS/EOS).

The strings: the ones tools/tokenizer_golden.mjs wrote to llama2.json (English,
KJV, CJK, emoji, combining marks, RTL, whitespace runs, numbers, code, URLs,
contractions, special-token-like text, seeded random mixes), plus lines of
models/tiny-kjv/heldout.txt when it exists, plus seeded random recombinations.
Strings with U+0000 are left out (sentencepiece stops at NUL).
"""
import argparse
import hashlib
import json
import os
import random
import sys

import sentencepiece as spm

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), ".."))
DATA = os.path.join(ROOT, "tests", "data", "tokenizer")


def golden_strings():
    with open(os.path.join(DATA, "llama2.json"), encoding="utf-8") as f:
        strings = [c["text"] for c in json.load(f)["cases"]]
    heldout = os.path.join(ROOT, "models", "tiny-kjv", "heldout.txt")
    if os.path.exists(heldout):
        with open(heldout, encoding="utf-8") as f:
            lines = [l.rstrip("\n") for l in f if l.strip()]
        strings += lines[:150]
        strings.append("\n".join(lines[150:170]))
    rng = random.Random(1611)  # the KJV's year
    words = " ".join(strings).split(" ")
    for _ in range(100):
        n = rng.randint(1, 12)
        sep = rng.choice([" ", " ", " ", "  ", "\n", "\t", ""])
        strings.append(sep.join(rng.choice(words) for _ in range(n)))
    strings += ["<tool>call</tool>", "a<tool>b", "[SEP]", "x [SEP] y", "<ctl> is control",
                "  <tool>  ", "<tool><tool>[SEP]"]
    return [s for s in strings if "\0" not in s]


def train_small(model_prefix):
    strings = golden_strings()
    text = os.path.join("/tmp", "spm_golden_train.txt")
    with open(text, "w", encoding="utf-8") as f:
        for s in strings:
            for line in s.split("\n"):
                if line.strip():
                    f.write(line + "\n")
    spm.SentencePieceTrainer.train(
        input=text, model_prefix=model_prefix, model_type="bpe", vocab_size=600,
        byte_fallback=True, unk_id=0, bos_id=1, eos_id=2, pad_id=-1,
        normalization_rule_name="identity", remove_extra_whitespaces=False,
        character_coverage=0.98, user_defined_symbols=["<tool>", "[SEP]"],
        control_symbols=["<ctl>"], hard_vocab_limit=False, minloglevel=2)


def write_golden(model, out):
    sp = spm.SentencePieceProcessor(model_file=model)
    cases = [{"text": s, "ids": sp.encode(s)} for s in golden_strings()]
    with open(model, "rb") as f:
        digest = hashlib.sha256(f.read()).hexdigest()
    doc = {
        "tokenizer": "sentencepiece " + spm.__version__,
        "model": os.path.relpath(model, ROOT),
        "model_sha256": digest,
        "cases": cases,
    }
    with open(out, "w", encoding="utf-8") as f:
        f.write(json.dumps(doc, ensure_ascii=False, separators=(",", ":"))
                .replace('},{"text"', '},\n{"text"') + "\n")
    print(f"{out}: {len(cases)} cases from {model}", file=sys.stderr)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--model", default=os.path.join(ROOT, "models", "tiny-kjv", "tokenizer.model"))
    ap.add_argument("--out", default=os.path.join(DATA, "tiny_kjv_spm.json"))
    ap.add_argument("--train-small", action="store_true")
    a = ap.parse_args()
    if a.train_small:
        prefix = os.path.join(DATA, "small_spm")
        train_small(prefix)
        os.remove(prefix + ".vocab")
        write_golden(prefix + ".model", os.path.join(DATA, "small_spm.json"))
        return
    if not os.path.exists(a.model):
        sys.exit(f"{a.model} does not exist (yet): train it first")
    write_golden(a.model, a.out)


if __name__ == "__main__":
    main()
