#!/usr/bin/python3
"""Golden values for tg::nn::clip_grad_norm_ from torch.nn.utils.clip_grad_norm_.

Run with Debian's PyTorch:  /usr/bin/python3 tests/reference/gen_clip_grad.py
Writes tests/fixtures/nn_clip_grad.safetensors: three gradients (g0, g1, g2) and, per case
<name>, the total norm torch returns (<name>.total, shape (1,)) and the clipped gradients
(<name>.g0 ...). Cases: the 2-norm above and below max_norm, the 1-norm, the inf-norm, p = 3."""
import os, sys
import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from safetensors_io import write_safetensors  # noqa: E402

FIXTURES = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "fixtures")
CASES = [("l2_clipped", 1.0, 2.0), ("l2_unclipped", 100.0, 2.0), ("l1", 0.5, 1.0),
         ("linf", 0.3, float("inf")), ("l3", 0.7, 3.0)]


def main():
    g = torch.Generator().manual_seed(99)
    grads = [torch.randn(4, 3, 3, 3, generator=g), torch.randn(7, generator=g) * 0.1,
             torch.randn(5, 8, generator=g) * 2.0]
    out = {f"g{i}": t for i, t in enumerate(grads)}
    for name, max_norm, p in CASES:
        params = [torch.zeros_like(t, requires_grad=True) for t in grads]
        for q, t in zip(params, grads):
            q.grad = t.clone()
        total = torch.nn.utils.clip_grad_norm_(params, max_norm, norm_type=p)
        out[f"{name}.total"] = total.reshape(1).float()
        for i, q in enumerate(params):
            out[f"{name}.g{i}"] = q.grad
    meta = {"cases": ";".join(f"{n}:{m}:{p}" for n, m, p in CASES), "torch": torch.__version__}
    write_safetensors(os.path.join(FIXTURES, "nn_clip_grad.safetensors"), out, meta)
    print("wrote nn_clip_grad.safetensors with", len(out), "tensors, torch", torch.__version__)


if __name__ == "__main__":
    main()
