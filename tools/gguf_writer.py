#!/usr/bin/python3
"""Minimal GGUF v3 writer/reader in pure Python + numpy (llama.cpp compatible).

Layout: magic "GGUF", u32 version 3, u64 tensor_count, u64 kv_count, KVs,
tensor infos (string name, u32 n_dims, u64 ne[n_dims] with ne[0] innermost,
u32 ggml type, u64 offset relative to the data section), zero padding to
general.alignment (32), then tensor data, each tensor aligned to 32.

Quantizers follow ggml's reference quantize_row_q8_0 / quantize_row_q4_0.

API:
  export_gguf(hf_dir_or_state_dict, config, tokenizer, out_path, dtype, name=None)
      dtype in f32, f16, bf16, q8_0, q4_0, q4_k, q5_k, q6_k, q4_k_m.  config = HF config dict (read from
      the dir when None).  tokenizer = dict (see spm_tokenizer), or a path to a
      SentencePiece tokenizer.model, or None (looks for tokenizer.model in dir).
  spm_tokenizer(path)          -> tokenizer dict from a SentencePiece model
  byte_vocab_tokenizer(n)      -> trivial SPM-style vocab: <unk>,<s>,</s>, 256
                                  byte tokens, filler pieces up to n
  read_gguf(path)              -> (kv dict, {name: (ggml_type, ne list, bytes)})
  dequantize(ggml_type, raw, ne) -> float32 numpy array with numpy shape ne[::-1]
CLI:
  gguf_writer.py HF_DIR OUT.gguf --dtype q8_0 [--tokenizer tokenizer.model]
  gguf_writer.py --dump FILE.gguf
"""
import json
import os
import struct
import sys

import numpy as np

GGUF_MAGIC = b"GGUF"
GGUF_VERSION = 3
ALIGNMENT = 32

# ggml types
F32, F16, Q4_0, Q8_0, BF16 = 0, 1, 2, 8, 30
Q4_K, Q5_K, Q6_K = 12, 13, 14
TYPE_NAMES = {"f32": F32, "f16": F16, "q4_0": Q4_0, "q8_0": Q8_0, "bf16": BF16,
              "q4_k": Q4_K, "q5_k": Q5_K, "q6_k": Q6_K}
# llama_ftype (general.file_type); q4_k_m is a mix (see mixed_type)
FILE_TYPE = {"f32": 0, "f16": 1, "q4_0": 2, "q8_0": 7, "bf16": 32,
             "q4_k": 14, "q5_k": 16, "q6_k": 18, "q4_k_m": 15}
QK = 32
QK_K = 256
K_BYTES = {Q4_K: 144, Q5_K: 176, Q6_K: 210}
K_QUANTS = (Q4_K, Q5_K, Q6_K)
INT8_ACT_TYPES = (Q8_0, Q4_0) + K_QUANTS  # layers tandem feeds int8 activations


def mixed_type(dtype, gguf_name):
    """ggml type of a 2-D weight in a file of `dtype`. q4_k_m follows the
    spirit of llama.cpp's Q4_K_M: q4_K, with q6_K for the output head,
    attn_v and ffn_down (llama.cpp gives half of those q6_K, we give all)."""
    if dtype != "q4_k_m":
        return TYPE_NAMES[dtype]
    if gguf_name == "output.weight" or gguf_name.endswith("attn_v.weight") or \
            gguf_name.endswith("ffn_down.weight"):
        return Q6_K
    return Q4_K

# gguf value types
T_U8, T_I8, T_U16, T_I16, T_U32, T_I32, T_F32, T_BOOL, T_STR, T_ARR, T_U64, T_I64, T_F64 = range(13)
_SCALAR_FMT = {T_U8: "<B", T_I8: "<b", T_U16: "<H", T_I16: "<h", T_U32: "<I",
               T_I32: "<i", T_F32: "<f", T_BOOL: "<?", T_U64: "<Q", T_I64: "<q",
               T_F64: "<d"}
_NP_OF = {T_U8: "<u1", T_I8: "<i1", T_U16: "<u2", T_I16: "<i2", T_U32: "<u4",
          T_I32: "<i4", T_F32: "<f4", T_BOOL: "<u1", T_U64: "<u8", T_I64: "<i8",
          T_F64: "<f8"}


# ------------------------------------------------------------ conversions
def f32_to_bf16_bits(x):
    """ggml_compute_fp32_to_bf16: round to nearest even, NaN kept quiet."""
    u = np.ascontiguousarray(x, dtype=np.float32).view(np.uint32).astype(np.uint64)
    nan = (u & 0x7FFFFFFF) > 0x7F800000
    r = ((u + (0x7FFF + ((u >> 16) & 1))) >> 16) & 0xFFFF
    r = np.where(nan, (u >> 16) | 64, r)
    return r.astype(np.uint16)


def bf16_bits_to_f32(b):
    return (np.asarray(b, dtype=np.uint16).astype(np.uint32) << 16).view(np.float32)


def _roundf(x):
    # C roundf: half away from zero
    return np.sign(x) * np.floor(np.abs(x) + np.float32(0.5))


def quantize_q8_0(x):
    """x: float32 array with last dim % 32 == 0 -> bytes (34 bytes / block)."""
    x = np.ascontiguousarray(x, dtype=np.float32).reshape(-1, QK)
    amax = np.abs(x).max(axis=1)
    d = (amax / np.float32(127)).astype(np.float32)
    with np.errstate(divide="ignore"):
        idv = np.where(d != 0, np.float32(1) / d, np.float32(0)).astype(np.float32)
    q = _roundf((x * idv[:, None]).astype(np.float32)).astype(np.int8)
    out = np.empty((x.shape[0], 34), dtype=np.uint8)
    out[:, 0:2] = d.astype(np.float16).view(np.uint8).reshape(-1, 2)
    out[:, 2:] = q.view(np.uint8)
    return out.tobytes()


def quantize_q4_0(x):
    """ggml quantize_row_q4_0_ref -> bytes (18 bytes / block)."""
    x = np.ascontiguousarray(x, dtype=np.float32).reshape(-1, QK)
    idx = np.abs(x).argmax(axis=1)  # first index with the largest |x|
    mx = x[np.arange(x.shape[0]), idx]
    d = (mx / np.float32(-8)).astype(np.float32)
    with np.errstate(divide="ignore"):
        idv = np.where(d != 0, np.float32(1) / d, np.float32(0)).astype(np.float32)
    v = (x * idv[:, None]).astype(np.float32) + np.float32(8.5)
    q = np.minimum(15, np.trunc(v).astype(np.int32)).astype(np.uint8)
    out = np.empty((x.shape[0], 18), dtype=np.uint8)
    out[:, 0:2] = d.astype(np.float16).view(np.uint8).reshape(-1, 2)
    out[:, 2:] = q[:, :16] | (q[:, 16:] << 4)
    return out.tobytes()


# K-quants: written from the block definitions (ggml's block_q4_K / q5_K /
# q6_K and dequantize_row_q*_K), independently of the C++ readers, so the
# reference test cross-checks the two.
def _k_scale_min(sc12):
    """sc12: [nb, 12] uint8 -> (scales, mins): [nb, 8] ints (6 bits each)."""
    q = sc12.astype(np.int32)
    sc = np.empty((q.shape[0], 8), np.int32)
    mn = np.empty((q.shape[0], 8), np.int32)
    sc[:, :4] = q[:, 0:4] & 63
    mn[:, :4] = q[:, 4:8] & 63
    sc[:, 4:] = (q[:, 8:12] & 0xF) | ((q[:, 0:4] >> 6) << 4)
    mn[:, 4:] = (q[:, 8:12] >> 4) | ((q[:, 4:8] >> 6) << 4)
    return sc, mn


def _k_pack_scale_min(sc, mn):
    out = np.zeros((sc.shape[0], 12), np.uint8)
    out[:, 0:4] = (sc[:, :4] & 63) | ((sc[:, 4:] >> 4) << 6)
    out[:, 4:8] = (mn[:, :4] & 63) | ((mn[:, 4:] >> 4) << 6)
    out[:, 8:12] = (sc[:, 4:] & 0xF) | ((mn[:, 4:] & 0xF) << 4)
    return out


def _f16r(x):
    return np.asarray(x, np.float32).astype(np.float16).astype(np.float32)


def dequantize_k(gtype, buf, n):
    nb = n // QK_K
    b = buf[: nb * K_BYTES[gtype]].reshape(nb, K_BYTES[gtype])
    if gtype == Q6_K:
        ql, qh = b[:, 0:128].astype(np.int32), b[:, 128:192].astype(np.int32)
        sc = b[:, 192:208].view(np.int8).astype(np.float32)
        d = b[:, 208:210].copy().view("<f2").astype(np.float32)  # [nb, 1]
        out = np.empty((nb, 256), np.float32)
        for h in range(2):
            L, H = ql[:, 64 * h:64 * h + 64], qh[:, 32 * h:32 * h + 32]
            quarters = [(L[:, :32] & 0xF) | (((H >> 0) & 3) << 4),
                        (L[:, 32:] & 0xF) | (((H >> 2) & 3) << 4),
                        (L[:, :32] >> 4) | (((H >> 4) & 3) << 4),
                        (L[:, 32:] >> 4) | (((H >> 6) & 3) << 4)]
            for r, q in enumerate(quarters):
                for half in range(2):
                    s = sc[:, 8 * h + 2 * r + half][:, None]
                    seg = slice(128 * h + 32 * r + 16 * half, 128 * h + 32 * r + 16 * half + 16)
                    out[:, seg] = (d * s) * (q[:, 16 * half:16 * half + 16] - 32).astype(np.float32)
        return out.reshape(-1)
    d = b[:, 0:2].copy().view("<f2").astype(np.float32)
    dmin = b[:, 2:4].copy().view("<f2").astype(np.float32)
    sc, mn = _k_scale_min(b[:, 4:16])
    qs = b[:, 16:144] if gtype == Q4_K else b[:, 48:176]
    out = np.empty((nb, 256), np.float32)
    for s in range(8):
        byts = qs[:, 32 * (s // 2):32 * (s // 2) + 32].astype(np.int32)
        q = (byts >> 4) if s & 1 else (byts & 0xF)
        if gtype == Q5_K:
            q = q + (((b[:, 16:48].astype(np.int32) >> s) & 1) << 4)
        ds = d * sc[:, s:s + 1].astype(np.float32)
        ms = dmin * mn[:, s:s + 1].astype(np.float32)
        out[:, 32 * s:32 * s + 32] = ds * q.astype(np.float32) - ms
    return out.reshape(-1)


def quantize_k(x, gtype):
    """A simple K-quant encoder (range fit per sub-block, 6-bit scales):
    not llama.cpp's search, but valid blocks."""
    x = np.ascontiguousarray(x, dtype=np.float32).reshape(-1, QK_K)
    nb = x.shape[0]
    if gtype == Q6_K:
        xs = x.reshape(nb, 16, 16)
        idx = np.abs(xs).argmax(axis=2)
        mx = np.take_along_axis(xs, idx[:, :, None], axis=2)[:, :, 0]
        scale = mx / np.float32(-32)
        d = _f16r(np.abs(scale).max(axis=1) / np.float32(127))  # [nb]
        with np.errstate(divide="ignore", invalid="ignore"):
            isc = np.where(d[:, None] > 0, np.clip(np.rint(scale / d[:, None]), -127, 127), 0).astype(np.int32)
            ds = (d[:, None] * isc.astype(np.float32)).astype(np.float32)  # [nb, 16]
            q = np.where(ds[:, :, None] != 0, np.clip(np.rint(xs / ds[:, :, None]), -32, 31), 0).astype(np.int32) + 32
        q = q.reshape(nb, 256)
        out = np.zeros((nb, 210), np.uint8)
        for h in range(2):
            for r in range(4):
                qq = q[:, 128 * h + 32 * r:128 * h + 32 * r + 32]
                off = 64 * h + (32 if r & 1 else 0)
                out[:, off:off + 32] |= ((qq & 0xF) << (4 if r >= 2 else 0)).astype(np.uint8)
                out[:, 128 + 32 * h:128 + 32 * h + 32] |= ((qq >> 4) << (2 * r)).astype(np.uint8)
        out[:, 192:208] = isc.astype(np.int8).view(np.uint8)
        out[:, 208:210] = d.astype(np.float16).view(np.uint8).reshape(-1, 2)
        return out.tobytes()
    qmax = 15 if gtype == Q4_K else 31
    xs = x.reshape(nb, 8, 32)
    lo = np.minimum(xs.min(axis=2), 0)
    hi = np.maximum(xs.max(axis=2), 0)
    scale = (hi - lo) / np.float32(qmax)
    mins = -lo

    def fit6(v):
        step = _f16r(v.max(axis=1) / np.float32(63))
        with np.errstate(divide="ignore", invalid="ignore"):
            iv = np.where(step[:, None] > 0, np.clip(np.rint(v / step[:, None]), 0, 63), 0).astype(np.int32)
        return step, iv

    d, _ = fit6(scale)
    dmin, im = fit6(mins)
    with np.errstate(divide="ignore", invalid="ignore"):
        isc = np.where(d[:, None] > 0, np.clip(np.ceil(scale / d[:, None]), 0, 63), 0).astype(np.int32)
        ds = (d[:, None] * isc.astype(np.float32)).astype(np.float32)
        ms = (dmin[:, None] * im.astype(np.float32)).astype(np.float32)
        q = np.where(ds[:, :, None] > 0, np.clip(np.rint((xs + ms[:, :, None]) / ds[:, :, None]), 0, qmax), 0)
    q = q.astype(np.int32).reshape(nb, 256)
    out = np.zeros((nb, K_BYTES[gtype]), np.uint8)
    out[:, 0:2] = d.astype(np.float16).view(np.uint8).reshape(-1, 2)
    out[:, 2:4] = dmin.astype(np.float16).view(np.uint8).reshape(-1, 2)
    out[:, 4:16] = _k_pack_scale_min(isc, im)
    qo = 16 if gtype == Q4_K else 48
    for s in range(8):
        qq = q[:, 32 * s:32 * s + 32]
        out[:, qo + 32 * (s // 2):qo + 32 * (s // 2) + 32] |= ((qq & 0xF) << (4 if s & 1 else 0)).astype(np.uint8)
        if gtype == Q5_K:
            out[:, 16:48] |= (((qq >> 4) & 1) << s).astype(np.uint8)
    return out.tobytes()


def dequantize(gtype, raw, ne):
    shape = tuple(int(n) for n in ne[::-1])
    n = int(np.prod(shape)) if shape else 1
    buf = np.frombuffer(raw, dtype=np.uint8)
    if gtype == F32:
        a = buf.view("<f4")[:n].astype(np.float32)
    elif gtype == F16:
        a = buf.view("<f2")[:n].astype(np.float32)
    elif gtype == BF16:
        a = bf16_bits_to_f32(buf.view("<u2")[:n])
    elif gtype == Q8_0:
        b = buf[: n // QK * 34].reshape(-1, 34)
        d = b[:, :2].copy().view("<f2").astype(np.float32)
        q = b[:, 2:].view(np.int8).astype(np.float32)
        a = (q * d).reshape(-1)
    elif gtype == Q4_0:
        b = buf[: n // QK * 18].reshape(-1, 18)
        d = b[:, :2].copy().view("<f2").astype(np.float32)
        qs = b[:, 2:]
        q = np.concatenate([qs & 0x0F, qs >> 4], axis=1).astype(np.float32) - 8
        a = (q * d).reshape(-1)
    elif gtype in K_QUANTS:
        a = dequantize_k(gtype, buf, n)
    else:
        raise ValueError("unsupported ggml type %d" % gtype)
    return a.reshape(shape)


def tensor_nbytes(gtype, n):
    if gtype == F32:
        return 4 * n
    if gtype in (F16, BF16):
        return 2 * n
    if gtype == Q8_0:
        return n // QK * 34
    if gtype == Q4_0:
        return n // QK * 18
    if gtype in K_QUANTS:
        return n // QK_K * K_BYTES[gtype]
    raise ValueError(gtype)


def encode_tensor(x, gtype):
    x = np.ascontiguousarray(x, dtype=np.float32)
    if gtype == F32:
        return x.astype("<f4").tobytes()
    if gtype == F16:
        return x.astype("<f2").tobytes()
    if gtype == BF16:
        return f32_to_bf16_bits(x).astype("<u2").tobytes()
    if gtype == Q8_0:
        return quantize_q8_0(x)
    if gtype == Q4_0:
        return quantize_q4_0(x)
    if gtype in K_QUANTS:
        return quantize_k(x, gtype)
    raise ValueError(gtype)


# ------------------------------------------------------------ writer
class GGUFWriter:
    def __init__(self):
        self.kv = []        # (key, type, value, elem_type)
        self.tensors = []   # (name, ne, gtype, bytes)

    def add(self, key, vtype, value, elem_type=None):
        self.kv.append((key, vtype, value, elem_type))

    def add_u32(self, k, v): self.add(k, T_U32, int(v))
    def add_i32(self, k, v): self.add(k, T_I32, int(v))
    def add_f32(self, k, v): self.add(k, T_F32, float(v))
    def add_bool(self, k, v): self.add(k, T_BOOL, bool(v))
    def add_str(self, k, v): self.add(k, T_STR, str(v))
    def add_arr(self, k, et, v): self.add(k, T_ARR, list(v), et)

    def add_tensor(self, name, arr, gtype):
        arr = np.asarray(arr)
        ne = list(arr.shape[::-1]) if arr.ndim else [1]
        if gtype in (Q8_0, Q4_0):
            assert ne[0] % QK == 0, "%s: ne[0]=%d not a multiple of 32" % (name, ne[0])
        self.tensors.append((name, ne, gtype, encode_tensor(arr, gtype)))

    @staticmethod
    def _str(s):
        b = s.encode("utf-8") if isinstance(s, str) else bytes(s)
        return struct.pack("<Q", len(b)) + b

    def _val(self, vtype, v, et=None):
        if vtype == T_STR:
            return self._str(v)
        if vtype == T_ARR:
            out = [struct.pack("<IQ", et, len(v))]
            if et == T_STR:
                out.extend(self._str(s) for s in v)
            else:
                out.append(np.asarray(v, dtype=_NP_OF[et]).tobytes())
            return b"".join(out)
        return struct.pack(_SCALAR_FMT[vtype], v)

    def write(self, path):
        parts = [GGUF_MAGIC, struct.pack("<IQQ", GGUF_VERSION, len(self.tensors), len(self.kv))]
        for k, t, v, et in self.kv:
            parts.append(self._str(k) + struct.pack("<I", t) + self._val(t, v, et))
        off = 0
        offsets = []
        for name, ne, gt, data in self.tensors:
            offsets.append(off)
            parts.append(self._str(name) + struct.pack("<I", len(ne)) +
                         struct.pack("<%dQ" % len(ne), *ne) + struct.pack("<IQ", gt, off))
            off += len(data)
            off += (-off) % ALIGNMENT
        head = b"".join(parts)
        head += b"\0" * ((-len(head)) % ALIGNMENT)
        tmp = path + ".tmp"
        with open(tmp, "wb") as f:
            f.write(head)
            pos = 0
            for (name, ne, gt, data), o in zip(self.tensors, offsets):
                assert pos == o
                f.write(data)
                pos += len(data)
                pad = (-pos) % ALIGNMENT
                f.write(b"\0" * pad)
                pos += pad
        os.replace(tmp, path)


# ------------------------------------------------------------ reader
def read_gguf(path):
    with open(path, "rb") as f:
        data = f.read()
    pos = 0

    def rd(fmt):
        nonlocal pos
        v = struct.unpack_from(fmt, data, pos)
        pos += struct.calcsize(fmt)
        return v[0]

    def rstr():
        nonlocal pos
        n = rd("<Q")
        s = data[pos:pos + n]
        pos += n
        return s.decode("utf-8", errors="surrogateescape")

    def rval(t):
        nonlocal pos
        if t == T_STR:
            return rstr()
        if t == T_ARR:
            et, n = rd("<I"), rd("<Q")
            if et == T_STR:
                return [rstr() for _ in range(n)]
            if et == T_ARR:
                return [rval(T_ARR) for _ in range(n)]
            dt = np.dtype(_NP_OF[et])
            a = np.frombuffer(data, dtype=dt, count=n, offset=pos)
            pos += n * dt.itemsize
            return a.tolist()
        return rd(_SCALAR_FMT[t])

    assert data[:4] == GGUF_MAGIC, "not a GGUF file"
    pos = 4
    ver = rd("<I")
    assert ver in (2, 3), ver
    nt, nkv = rd("<Q"), rd("<Q")
    kv = {}
    for _ in range(nkv):
        k = rstr()
        t = rd("<I")
        kv[k] = rval(t)
    infos = []
    for _ in range(nt):
        name = rstr()
        nd = rd("<I")
        ne = [rd("<Q") for _ in range(nd)]
        gt = rd("<I")
        off = rd("<Q")
        infos.append((name, ne, gt, off))
    align = kv.get("general.alignment", ALIGNMENT)
    base = pos + ((-pos) % align)
    tensors = {}
    for name, ne, gt, off in infos:
        n = int(np.prod(ne))
        tensors[name] = (gt, ne, data[base + off: base + off + tensor_nbytes(gt, n)])
    return kv, tensors


# ------------------------------------------------------------ tokenizers
def spm_tokenizer(path):
    import sentencepiece as spm
    sp = spm.SentencePieceProcessor(model_file=path)
    toks, scores, types = [], [], []
    for i in range(sp.get_piece_size()):
        toks.append(sp.id_to_piece(i))
        scores.append(sp.get_score(i))
        if sp.is_unknown(i):
            t = 2
        elif sp.is_control(i):
            t = 3
        elif sp.is_unused(i):
            t = 5
        elif sp.is_byte(i):
            t = 6
        else:
            t = 1
        types.append(t)
    return {"model": "llama", "tokens": toks, "scores": scores, "token_type": types,
            "bos": sp.bos_id(), "eos": sp.eos_id(), "unk": sp.unk_id(), "add_bos": True,
            "add_space_prefix": _spm_add_dummy_prefix(path)}


def _spm_add_dummy_prefix(path):
    """normalizer_spec.add_dummy_prefix from the model proto (default True)."""
    try:
        from sentencepiece import sentencepiece_model_pb2 as pb
        m = pb.ModelProto()
        with open(path, "rb") as f:
            m.ParseFromString(f.read())
        return bool(m.normalizer_spec.add_dummy_prefix)
    except Exception:  # protobuf module missing: sentencepiece's default
        return True


def byte_vocab_tokenizer(n):
    toks = ["<unk>", "<s>", "</s>"] + ["<0x%02X>" % i for i in range(256)]
    types = [2, 3, 3] + [6] * 256
    scores = [0.0] * len(toks)
    k = 0
    while len(toks) < n:
        toks.append("\u2581tok%d" % k)
        types.append(1)
        scores.append(-float(k))
        k += 1
    return {"model": "llama", "tokens": toks[:n], "scores": scores[:n],
            "token_type": types[:n], "bos": 1, "eos": 2, "unk": 0, "add_bos": True}


# ------------------------------------------------------------ export
def permute_qk(w, n_head):
    """convert_hf_to_gguf.py LlamaModel.permute (HF rotate-half -> GGUF interleaved)."""
    return (w.reshape(n_head, 2, w.shape[0] // n_head // 2, *w.shape[1:])
            .swapaxes(1, 2).reshape(w.shape))


def unpermute_qk(w, n_head):
    """Inverse of permute_qk."""
    return (w.reshape(n_head, w.shape[0] // n_head // 2, 2, *w.shape[1:])
            .swapaxes(1, 2).reshape(w.shape))


def gguf_arch(config):
    mt = config.get("model_type", "llama")
    if mt in ("llama", "mistral"):
        return "llama"
    if mt == "qwen2":
        return "qwen2"
    raise ValueError("unsupported model_type %r" % mt)


_HF2GGUF = {
    "input_layernorm.weight": "attn_norm.weight",
    "self_attn.q_proj.weight": "attn_q.weight",
    "self_attn.k_proj.weight": "attn_k.weight",
    "self_attn.v_proj.weight": "attn_v.weight",
    "self_attn.o_proj.weight": "attn_output.weight",
    "self_attn.q_proj.bias": "attn_q.bias",
    "self_attn.k_proj.bias": "attn_k.bias",
    "self_attn.v_proj.bias": "attn_v.bias",
    "post_attention_layernorm.weight": "ffn_norm.weight",
    "mlp.gate_proj.weight": "ffn_gate.weight",
    "mlp.up_proj.weight": "ffn_up.weight",
    "mlp.down_proj.weight": "ffn_down.weight",
}
GGUF2HF = {v: k for k, v in _HF2GGUF.items()}


def hf_to_gguf_name(n):
    if n == "model.embed_tokens.weight":
        return "token_embd.weight"
    if n == "model.norm.weight":
        return "output_norm.weight"
    if n == "lm_head.weight":
        return "output.weight"
    if n.startswith("model.layers."):
        p = n.split(".")
        rest = ".".join(p[3:])
        if rest in _HF2GGUF:
            return "blk.%s.%s" % (p[2], _HF2GGUF[rest])
    raise KeyError("unknown tensor %s" % n)


def gguf_to_hf_name(n):
    if n == "token_embd.weight":
        return "model.embed_tokens.weight"
    if n == "output_norm.weight":
        return "model.norm.weight"
    if n == "output.weight":
        return "lm_head.weight"
    if n.startswith("blk."):
        p = n.split(".", 2)
        return "model.layers.%s.%s" % (p[1], GGUF2HF[p[2]])
    raise KeyError(n)


def export_gguf(hf_dir_or_state_dict, config, tokenizer, out_path, dtype, name=None):
    if isinstance(hf_dir_or_state_dict, str):
        import safetensors_io
        cfg_d, sd = safetensors_io.read_hf_dir(hf_dir_or_state_dict)
        config = config or cfg_d
        if tokenizer is None:
            tokenizer = os.path.join(hf_dir_or_state_dict, "tokenizer.model")
        name = name or os.path.basename(os.path.normpath(hf_dir_or_state_dict))
    else:
        sd = hf_dir_or_state_dict
    if isinstance(tokenizer, str):
        tokenizer = spm_tokenizer(tokenizer)
    if tokenizer is None:
        tokenizer = byte_vocab_tokenizer(config["vocab_size"])
    dtype = dtype.lower()
    gt_main = TYPE_NAMES.get(dtype, Q4_K)
    arch = gguf_arch(config)
    nh = config["num_attention_heads"]
    nkv = config.get("num_key_value_heads", nh)
    hidden = config["hidden_size"]
    hd = config.get("head_dim") or hidden // nh

    w = GGUFWriter()
    w.add_str("general.architecture", arch)
    w.add_str("general.name", name or "model")
    w.add_u32("general.alignment", ALIGNMENT)
    w.add_u32("general.file_type", FILE_TYPE[dtype])
    if dtype not in ("f32", "f16", "bf16"):
        w.add_u32("general.quantization_version", 2)
    w.add_u32(arch + ".context_length", config.get("max_position_embeddings", 2048))
    w.add_u32(arch + ".embedding_length", hidden)
    w.add_u32(arch + ".block_count", config["num_hidden_layers"])
    w.add_u32(arch + ".feed_forward_length", config["intermediate_size"])
    w.add_u32(arch + ".attention.head_count", nh)
    w.add_u32(arch + ".attention.head_count_kv", nkv)
    w.add_u32(arch + ".rope.dimension_count", hd)
    w.add_f32(arch + ".rope.freq_base", config.get("rope_theta", 10000.0))
    w.add_f32(arch + ".attention.layer_norm_rms_epsilon", config.get("rms_norm_eps", 1e-6))
    if hd != hidden // nh:
        w.add_u32(arch + ".attention.key_length", hd)
        w.add_u32(arch + ".attention.value_length", hd)
    w.add_u32(arch + ".vocab_size", config["vocab_size"])
    t = tokenizer
    w.add_str("tokenizer.ggml.model", t["model"])
    w.add_arr("tokenizer.ggml.tokens", T_STR, t["tokens"])
    if t.get("scores") is not None:
        w.add_arr("tokenizer.ggml.scores", T_F32, t["scores"])
    w.add_arr("tokenizer.ggml.token_type", T_I32, t["token_type"])
    if t.get("merges"):
        w.add_arr("tokenizer.ggml.merges", T_STR, t["merges"])
    for key, k2 in (("bos", "bos_token_id"), ("eos", "eos_token_id"), ("unk", "unknown_token_id")):
        if t.get(key) is not None and t[key] >= 0:
            w.add_u32("tokenizer.ggml." + k2, t[key])
    w.add_bool("tokenizer.ggml.add_bos_token", t.get("add_bos", True))
    w.add_bool("tokenizer.ggml.add_eos_token", t.get("add_eos", False))
    if t.get("add_space_prefix") is not None:
        w.add_bool("tokenizer.ggml.add_space_prefix", t["add_space_prefix"])

    def order(n):
        if n == "model.embed_tokens.weight":
            return (0, 0, n)
        if n.startswith("model.layers."):
            return (1, int(n.split(".")[2]), n)
        return (2, 0 if n == "model.norm.weight" else 1, n)

    for hn in sorted(sd, key=order):
        a = np.asarray(sd[hn], dtype=np.float32)
        gn = hf_to_gguf_name(hn)
        if arch == "llama" and gn.endswith("attn_q.weight"):
            a = permute_qk(a, nh)
        elif arch == "llama" and gn.endswith("attn_k.weight"):
            a = permute_qk(a, nkv)
        elif arch == "llama" and gn.endswith("attn_q.bias"):
            a = permute_qk(a, nh)
        elif arch == "llama" and gn.endswith("attn_k.bias"):
            a = permute_qk(a, nkv)
        gt = mixed_type(dtype, gn) if dtype == "q4_k_m" else gt_main
        if a.ndim < 2:
            gt = F32
        elif gt in (Q8_0, Q4_0) and a.shape[-1] % QK != 0:
            gt = F16
        elif gt in K_QUANTS and a.shape[-1] % QK_K != 0:
            gt = Q8_0 if a.shape[-1] % QK == 0 else F16  # llama.cpp falls back likewise
        w.add_tensor(gn, a, gt)
    w.write(out_path)
    return out_path


def _main():
    import argparse
    ap = argparse.ArgumentParser(description="HF dir -> GGUF, or dump a GGUF")
    ap.add_argument("src", nargs="?")
    ap.add_argument("out", nargs="?")
    ap.add_argument("--dtype", default="f16", choices=sorted(FILE_TYPE))
    ap.add_argument("--tokenizer", default=None)
    ap.add_argument("--dump", default=None)
    a = ap.parse_args()
    if a.dump:
        kv, ts = read_gguf(a.dump)
        for k, v in kv.items():
            if isinstance(v, list) and len(v) > 8:
                v = "[%d items] %r ..." % (len(v), v[:8])
            print("%s = %s" % (k, v))
        for n, (gt, ne, raw) in ts.items():
            print("%-32s type %-2d ne %s bytes %d" % (n, gt, ne, len(raw)))
        return
    sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
    export_gguf(a.src, None, a.tokenizer, a.out, a.dtype)


if __name__ == "__main__":
    sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
    _main()
