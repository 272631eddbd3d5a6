#!/usr/bin/python3
"""Test data for tandem's reference tests, made at test time (a CTest fixture).

    /usr/bin/python3 tools/make_reference_data.py --out build/testdata

Writes:
  OUT/models/...            random small llama / mistral / qwen2 models in every
                            format and dtype (tools/make_test_models.py)
  OUT/ref/<model>.json/.bin logits for every position of every prompt in
                            OUT/models/prompts.json and 64 greedy tokens, from
                            tools/reference.py (plain PyTorch)
  OUT/ref/tiny-kjv.json/.bin the same for the shipped model (models/tiny-kjv),
                            prompts = KJV snippets encoded with Debian's
                            sentencepiece, BOS first
  OUT/ref/tiny-kjv-ppl.json  PyTorch perplexity of the held-out books
                            (first --ppl-tokens tokens, window 128) and the
                            token ids it scored
Skips work whose outputs are newer than the inputs and this script.
"""
import argparse
import json
import os
import subprocess
import sys
import types

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
sys.path.insert(0, HERE)

KJV_PROMPTS = [
    "In the beginning God created the heaven and the earth.",
    "And the LORD said unto Moses,",
    "Blessed are the poor in spirit:",
    "For God so loved the world,",
    "The LORD is my shepherd; I shall not want.",
    "And it came to pass",
]


def newer(out, inputs):
    if not os.path.exists(out):
        return False
    t = os.path.getmtime(out)
    return all(os.path.getmtime(i) <= t for i in inputs if os.path.exists(i))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--out", required=True)
    ap.add_argument("--ppl-tokens", type=int, default=4096)
    a = ap.parse_args()
    a.out = os.path.abspath(a.out)
    models = os.path.join(a.out, "models")
    ref = os.path.join(a.out, "ref")
    os.makedirs(ref, exist_ok=True)
    deps = [os.path.join(HERE, f) for f in
            ("make_test_models.py", "gguf_writer.py", "safetensors_io.py", "reference.py",
             "make_reference_data.py")]
    prompts = os.path.join(models, "prompts.json")
    if not newer(prompts, deps):
        subprocess.check_call([sys.executable, os.path.join(HERE, "make_test_models.py"),
                               "--out", models])

    import torch
    torch.set_num_threads(2)
    import reference

    def logits(model, prompts_file, out):
        # The stamp is written last: a run killed midway (a CTest timeout)
        # leaves no stamp, so the next run redoes that model.
        stamp = out + ".done"
        if newer(stamp, deps + [model, prompts_file]):
            return
        reference.cmd_logits(types.SimpleNamespace(model=model, prompts=prompts_file, out=out,
                                                   greedy_steps=64, f64=False))
        with open(stamp, "w") as f:
            f.write("ok\n")

    for name in sorted(os.listdir(models)):
        if name == "prompts.json":
            continue
        logits(os.path.join(models, name), prompts, os.path.join(ref, name))

    kjv = os.path.join(ROOT, "models", "tiny-kjv")
    if os.path.exists(os.path.join(kjv, "model.safetensors")):
        import sentencepiece as spm
        sp = spm.SentencePieceProcessor(model_file=os.path.join(kjv, "tokenizer.model"))
        kp = os.path.join(ref, "tiny-kjv-prompts.json")
        kp_text = json.dumps({"prompts": [[sp.bos_id()] + sp.encode(t) for t in KJV_PROMPTS]})
        if not os.path.exists(kp) or open(kp).read() != kp_text:  # keep its mtime when unchanged
            with open(kp, "w") as f:
                f.write(kp_text)
        logits(kjv, kp, os.path.join(ref, "tiny-kjv"))
        ppl_out = os.path.join(ref, "tiny-kjv-ppl.json")
        heldout = os.path.join(kjv, "heldout.txt")
        if not newer(ppl_out, deps + [heldout, os.path.join(kjv, "model.safetensors")]):
            with open(heldout, encoding="utf-8") as f:
                ids = sp.encode(f.read())[: a.ppl_tokens]
            tok_file = os.path.join(ref, "tiny-kjv-ppl-tokens.json")
            with open(tok_file, "w") as f:
                json.dump(ids, f)
            r = subprocess.run([sys.executable, os.path.join(HERE, "reference.py"), "ppl",
                                "--model", kjv, "--tokens", tok_file, "--window", "128"],
                               check=True, capture_output=True, text=True)
            res = json.loads(r.stdout.strip().splitlines()[-1])
            # Beside this file, so the data can be copied to another machine.
            res["tokens_file"] = os.path.basename(tok_file)
            with open(ppl_out + ".tmp", "w") as f:
                json.dump(res, f)
            os.replace(ppl_out + ".tmp", ppl_out)
    print("reference data in %s" % a.out)


if __name__ == "__main__":
    main()
