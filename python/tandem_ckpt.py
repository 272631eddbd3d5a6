"""Per-step checkpoints of PyTorch training through tandem's store.

    ck = tandem_ckpt.TrainingCheckpointer("/data/run1.ckpt", delta=True, keep_last=3)
    for step in ...:
        ...  # forward, backward, optimizer.step()
        ck.save(step, model=model, optimizer=opt, extra={"data_pos": pos, "np_rng": rng.get_state()})
    ck.close()                      # waits until everything is durable

    state = tandem_ckpt.restore("/data/run1.ckpt", model=model, optimizer=opt)   # latest
    state["step"], state["extra"]["data_pos"]

save() copies each tensor once, from a zero-copy byte view of its memory
into the store's staging buffer (the GIL is released during the copy), and
returns; hashing, compression, deduplication and the durable commit happen on
a background thread. Tensors must be on the CPU (others are copied to it).

What is stored per step: every model.state_dict() tensor ("model/<name>"),
every tensor in optimizer.state_dict()["state"] ("optim/<param>/<key>"),
torch's CPU RNG state ("rng/torch"), and one pickled blob ("meta") with the
optimizer's param_groups, non-tensor optimizer state, Python's and numpy's
global RNG states and `extra`.
"""
import glob
import os
import pickle
import random
import sys

import numpy as np
import torch

_HERE = os.path.dirname(os.path.abspath(__file__))


def _import_binding():
    try:
        import _tandem_store  # noqa: F401 (already on the path)
        return _tandem_store
    except ImportError:
        pass
    root = os.path.dirname(_HERE)
    candidates = [os.environ.get("TANDEM_PYTHON_MODULE_DIR", "")]
    candidates += sorted(glob.glob(os.path.join(root, "build*", "python")))
    for d in candidates:
        if d and glob.glob(os.path.join(d, "_tandem_store*.so")):
            sys.path.insert(0, d)
            import _tandem_store
            return _tandem_store
    raise ImportError("the _tandem_store module is not built: run "
                      "`cmake --build build --target _tandem_store` (needs pybind11-dev), "
                      "or set TANDEM_PYTHON_MODULE_DIR")


_ts = _import_binding()
Reader = _ts.Reader


def _byte_view(t):
    """A uint8 numpy array sharing t's memory (a copy only if t is not a
    contiguous CPU tensor)."""
    t = t.detach()
    if t.device.type != "cpu":
        t = t.cpu()
    if not t.is_contiguous():
        t = t.contiguous()
    return t.reshape(-1).view(torch.uint8).numpy()


def _dtype_name(dt):
    return str(dt).replace("torch.", "")


def _tensor_item(name, t):
    return (name, "tensor", _dtype_name(t.dtype), list(t.shape), _byte_view(t), t.element_size())


def _blob_item(name, data):
    return (name, "blob", "", [], memoryview(data), 1)


def state_items(model=None, optimizer=None, extra=None):
    """The items of one training step (see the module docstring)."""
    items = []
    meta = {"extra": extra, "py_rng": random.getstate(), "np_rng": np.random.get_state()}
    if model is not None:
        for k, v in model.state_dict().items():
            items.append(_tensor_item("model/" + k, v))
    if optimizer is not None:
        sd = optimizer.state_dict()
        scalars = {}
        for pid, st in sd["state"].items():
            for k, v in st.items():
                if torch.is_tensor(v):
                    items.append(_tensor_item("optim/%s/%s" % (pid, k), v))
                else:
                    scalars.setdefault(pid, {})[k] = v
        meta["param_groups"] = sd["param_groups"]
        meta["optim_scalars"] = scalars
        meta["optim_tensor_keys"] = {pid: [k for k, v in st.items() if torch.is_tensor(v)]
                                     for pid, st in sd["state"].items()}
    items.append(_tensor_item("rng/torch", torch.get_rng_state()))
    items.append(_blob_item("meta", pickle.dumps(meta, protocol=pickle.HIGHEST_PROTOCOL)))
    return items


class TrainingCheckpointer:
    """Asynchronous per-step checkpoints into a tandem store directory.

    delta: XOR-delta tensors against their last keyframe (smaller writes for
    slowly changing weights). keep_last / keep_every: retention, applied with
    garbage collection every gc_every steps in the background. policy:
    "block" (save waits when persistence is behind) or "coalesce" (skips to
    the newest step). nice: the background persistence threads run this much
    nicer than the caller, so they yield the CPU to training. zstd_level:
    0 (default) stores chunks uncompressed: on the shipped model's training,
    zstd 1 stored 0.77x the bytes but cost about 15% of the step time in CPU
    (docs/store.md, Measured); pass 1 where disk space matters more.
    direct_io: pack files bypass the page cache (O_DIRECT) where the file
    system allows; False writes them through the page cache. hash: what names
    the chunks of a store this creates, "blake3" (format 3) or "sha256"
    (format 2, readable by older builds); an existing store keeps its own."""

    def __init__(self, path, delta=False, keep_last=0, keep_every=0, gc_every=0,
                 policy="block", threads=2, chunk_bytes=1 << 20, zstd_level=0,
                 keyframe_interval=8, slots=2, nice=10, direct_io=True, hash="blake3"):
        if (keep_last or keep_every) and not gc_every:
            gc_every = 16
        self._ck = _ts.Checkpointer(path, chunk_bytes=chunk_bytes, zstd_level=zstd_level,
                                    delta=delta, keyframe_interval=keyframe_interval,
                                    threads=threads, slots=slots, policy=policy,
                                    gc_every=gc_every, keep_last=keep_last,
                                    keep_every=keep_every, nice=nice, direct_io=direct_io,
                                    hash=hash)
        self.path = path

    def save(self, step, model=None, optimizer=None, extra=None, tags=(), metadata=None):
        self._ck.save(step, state_items(model, optimizer, extra), list(tags),
                      dict(metadata or {}))

    def flush(self):
        self._ck.flush()

    def durable_step(self):
        return self._ck.durable_step()

    def stats(self):
        return self._ck.stats()

    def close(self):
        self._ck.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


def latest_step(path):
    """The latest committed step, or None (also when the store does not exist)."""
    if not os.path.exists(os.path.join(path, "STORE")):
        return None
    return Reader(path).latest_step()


def _read_tensor(reader, step, entry):
    t = torch.empty(entry["shape"], dtype=getattr(torch, entry["dtype"]))
    reader.read_into(step, entry["name"], _byte_view(t))
    return t


def read_tensor(path, name, step=None):
    """One tensor of one step, without reading the rest."""
    r = Reader(path)
    step = r.latest_step() if step is None else step
    for e in r.manifest(step)["entries"]:
        if e["name"] == name:
            return _read_tensor(r, step, e)
    raise KeyError(name)


def restore(path, model=None, optimizer=None, step=None, restore_rng=True):
    """Loads step (latest if None) into model and optimizer, restores the RNG
    states, and returns {"step": step, "extra": extra}. Every byte is verified
    against its hash; damage raises RuntimeError."""
    r = Reader(path)
    if step is None:
        step = r.latest_step()
        if step is None:
            raise KeyError("store %s has no committed step" % path)
    entries = {e["name"]: e for e in r.manifest(step)["entries"]}
    meta = pickle.loads(r.read(step, "meta"))
    if model is not None:
        sd = {name[len("model/"):]: _read_tensor(r, step, e)
              for name, e in entries.items() if name.startswith("model/")}
        model.load_state_dict(sd)
    if optimizer is not None:
        state = {}
        for pid, keys in meta["optim_tensor_keys"].items():
            state[pid] = {k: _read_tensor(r, step, entries["optim/%s/%s" % (pid, k)]) for k in keys}
        for pid, sc in meta["optim_scalars"].items():
            state.setdefault(pid, {}).update(sc)
        optimizer.load_state_dict({"state": state, "param_groups": meta["param_groups"]})
    if restore_rng:
        torch.set_rng_state(_read_tensor(r, step, entries["rng/torch"]))
        random.setstate(meta["py_rng"])
        np.random.set_state(meta["np_rng"])
    return {"step": step, "extra": meta["extra"]}
