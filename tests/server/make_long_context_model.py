#!/usr/bin/python3
"""A small random llama GGUF with a 4096-token context, for the prefix-sharing
end-to-end test (the shipped tiny-kjv holds only 256 tokens).

  make_long_context_model.py OUT.gguf

Same construction as tools/make_test_models.py (hidden 64, 2 layers, 4 query
heads, 2 KV heads, head_dim 16, byte vocab of 384), with
max_position_embeddings 4096. Deterministic; skips writing if OUT exists.
"""
import os
import sys

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "..", "tools"))
import gguf_writer  # noqa: E402
import make_test_models as mtm  # noqa: E402
import safetensors_io  # noqa: E402


def main():
    if len(sys.argv) != 2:
        sys.exit(__doc__)
    out = sys.argv[1]
    if os.path.exists(out):
        return
    os.makedirs(os.path.dirname(os.path.abspath(out)), exist_ok=True)
    cfg = dict(mtm.BASE, **mtm.ARCHS["llama"])
    cfg["max_position_embeddings"] = 4096
    rng = np.random.default_rng([7, 4096])
    sd = mtm.random_state_dict(cfg, "llama", rng)
    tok = gguf_writer.byte_vocab_tokenizer(cfg["vocab_size"])
    tmp = out + ".tmp"
    gguf_writer.export_gguf(sd, safetensors_io.make_config("llama", cfg), tok, tmp, "f32",
                            name="test-llama-ctx4096")
    os.replace(tmp, out)
    print("wrote " + out)


if __name__ == "__main__":
    main()
