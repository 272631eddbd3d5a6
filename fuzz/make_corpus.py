#!/usr/bin/python3
"""Writes the seed corpora fuzz/corpus/gguf/ and fuzz/corpus/safetensors/:
a few tiny valid files and a few near-misses (each < 10 KB).

Usage: fuzz/make_corpus.py   (rewrites the files in place)
"""
import json
import os
import struct

HERE = os.path.dirname(os.path.abspath(__file__))

# gguf value types and ggml tensor types
U8, I8, U16, I16, U32, I32, F32, BOOL, STR, ARR, U64, I64, F64 = range(13)
G_F32, G_F16, G_Q4_0, G_Q8_0, G_Q4_K, G_Q5_K, G_Q6_K, G_BF16 = 0, 1, 2, 8, 12, 13, 14, 30
BLOCK = {G_F32: (1, 4), G_F16: (1, 2), G_BF16: (1, 2), G_Q4_0: (32, 18), G_Q8_0: (32, 34),
         G_Q4_K: (256, 144), G_Q5_K: (256, 176), G_Q6_K: (256, 210)}
SCALAR = {U8: "<B", I8: "<b", U16: "<H", I16: "<h", U32: "<I", I32: "<i", F32: "<f",
          BOOL: "<B", U64: "<Q", I64: "<q", F64: "<d"}


def gstr(s):
    b = s.encode()
    return struct.pack("<Q", len(b)) + b


def gvalue(t, v):
    if t == STR:
        return gstr(v)
    if t == ARR:
        et, items = v
        return struct.pack("<IQ", et, len(items)) + b"".join(gvalue(et, x) for x in items)
    return struct.pack(SCALAR[t], v)


def nbytes(gtype, ne):
    be, bb = BLOCK[gtype]
    n = 1
    for d in ne:
        n *= d
    return n // be * bb


def gguf(kvs, tensors, version=3, alignment=32, offsets=None):
    """kvs: [(key, type, value)]; tensors: [(name, ggml_type, ne innermost first)]."""
    out = b"GGUF" + struct.pack("<IQQ", version, len(tensors), len(kvs))
    for k, t, v in kvs:
        out += gstr(k) + struct.pack("<I", t) + gvalue(t, v)
    offs, off = [], 0
    for i, (_, gt, ne) in enumerate(tensors):
        o = offsets[i] if offsets else off
        offs.append(o)
        off = (o + nbytes(gt, ne) + alignment - 1) // alignment * alignment
    for (name, gt, ne), o in zip(tensors, offs):
        out += gstr(name) + struct.pack("<I", len(ne)) + b"".join(struct.pack("<Q", d) for d in ne)
        out += struct.pack("<IQ", gt, o)
    out += b"\0" * (-len(out) % alignment)
    data = bytearray(max([o + nbytes(gt, ne) for (_, gt, ne), o in zip(tensors, offs)], default=0))
    for i, ((_, gt, ne), o) in enumerate(zip(tensors, offs)):
        data[o:o + nbytes(gt, ne)] = bytes([i + 1]) * nbytes(gt, ne)
    return out + bytes(data)


def safetensors(tensors, metadata=None, raw_header=None, data_len=None):
    """tensors: [(name, dtype, shape, (begin, end))]."""
    if raw_header is None:
        h = {}
        if metadata is not None:
            h["__metadata__"] = metadata
        for name, dt, shape, offs in tensors:
            h[name] = {"dtype": dt, "shape": shape, "data_offsets": list(offs)}
        raw_header = json.dumps(h, separators=(",", ":"))
    hb = raw_header.encode()
    hb += b" " * (-len(hb) % 8)
    if data_len is None:
        data_len = max([t[3][1] for t in tensors], default=0)
    return struct.pack("<Q", len(hb)) + hb + bytes(i % 251 for i in range(data_len))


KVS = [
    ("general.architecture", STR, "llama"),
    ("llama.block_count", U32, 1),
    ("llama.context_length", U64, 128),
    ("llama.rope.freq_base", F32, 10000.0),
    ("llama.attention.layer_norm_rms_epsilon", F64, 1e-5),
    ("tokenizer.ggml.add_bos_token", BOOL, 1),
    ("tokenizer.ggml.tokens", ARR, (STR, ["<unk>", "<s>", "</s>", "a"])),
    ("tokenizer.ggml.scores", ARR, (F32, [0.0, 0.0, 0.0, -1.0])),
    ("tokenizer.ggml.token_type", ARR, (I32, [2, 3, 3, 1])),
    ("misc", ARR, (U8, [1, 2, 3])),
    ("i8", I8, -1), ("u8", U8, 255), ("i16", I16, -2), ("u16", U16, 65535), ("i64", I64, -3),
]
TENSORS = [("token_embd.weight", G_F32, [4, 4]), ("blk.0.attn_q.weight", G_Q8_0, [32, 2])]

GGUF = {
    "valid_small.gguf": gguf(KVS, TENSORS),
    "valid_v2.gguf": gguf(KVS[:3], TENSORS, version=2),
    "valid_align64.gguf": gguf([("general.alignment", U32, 64)] + KVS[:1], TENSORS, alignment=64),
    "valid_all_types.gguf": gguf(KVS[:1], [
        ("f32", G_F32, [3]), ("f16", G_F16, [2, 2]), ("bf16", G_BF16, [2, 1, 2]),
        ("q4_0", G_Q4_0, [32]), ("q8_0", G_Q8_0, [32, 1, 1, 1]), ("q4_K", G_Q4_K, [256]),
        ("q5_K", G_Q5_K, [256]), ("q6_K", G_Q6_K, [256])]),
    "valid_no_tensors.gguf": gguf(KVS, []),
    "bad_magic.gguf": b"GGUX" + gguf(KVS[:2], TENSORS)[4:],
    "bad_version1.gguf": gguf(KVS[:2], TENSORS, version=1),
    "bad_truncated.gguf": gguf(KVS, TENSORS)[:-7],
    "bad_overlap.gguf": gguf([], [("a", G_F32, [16]), ("b", G_F32, [16])], offsets=[0, 32]),
    "bad_misaligned.gguf": gguf([], [("a", G_F32, [4]), ("b", G_F32, [4])], offsets=[0, 20]),
    "bad_block.gguf": gguf([], [("a", G_Q4_K, [128])]),
    "bad_huge_array.gguf": b"GGUF" + struct.pack("<IQQ", 3, 0, 1) + gstr("a") +
                           struct.pack("<IIQ", ARR, STR, 1 << 60),
}

ST = [("model.embed_tokens.weight", "BF16", [4, 3], (0, 24)), ("lm_head.weight", "F32", [2, 3], (24, 48)),
      ("model.norm.weight", "F16", [3], (48, 54))]
SAFETENSORS = {
    "valid_small.safetensors": safetensors(ST, metadata={"format": "pt"}),
    "valid_empty_and_scalar.safetensors": safetensors(
        [("e", "F32", [0, 2], (0, 0)), ("s", "F32", [], (0, 4))]),
    "valid_header_only.safetensors": safetensors([]),
    "bad_json.safetensors": safetensors([], raw_header='{"a": {"dtype": "F32", "shape": [1'),
    "bad_overlap.safetensors": safetensors([("a", "F32", [4], (0, 16)), ("b", "F32", [2], (8, 16))]),
    "bad_dtype.safetensors": safetensors([("a", "F8_E4M3", [4], (0, 4))]),
    "bad_size.safetensors": safetensors([("a", "F32", [2, 3], (0, 20))]),
    "bad_truncated.safetensors": safetensors(ST)[:-3],
    "bad_duplicate.safetensors": safetensors(
        [], raw_header='{"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4]},'
                       '"a":{"dtype":"F32","shape":[1],"data_offsets":[4,8]}}', data_len=8),
}


def main():
    for sub, files in (("gguf", GGUF), ("safetensors", SAFETENSORS)):
        d = os.path.join(HERE, "corpus", sub)
        os.makedirs(d, exist_ok=True)
        for name, data in files.items():
            assert len(data) < 10 * 1024, name
            with open(os.path.join(d, name), "wb") as f:
                f.write(data)


if __name__ == "__main__":
    main()
