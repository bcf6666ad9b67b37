#!/usr/bin/python3
"""Golden values for ops on edge inputs (a hostile review's findings), from PyTorch.

Run with Debian's PyTorch:  /usr/bin/python3 tests/reference/gen_edge_numerics.py
Writes tests/fixtures/ops_edge_numerics.safetensors; per case <name>: its inputs, its output
(<name>.y) and the gradient of sum(dy * y) (<name>.dx, <name>.da, <name>.db):
  log_softmax.big    rows of equal logits at 1e8 and -1e30, and logits near 1e4 (precision of log p)
  ce.masked          cross-entropy with -inf logits (masked classes), label smoothing 0
  ce.masked_smooth   the same with label smoothing 0.1 (loss +inf)
  ce.target_masked   the target's own logit at -inf (loss +inf, finite gradient)
  max.nan            max over dim 1 with NaN in rows (values, indices, gradient); argmax of all
  div.extreme        d(a / b) / db where b^2 overflows or underflows
  rdiv.extreme       d(1 / a) / da at a = 1e20
  pow.zero           d(x^0) / dx at 0, -0, NaN, 2
  bn.nan_running     batch-norm running statistics after a batch with a NaN in channel 0"""
import math
import os
import sys

import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from safetensors_io import write_safetensors  # noqa: E402

FIXTURES = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "fixtures")
NAN, INF = float("nan"), float("inf")


def leaf(values):
    return torch.tensor(values, dtype=torch.float32, requires_grad=True)


def main():
    out = {}
    # log_softmax: y and dx for dy
    x = leaf([[1e8, 1e8], [-1e30, -1e30]])
    dy = torch.tensor([[1.0, 2.0], [0.5, -1.0]])
    y = torch.log_softmax(x, dim=1)
    (y * dy).sum().backward()
    out.update({"log_softmax.big.x": x.detach(), "log_softmax.big.dy": dy, "log_softmax.big.y": y.detach(),
                "log_softmax.big.dx": x.grad})
    x = leaf([[1e4, 1e4 + 1, 1e4 - 1]])
    dy = torch.tensor([[1.0, -2.0, 0.5]])
    y = torch.log_softmax(x, dim=1)
    (y * dy).sum().backward()
    out.update({"log_softmax.near.x": x.detach(), "log_softmax.near.dy": dy, "log_softmax.near.y": y.detach(),
                "log_softmax.near.dx": x.grad})
    # cross-entropy with masked logits: loss (shape (1,)) and dlogits of the loss
    for name, z, t, ls in [("ce.masked", [[0.0, -INF, 1.0], [2.0, 0.5, -INF]], [0.0, 1.0], 0.0),
                           ("ce.masked_smooth", [[0.0, -INF, 1.0], [2.0, 0.5, -INF]], [0.0, 1.0], 0.1),
                           ("ce.target_masked", [[-INF, 0.0, 1.0]], [0.0], 0.0)]:
        zl = leaf(z)
        loss = torch.nn.functional.cross_entropy(zl, torch.tensor(t).long(), label_smoothing=ls)
        out[name + ".x"] = zl.detach()
        out[name + ".t"] = torch.tensor(t)
        out[name + ".y"] = loss.detach().reshape(1)
        if math.isfinite(loss.item()) or name == "ce.target_masked":
            loss.backward()
            out[name + ".dx"] = zl.grad
    # max over dim 1 with NaN
    x = leaf([[1.0, NAN, 3.0], [NAN, NAN, 2.0], [4.0, 5.0, 6.0], [7.0, 7.0, NAN]])
    v, i = x.max(dim=1)
    dy = torch.tensor([1.0, 2.0, 3.0, 4.0])
    (v * dy).sum().backward()
    out.update({"max.nan.x": x.detach(), "max.nan.dy": dy, "max.nan.y": v.detach(), "max.nan.i": i.float(),
                "max.nan.dx": x.grad,
                "max.nan.argmax_all": torch.argmax(x.detach()).float().reshape(1)})
    # d(a / b): a = b
    a, b = leaf([1e-30, 1e20, 1e-20, 3.0]), leaf([1e-30, 1e20, 1e-20, -2.0])
    (a / b).sum().backward()
    out.update({"div.extreme.a": a.detach(), "div.extreme.b": b.detach(), "div.extreme.da": a.grad,
                "div.extreme.db": b.grad})
    a = leaf([1e20, 2.0, -3.0, 1e-20])
    (1.0 / a).sum().backward()
    out.update({"rdiv.extreme.a": a.detach(), "rdiv.extreme.da": a.grad})
    # d(x^0)/dx
    x = leaf([0.0, -0.0, NAN, 2.0])
    x.pow(0.0).sum().backward()
    out.update({"pow.zero.x": x.detach(), "pow.zero.dx": x.grad})
    # batch-norm running statistics after one training batch with a NaN in channel 0
    g = torch.Generator().manual_seed(7)
    x = torch.randn(4, 2, 3, 3, generator=g)
    x[1, 0, 2, 1] = NAN
    bn = torch.nn.BatchNorm2d(2, momentum=0.1)
    bn.train()
    bn(x)
    out.update({"bn.nan_running.x": x, "bn.nan_running.mean": bn.running_mean.detach().clone(),
                "bn.nan_running.var": bn.running_var.detach().clone()})
    write_safetensors(os.path.join(FIXTURES, "ops_edge_numerics.safetensors"), out, {"torch": torch.__version__})
    print("wrote ops_edge_numerics.safetensors with", len(out), "tensors, torch", torch.__version__)


if __name__ == "__main__":
    main()
