#!/usr/bin/python3
"""Train the tiny KJV Llama model shipped in models/tiny-kjv/.

Data: the King James Bible from Debian's bible-kjv-text, dumped with the
`bible` command (package bible-kjv) into plain text: one chapter heading line
("Genesis 1") followed by one line per verse ("1 In the beginning ...").
The last five books (1 John, 2 John, 3 John, Jude, Revelation) are HELD OUT
for evaluation; everything from Genesis to 2 Peter is training data.
The held-out text is written to models/tiny-kjv/heldout.txt (small); the
training text is regenerated deterministically (not stored in the repo).

Steps (each can be run alone):
  --probe            train ~30 s and print tokens/s (to size --steps)
  (default)          data -> tokenizer -> train -> checkpoint -> export
  --export-only      export models/tiny-kjv/ from the saved checkpoint

Checkpoints every step (tandem's store, python/tandem_ckpt.py; build the
_tandem_store module first): --ckpt-dir DIR saves model, optimizer, RNG
states and data position after every step, in the background; --resume
continues from the latest committed step there, bitwise as if never stopped.
--out-dir, --tokenizer and --loss-log let tests run without touching
models/tiny-kjv/ or retraining the tokenizer.

Tokenizer: SentencePiece BPE, vocab 4096, byte_fallback, unk=0 bos=1 eos=2,
identity normalization, no whitespace collapsing, split_digits.
Training stream: for every chapter, [BOS] + sp.encode(chapter text with "\n"
between lines); random windows of seq_len+1 tokens are sampled from it.

Model: Llama (RMSNorm, RoPE rotate-half theta 1e4, SwiGLU, GQA 8q/2kv heads,
head_dim 32, untied output, no biases).  Fixed seeds; CPU; 2 threads.

The shipped model was made with
  nice -n 5 /usr/bin/python3 tools/train_tiny.py --steps 900 --batch 16 --seq 128 \
      --lr 2.5e-3 --warmup 50
(5,114,112 params, 1.84M tokens seen, 3430 s wall on a heavily shared 2-core
machine, final train loss EMA 3.19, held-out ppl 50.55 with
`reference.py ppl --window 128` over 21,694 tokens).
--stop-at / --anneal are optional extras (cut a long schedule short and
finish with a short fresh-optimizer anneal); they were not used for the
shipped model.
"""
import argparse
import json
import math
import os
import subprocess
import sys
import time

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
sys.path.insert(0, HERE)

OUT_DIR = os.path.join(ROOT, "models", "tiny-kjv")
WORK_DIR = "/tmp/tiny-kjv-work"
CKPT = "/tmp/tiny-kjv-ckpt.pt"
HELDOUT_BOOKS = ["1 John", "2 John", "3 John", "Jude", "Revelation"]

CONFIG = dict(
    vocab_size=4096,
    hidden_size=256,
    intermediate_size=768,
    num_hidden_layers=4,
    num_attention_heads=8,
    num_key_value_heads=2,
    max_position_embeddings=256,
    rms_norm_eps=1e-5,
    rope_theta=10000.0,
    bos_token_id=1,
    eos_token_id=2,
)


# ----------------------------------------------------------------- data
def dump_kjv():
    """Return list of (book, chapter_text) for the whole KJV, in order."""
    raw = subprocess.run(["bible", "-l100000", "-m", "8000", "gen1:1-rev22:21"],
                         check=True, capture_output=True, text=True,
                         cwd="/tmp").stdout
    chapters = []
    cur_head, cur_lines = None, []
    for line in raw.split("\n"):
        s = line.strip()
        if not s:
            continue
        if line.startswith("  "):  # verse line "  N text"
            cur_lines.append(" ".join(s.split()))
        else:  # chapter heading "Book N"
            if cur_head is not None:
                chapters.append((cur_head, cur_lines))
            cur_head, cur_lines = s, []
    if cur_head is not None:
        chapters.append((cur_head, cur_lines))
    assert len(chapters) == 1189, len(chapters)
    out = []
    for head, lines in chapters:
        book = head.rsplit(" ", 1)[0]
        out.append((book, head + "\n" + "\n".join(lines) + "\n"))
    return out


def split_data():
    chapters = dump_kjv()
    train = [t for b, t in chapters if b not in HELDOUT_BOOKS]
    held = [t for b, t in chapters if b in HELDOUT_BOOKS]
    assert len(held) == 5 + 1 + 1 + 1 + 22, len(held)
    return train, held


def train_tokenizer(train_chapters):
    import sentencepiece as spm
    os.makedirs(WORK_DIR, exist_ok=True)
    txt = os.path.join(WORK_DIR, "train.txt")
    with open(txt, "w") as f:
        f.write("".join(train_chapters))
    prefix = os.path.join(WORK_DIR, "tokenizer")
    spm.SentencePieceTrainer.train(
        input=txt, model_prefix=prefix, model_type="bpe", vocab_size=4096,
        byte_fallback=True, unk_id=0, bos_id=1, eos_id=2, pad_id=-1,
        split_digits=True, character_coverage=1.0,
        normalization_rule_name="identity", remove_extra_whitespaces=False,
        add_dummy_prefix=True, input_sentence_size=0,
        shuffle_input_sentence=False, num_threads=2, minloglevel=2)
    return prefix + ".model"


def encode_stream(sp, chapters, bos=True):
    ids = []
    for t in chapters:
        if bos:
            ids.append(1)
        ids.extend(sp.encode(t))
    return np.array(ids, dtype=np.int64)


# ---------------------------------------------------------------- model
class RMSNorm(nn.Module):
    def __init__(self, d, eps):
        super().__init__()
        self.weight = nn.Parameter(torch.ones(d))
        self.eps = eps

    def forward(self, x):
        return x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + self.eps) * self.weight


def rope_cache(T, hd, theta):
    inv = 1.0 / (theta ** (torch.arange(0, hd, 2, dtype=torch.float64) / hd))
    f = torch.outer(torch.arange(T, dtype=torch.float64), inv)
    emb = torch.cat([f, f], -1)
    return emb.cos().float(), emb.sin().float()


def rotate_half(x):
    h = x.shape[-1] // 2
    return torch.cat([-x[..., h:], x[..., :h]], -1)


class Block(nn.Module):
    def __init__(self, c):
        super().__init__()
        d, nh, nkv = c["hidden_size"], c["num_attention_heads"], c["num_key_value_heads"]
        hd = d // nh
        self.nh, self.nkv, self.hd = nh, nkv, hd
        self.input_layernorm = RMSNorm(d, c["rms_norm_eps"])
        self.q_proj = nn.Linear(d, nh * hd, bias=False)
        self.k_proj = nn.Linear(d, nkv * hd, bias=False)
        self.v_proj = nn.Linear(d, nkv * hd, bias=False)
        self.o_proj = nn.Linear(nh * hd, d, bias=False)
        self.post_attention_layernorm = RMSNorm(d, c["rms_norm_eps"])
        ff = c["intermediate_size"]
        self.gate_proj = nn.Linear(d, ff, bias=False)
        self.up_proj = nn.Linear(d, ff, bias=False)
        self.down_proj = nn.Linear(ff, d, bias=False)

    def forward(self, x, cos, sin, mask):
        B, T, _ = x.shape
        h = self.input_layernorm(x)
        q = self.q_proj(h).view(B, T, self.nh, self.hd).transpose(1, 2)
        k = self.k_proj(h).view(B, T, self.nkv, self.hd).transpose(1, 2)
        v = self.v_proj(h).view(B, T, self.nkv, self.hd).transpose(1, 2)
        q = q * cos + rotate_half(q) * sin
        k = k * cos + rotate_half(k) * sin
        rep = self.nh // self.nkv
        k = k.repeat_interleave(rep, dim=1)
        v = v.repeat_interleave(rep, dim=1)
        att = (q @ k.transpose(-1, -2)) / math.sqrt(self.hd) + mask
        o = (att.softmax(-1) @ v).transpose(1, 2).reshape(B, T, -1)
        x = x + self.o_proj(o)
        h = self.post_attention_layernorm(x)
        return x + self.down_proj(F.silu(self.gate_proj(h)) * self.up_proj(h))


class TinyLlama(nn.Module):
    def __init__(self, c):
        super().__init__()
        self.c = c
        self.embed_tokens = nn.Embedding(c["vocab_size"], c["hidden_size"])
        self.layers = nn.ModuleList([Block(c) for _ in range(c["num_hidden_layers"])])
        self.norm = RMSNorm(c["hidden_size"], c["rms_norm_eps"])
        self.lm_head = nn.Linear(c["hidden_size"], c["vocab_size"], bias=False)
        hd = c["hidden_size"] // c["num_attention_heads"]
        cos, sin = rope_cache(c["max_position_embeddings"], hd, c["rope_theta"])
        self.register_buffer("cos", cos, persistent=False)
        self.register_buffer("sin", sin, persistent=False)
        for n, p in self.named_parameters():
            if p.dim() == 2:
                std = 0.02
                if n.endswith("o_proj.weight") or n.endswith("down_proj.weight"):
                    std = 0.02 / math.sqrt(2 * c["num_hidden_layers"])
                nn.init.normal_(p, 0.0, std)

    def forward(self, idx):
        B, T = idx.shape
        x = self.embed_tokens(idx)
        mask = torch.full((T, T), float("-inf")).triu(1)
        cos, sin = self.cos[:T], self.sin[:T]
        for l in self.layers:
            x = l(x, cos, sin, mask)
        return self.lm_head(self.norm(x))


def hf_state_dict(model):
    """Map our module names to HF Llama tensor names (torch f32 tensors)."""
    sd = {}
    for n, p in model.state_dict().items():
        if n in ("cos", "sin"):
            continue
        if n.startswith("layers."):
            parts = n.split(".")
            i, rest = parts[1], ".".join(parts[2:])
            if rest.split(".")[0] in ("q_proj", "k_proj", "v_proj", "o_proj"):
                rest = "self_attn." + rest
            elif rest.split(".")[0] in ("gate_proj", "up_proj", "down_proj"):
                rest = "mlp." + rest
            sd["model.layers.%s.%s" % (i, rest)] = p
        elif n == "lm_head.weight":
            sd[n] = p
        else:
            sd["model." + n] = p
    return sd


# ---------------------------------------------------------------- train
def lr_at(step, total, peak, warmup):
    if step < warmup:
        return peak * (step + 1) / warmup
    t = (step - warmup) / max(1, total - warmup)
    return peak * (0.1 + 0.9 * 0.5 * (1 + math.cos(math.pi * t)))


def train(args):
    import sentencepiece as spm
    torch.set_num_threads(2)
    anneal = args.anneal > 0
    torch.manual_seed(1234 + (1 if anneal else 0))
    rng = np.random.RandomState(1234 + (1 if anneal else 0))
    t0 = time.time()
    train_ch, held_ch = split_data()
    os.makedirs(OUT_DIR, exist_ok=True)
    with open(os.path.join(OUT_DIR, "heldout.txt"), "w") as f:
        f.write("".join(held_ch))
    tok_path = args.tokenizer or os.path.join(WORK_DIR, "tokenizer.model")
    if not args.tokenizer and (not os.path.exists(tok_path) or args.retrain_tokenizer):
        tok_path = train_tokenizer(train_ch)
    sp = spm.SentencePieceProcessor(model_file=tok_path)
    stream = encode_stream(sp, train_ch)
    print("data+tokenizer: %.1fs, train tokens %d" % (time.time() - t0, len(stream)), flush=True)

    model = TinyLlama(CONFIG)
    step0, tokens0, secs0 = 0, 0, 0.0
    if anneal:
        ck = torch.load(CKPT, map_location="cpu")
        model.load_state_dict(ck["model"], strict=False)
        step0, tokens0, secs0 = ck["step"], ck["tokens_seen"], ck["train_seconds"]
    nparam = sum(p.numel() for p in model.parameters())
    print("params: %d" % nparam, flush=True)
    decay = [p for p in model.parameters() if p.dim() == 2]
    nodecay = [p for p in model.parameters() if p.dim() < 2]
    opt = torch.optim.AdamW([{"params": decay, "weight_decay": 0.1},
                             {"params": nodecay, "weight_decay": 0.0}],
                            lr=args.lr, betas=(0.9, 0.95), eps=1e-8)
    B, T = args.batch, args.seq
    total = args.anneal if anneal else args.steps
    stop = total if (anneal or not args.stop_at) else min(args.stop_at, total)
    logpath = os.path.join(OUT_DIR, "train_log.txt") if not args.probe else os.devnull
    log = open(logpath, "a" if anneal or args.resume else "w")
    if anneal:
        log.write("anneal phase: %d steps from checkpoint step %d, fresh AdamW, lr %g cosine "
                  "-> %g (10 warmup steps), data seed 1235\n" %
                  (total, step0, args.anneal_lr, 0.1 * args.anneal_lr))
    else:
        log.write("params %d  train_tokens %d  batch %d seq %d steps %d lr %g warmup %d stop_at %d\n"
                  % (nparam, len(stream), B, T, total, args.lr, args.warmup, stop))
    tstart = time.time()
    ema = None
    step = 0
    ck = None
    if args.ckpt_dir:
        sys.path.insert(0, os.path.join(ROOT, "python"))
        import tandem_ckpt
        if args.resume and tandem_ckpt.latest_step(args.ckpt_dir) is not None:
            st = tandem_ckpt.restore(args.ckpt_dir, model=model, optimizer=opt)
            step = st["step"]
            ema = st["extra"]["ema"]
            rng.set_state(st["extra"]["data_rng"])
            print("resumed from step %d" % step, flush=True)
        ck = tandem_ckpt.TrainingCheckpointer(args.ckpt_dir, delta=args.ckpt_delta,
                                              keep_last=args.ckpt_keep, gc_every=16)
    lossf = open(args.loss_log, "a") if args.loss_log else None
    while step < stop:
        starts = rng.randint(0, len(stream) - T - 1, size=B)
        batch = np.stack([stream[s:s + T + 1] for s in starts])
        x = torch.from_numpy(batch[:, :-1])
        y = torch.from_numpy(batch[:, 1:])
        if anneal:
            lr = lr_at(step, total, args.anneal_lr, 10)
        else:
            lr = lr_at(step, total, args.lr, args.warmup)
        for g in opt.param_groups:
            g["lr"] = lr
        logits = model(x)
        loss = F.cross_entropy(logits.reshape(-1, logits.shape[-1]), y.reshape(-1))
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        step += 1
        lv = loss.item()
        ema = lv if ema is None else 0.95 * ema + 0.05 * lv
        if ck is not None:
            ck.save(step, model=model, optimizer=opt,
                    extra={"data_rng": rng.get_state(), "ema": ema})
        if lossf is not None:
            lossf.write("%d %s\n" % (step, lv.hex()))
            lossf.flush()
        el = time.time() - tstart
        if step % 25 == 0 or step == stop or args.probe:
            msg = "step %d/%d loss %.4f ema %.4f lr %.2e elapsed %.0fs tok/s %.0f" % (
                step0 + step, step0 + total, lv, ema, lr, el, step * B * T / el)
            print(msg, flush=True)
            log.write(msg + "\n")
            log.flush()
        if args.probe and el > args.probe_seconds:
            print("PROBE tokens/s %.1f  (steps/s %.3f, tokens/step %d)" %
                  (step * B * T / el, step / el, B * T), flush=True)
            return
        if step % 500 == 0 or step == stop:
            torch.save({"config": CONFIG, "model": model.state_dict(), "step": step0 + step,
                        "tokenizer": tok_path, "loss_ema": ema,
                        "tokens_seen": tokens0 + step * B * T,
                        "train_seconds": secs0 + el, "params": nparam}, CKPT)
    if ck is not None:
        ck.flush()
        print("checkpoints: %s" % ck.stats(), flush=True)
        ck.close()
    msg = "done: steps %d tokens_seen %d wall %.0fs (total train wall %.0fs) final_loss_ema %.4f" % (
        step0 + stop, tokens0 + stop * B * T, time.time() - tstart, secs0 + time.time() - tstart, ema)
    print(msg, flush=True)
    log.write(msg + "\n")
    log.close()
    if stop == total:
        export()


# ---------------------------------------------------------------- export
def export():
    import shutil
    import sentencepiece as spm
    import safetensors_io
    import gguf_writer
    ck = torch.load(CKPT, map_location="cpu")
    cfg = dict(ck["config"])
    model = TinyLlama(cfg)
    model.load_state_dict(ck["model"], strict=False)
    sd = {k: v.detach().float().numpy().astype(np.float16)
          for k, v in hf_state_dict(model).items()}
    os.makedirs(OUT_DIR, exist_ok=True)
    hf_cfg = safetensors_io.make_config("llama", cfg, torch_dtype="float16")
    safetensors_io.write_hf_dir(OUT_DIR, sd, hf_cfg, dtype="F16")
    shutil.copyfile(ck["tokenizer"], os.path.join(OUT_DIR, "tokenizer.model"))
    with open(os.path.join(OUT_DIR, "generation_config.json"), "w") as f:
        json.dump({"bos_token_id": 1, "eos_token_id": 2, "do_sample": False}, f, indent=2)
    with open(os.path.join(OUT_DIR, "tokenizer_config.json"), "w") as f:
        json.dump({"tokenizer_class": "LlamaTokenizer", "add_bos_token": True,
                   "add_eos_token": False, "bos_token": "<s>", "eos_token": "</s>",
                   "unk_token": "<unk>", "model_max_length": cfg["max_position_embeddings"]},
                  f, indent=2)
    tok = gguf_writer.spm_tokenizer(os.path.join(OUT_DIR, "tokenizer.model"))
    # export from the f16-rounded weights, so every file holds the same model
    sd32 = {k: v.astype(np.float32) for k, v in sd.items()}
    for dt in ("f16", "q8_0"):
        gguf_writer.export_gguf(sd32, hf_cfg, tok,
                                os.path.join(OUT_DIR, "tiny-kjv-%s.gguf" % dt), dt,
                                name="tiny-kjv")
    with open(os.path.join(OUT_DIR, "train_info.json"), "w") as f:
        json.dump({"params": ck["params"], "steps": ck["step"],
                   "tokens_seen": ck["tokens_seen"],
                   "train_seconds": round(ck["train_seconds"], 1),
                   "final_loss_ema": round(ck["loss_ema"], 4),
                   "heldout_books": HELDOUT_BOOKS}, f, indent=2)
    total = 0
    for fn in sorted(os.listdir(OUT_DIR)):
        sz = os.path.getsize(os.path.join(OUT_DIR, fn))
        total += sz
        print("%-28s %10d" % (fn, sz))
    print("total %d bytes" % total)


def main():
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--steps", type=int, default=3000)
    ap.add_argument("--batch", type=int, default=16)
    ap.add_argument("--seq", type=int, default=128)
    ap.add_argument("--lr", type=float, default=2e-3)
    ap.add_argument("--warmup", type=int, default=100)
    ap.add_argument("--probe", action="store_true")
    ap.add_argument("--probe-seconds", type=float, default=30)
    ap.add_argument("--export-only", action="store_true")
    ap.add_argument("--retrain-tokenizer", action="store_true")
    ap.add_argument("--stop-at", type=int, default=0,
                    help="stop after this many steps of the --steps schedule (save ckpt, no export)")
    ap.add_argument("--anneal", type=int, default=0,
                    help="continue from the checkpoint for N steps (fresh AdamW), then export")
    ap.add_argument("--anneal-lr", type=float, default=1e-3)
    ap.add_argument("--ckpt-dir", default="",
                    help="checkpoint every step into this tandem store (python/tandem_ckpt.py)")
    ap.add_argument("--resume", action="store_true",
                    help="with --ckpt-dir: continue from its latest committed step")
    ap.add_argument("--ckpt-delta", action="store_true", help="XOR-delta codec for the checkpoints")
    ap.add_argument("--ckpt-keep", type=int, default=2,
                    help="with --ckpt-dir: keep the newest N steps (0: all)")
    ap.add_argument("--out-dir", default="",
                    help="write heldout/log/export here instead of models/tiny-kjv (and the .pt there)")
    ap.add_argument("--tokenizer", default="",
                    help="use this SentencePiece model instead of training one")
    ap.add_argument("--loss-log", default="", help="append 'step loss.hex()' per step to this file")
    args = ap.parse_args()
    if args.out_dir:
        global OUT_DIR, CKPT
        OUT_DIR = args.out_dir
        CKPT = os.path.join(args.out_dir, "tiny-kjv-ckpt.pt")
    if args.export_only:
        export()
    else:
        train(args)


if __name__ == "__main__":
    main()
