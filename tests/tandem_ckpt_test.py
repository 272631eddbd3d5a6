#!/usr/bin/python3
"""python/tandem_ckpt.py through the _tandem_store binding: a model and
optimizer round trip bitwise, with RNG states and extra data; one tensor
alone; a damaged chunk raises instead of loading; bad input raises clean
Python errors."""
import os
import shutil
import sys
import tempfile

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(ROOT, "python"))
import numpy as np  # noqa: E402
import torch  # noqa: E402

import tandem_ckpt  # noqa: E402


def make():
    m = torch.nn.Sequential(torch.nn.Linear(300, 200), torch.nn.LayerNorm(200), torch.nn.Linear(200, 10))
    opt = torch.optim.AdamW(m.parameters(), lr=1e-2)
    return m, opt


def step(m, opt):
    loss = m(torch.randn(8, 300)).pow(2).mean()
    opt.zero_grad()
    loss.backward()
    opt.step()


def same_opt(a, b):
    sa, sb = a.state_dict(), b.state_dict()
    assert sa["param_groups"] == sb["param_groups"]
    for pid in sa["state"]:
        for k, v in sa["state"][pid].items():
            w = sb["state"][pid][k]
            assert torch.equal(v, w) and v.dtype == w.dtype, (pid, k)


def main():
    torch.set_num_threads(2)
    torch.manual_seed(0)
    tmp = tempfile.mkdtemp(prefix="tandem-ckpt-py-")
    try:
        path = os.path.join(tmp, "s")
        assert tandem_ckpt.latest_step(path) is None
        m, opt = make()
        saved = {}
        with tandem_ckpt.TrainingCheckpointer(path, delta=True, keep_last=2, gc_every=2) as ck:
            for s in range(1, 6):
                step(m, opt)
                ck.save(s, model=m, optimizer=opt, extra={"data_pos": 100 * s})
                saved[s] = ({k: v.clone() for k, v in m.state_dict().items()}, torch.get_rng_state().clone(),
                            np.random.get_state()[1].copy())
            ck.flush()
            assert ck.durable_step() == 5
            st = ck.stats()
            assert st["persisted"] == 5 and st["gc_runs"] >= 2, st
        assert tandem_ckpt.latest_step(path) == 5
        assert tandem_ckpt.Reader(path).steps() == [3, 4, 5], tandem_ckpt.Reader(path).steps()  # gc after saves 2 and 4

        torch.manual_seed(99)
        np.random.seed(99)
        m2, opt2 = make()
        out = tandem_ckpt.restore(path, model=m2, optimizer=opt2)
        assert out == {"step": 5, "extra": {"data_pos": 500}}, out
        for k, v in saved[5][0].items():
            assert torch.equal(m2.state_dict()[k], v), k
        same_opt(opt, opt2)
        assert torch.equal(torch.get_rng_state(), saved[5][1])
        assert (np.random.get_state()[1] == saved[5][2]).all()
        # training continues identically from the restored state
        torch.manual_seed(5)
        step(m, opt)
        torch.manual_seed(5)
        step(m2, opt2)
        for k, v in m.state_dict().items():
            assert torch.equal(m2.state_dict()[k], v), k

        w = tandem_ckpt.read_tensor(path, "model/0.weight", step=4)
        assert torch.equal(w, saved[4][0]["0.weight"])

        # damage: flip a bit in every pack's footer (its index checksum)
        r = tandem_ckpt.Reader(path)
        assert r.verify()["ok"]
        packs = os.path.join(path, "packs")
        for name in os.listdir(packs):
            with open(os.path.join(packs, name), "r+b") as f:
                off = os.path.getsize(os.path.join(packs, name)) - 1
                f.seek(off)
                b = f.read(1)
                f.seek(off)
                f.write(bytes([b[0] ^ 1]))
        try:
            tandem_ckpt.read_tensor(path, "model/0.weight", step=4)
            raise AssertionError("damaged chunk loaded")
        except RuntimeError as e:
            assert "DATA_LOSS" in str(e), e
        assert not tandem_ckpt.Reader(path).verify()["ok"]

        # bad input
        for bad in (lambda: tandem_ckpt.Reader(os.path.join(tmp, "missing")),
                    lambda: tandem_ckpt.read_tensor(path, "nope"),
                    lambda: tandem_ckpt._ts.Checkpointer(os.path.join(tmp, "x"), policy="maybe"),
                    lambda: tandem_ckpt._ts.Checkpointer(os.path.join(tmp, "y"), chunk_bytes=5)):
            try:
                bad()
                raise AssertionError("no error")
            except (KeyError, ValueError, RuntimeError):
                pass
        t = torch.zeros(10, 10)[:, 1]  # not contiguous: copied by _byte_view, accepted
        with tandem_ckpt.TrainingCheckpointer(os.path.join(tmp, "z")) as ck:
            ck._ck.save(1, [("t", "tensor", "float32", [10], tandem_ckpt._byte_view(t), 4)], [], {})
            try:
                ck._ck.save(2, [("t", "tensor", "float32", [10], t.numpy(), 4)], [], {})
                raise AssertionError("non-contiguous buffer accepted")
            except ValueError:
                pass
    finally:
        shutil.rmtree(tmp)
    print("ok")


if __name__ == "__main__":
    main()
