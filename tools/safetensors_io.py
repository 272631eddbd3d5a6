#!/usr/bin/python3
"""Hand-written safetensors reader/writer + HF-style config.json helpers.

File layout: u64 little-endian header length N, N bytes of JSON header
({name: {"dtype", "shape", "data_offsets": [begin, end]}, "__metadata__": {...}}),
padded with spaces to a multiple of 8, then the raw little-endian data
(offsets relative to the byte after the header).  Supported dtypes: F32, F16,
BF16 (BF16 written with round-to-nearest-even from f32).

API:
  write_safetensors(path, tensors, dtype=None, metadata=None)
      tensors: {name: numpy array}; dtype "F32"/"F16"/"BF16" forces one dtype,
      None keeps each array's dtype (float32 / float16).
  read_safetensors(path, upcast=True) -> {name: np.float32 array}
      (upcast=False: F32/F16 as numpy dtypes, BF16 as raw uint16 bits)
  read_header(path) -> (header dict, data offset)
  make_config(arch, cfg, torch_dtype)  -> HF config.json dict
  write_hf_dir(dir, state_dict, config, dtype)   (config.json + model.safetensors)
  read_hf_dir(dir) -> (config, {name: f32 array})
CLI:
  safetensors_io.py --dump FILE.safetensors
"""
import json
import os
import struct
import sys

import numpy as np


def _f32_to_bf16_bits(x):
    u = np.ascontiguousarray(x, dtype=np.float32).view(np.uint32).astype(np.uint64)
    nan = (u & 0x7FFFFFFF) > 0x7F800000
    r = ((u + (0x7FFF + ((u >> 16) & 1))) >> 16) & 0xFFFF
    r = np.where(nan, (u >> 16) | 64, r)
    return r.astype(np.uint16)


def _bf16_bits_to_f32(b):
    return (np.asarray(b, dtype=np.uint16).astype(np.uint32) << 16).view(np.float32)


def _encode(a, dtype):
    a = np.asarray(a)
    if dtype is None:
        if a.dtype == np.float16:
            dtype = "F16"
        elif a.dtype == np.uint16:  # raw bf16 bits
            return "BF16", a.astype("<u2").tobytes()
        else:
            dtype = "F32"
    if dtype == "F32":
        return dtype, np.ascontiguousarray(a, dtype="<f4").tobytes()
    if dtype == "F16":
        return dtype, np.ascontiguousarray(a.astype(np.float32), dtype="<f2").tobytes()
    if dtype == "BF16":
        return dtype, _f32_to_bf16_bits(a.astype(np.float32)).astype("<u2").tobytes()
    raise ValueError("unsupported dtype %s" % dtype)


def write_safetensors(path, tensors, dtype=None, metadata=None):
    header = {}
    blobs = []
    off = 0
    for name in sorted(tensors):
        a = np.asarray(tensors[name])
        dt, b = _encode(a, dtype)
        header[name] = {"dtype": dt, "shape": list(a.shape), "data_offsets": [off, off + len(b)]}
        blobs.append(b)
        off += len(b)
    if metadata:
        header["__metadata__"] = {str(k): str(v) for k, v in metadata.items()}
    hj = json.dumps(header, separators=(",", ":")).encode("utf-8")
    hj += b" " * ((-len(hj)) % 8)
    tmp = path + ".tmp"
    with open(tmp, "wb") as f:
        f.write(struct.pack("<Q", len(hj)))
        f.write(hj)
        for b in blobs:
            f.write(b)
    os.replace(tmp, path)


def read_header(path):
    with open(path, "rb") as f:
        n = struct.unpack("<Q", f.read(8))[0]
        h = json.loads(f.read(n).decode("utf-8"))
    return h, 8 + n


def read_safetensors(path, upcast=True):
    h, base = read_header(path)
    with open(path, "rb") as f:
        data = f.read()
    out = {}
    for name, info in h.items():
        if name == "__metadata__":
            continue
        b, e = info["data_offsets"]
        raw = data[base + b: base + e]
        dt, shape = info["dtype"], tuple(info["shape"])
        if dt == "F32":
            a = np.frombuffer(raw, dtype="<f4")
        elif dt == "F16":
            a = np.frombuffer(raw, dtype="<f2")
        elif dt == "BF16":
            a = np.frombuffer(raw, dtype="<u2")
            if upcast:
                a = _bf16_bits_to_f32(a)
        else:
            raise ValueError("unsupported dtype %s in %s" % (dt, name))
        if upcast:
            a = a.astype(np.float32)
        out[name] = a.reshape(shape)
    return out


ARCH_CLASS = {"llama": "LlamaForCausalLM", "mistral": "MistralForCausalLM",
              "qwen2": "Qwen2ForCausalLM"}
TORCH_DTYPE = {"F32": "float32", "F16": "float16", "BF16": "bfloat16"}


def make_config(arch, cfg, torch_dtype="float32"):
    c = {
        "architectures": [ARCH_CLASS[arch]],
        "model_type": arch,
        "hidden_size": cfg["hidden_size"],
        "intermediate_size": cfg["intermediate_size"],
        "num_hidden_layers": cfg["num_hidden_layers"],
        "num_attention_heads": cfg["num_attention_heads"],
        "num_key_value_heads": cfg.get("num_key_value_heads", cfg["num_attention_heads"]),
        "head_dim": cfg.get("head_dim", cfg["hidden_size"] // cfg["num_attention_heads"]),
        "hidden_act": "silu",
        "rms_norm_eps": cfg.get("rms_norm_eps", 1e-6),
        "rope_theta": float(cfg.get("rope_theta", 10000.0)),
        "vocab_size": cfg["vocab_size"],
        "max_position_embeddings": cfg.get("max_position_embeddings", 2048),
        "tie_word_embeddings": bool(cfg.get("tie_word_embeddings", False)),
        "bos_token_id": cfg.get("bos_token_id", 1),
        "eos_token_id": cfg.get("eos_token_id", 2),
        "torch_dtype": torch_dtype,
    }
    if arch in ("llama", "mistral"):
        c["attention_bias"] = False
    if arch == "mistral":
        c["sliding_window"] = None
    if arch == "qwen2":
        c["use_sliding_window"] = False
    return c


def write_hf_dir(d, state_dict, config, dtype="F32"):
    os.makedirs(d, exist_ok=True)
    config = dict(config)
    config["torch_dtype"] = TORCH_DTYPE[dtype]
    with open(os.path.join(d, "config.json"), "w") as f:
        json.dump(config, f, indent=2)
        f.write("\n")
    write_safetensors(os.path.join(d, "model.safetensors"), state_dict, dtype=dtype,
                      metadata={"format": "pt"})


def read_hf_dir(d):
    with open(os.path.join(d, "config.json")) as f:
        cfg = json.load(f)
    return cfg, read_safetensors(os.path.join(d, "model.safetensors"))


if __name__ == "__main__":
    if len(sys.argv) == 3 and sys.argv[1] == "--dump":
        h, base = read_header(sys.argv[2])
        print("data offset", base)
        for k, v in h.items():
            print(k, v)
    else:
        print(__doc__)
