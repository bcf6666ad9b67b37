#!/usr/bin/python3
"""Golden fixtures for engine/ops.h: PyTorch forward + backward of each op on small random inputs.

Run with Debian's PyTorch:  /usr/bin/python3 tests/reference/gen_ops.py
Writes tests/fixtures/ops.safetensors with, per case <name>: <name>.in0, <name>.in1, ... (inputs),
<name>.out (forward), <name>.dout (upstream gradient) and <name>.grad0, ... (input gradients).
Integer-valued targets are stored as float32 class indices, as trustgrad's cross_entropy takes them."""
import os, sys
import torch
import torch.nn.functional as F

sys.path.insert(0, os.path.dirname(__file__))
from safetensors_io import write_safetensors

torch.manual_seed(0)
out = {}


def case(name, fn, inputs, grad_mask=None):
    inputs = [t.clone().requires_grad_(grad_mask[i] if grad_mask else True) for i, t in enumerate(inputs)]
    y = fn(*inputs)
    dout = torch.randn_like(y)
    y.backward(dout)
    for i, t in enumerate(inputs):
        out[f"{name}.in{i}"] = t.detach()
        if t.grad is not None:
            out[f"{name}.grad{i}"] = t.grad
    out[f"{name}.out"] = y.detach()
    out[f"{name}.dout"] = dout


r = lambda *s: torch.randn(*s)
pos = lambda *s: torch.rand(*s) + 0.5

case("add_bcast", torch.add, [r(2, 3, 4, 4), r(3, 1, 1)])
case("sub_bcast", torch.sub, [r(4, 5), r(5)])
case("mul_bcast", torch.mul, [r(2, 3, 2, 2), r(1, 3, 1, 1)])
case("div_bcast", torch.div, [r(3, 4), pos(3, 1)])
case("exp", torch.exp, [r(3, 7)])
case("log", torch.log, [pos(3, 7)])
case("sqrt", torch.sqrt, [pos(3, 7)])
case("pow3", lambda x: torch.pow(x, 3.0), [r(3, 7)])
case("relu", F.relu, [r(4, 9)])
case("gelu", F.gelu, [r(4, 9)])
case("sigmoid", torch.sigmoid, [r(4, 9)])
case("tanh", torch.tanh, [r(4, 9)])
case("sum_dim1", lambda x: x.sum(1), [r(3, 5, 2)])
case("mean_dim0", lambda x: x.mean(0), [r(3, 5, 2)])
case("max_dim2", lambda x: x.max(2).values, [r(3, 5, 4)])
case("norm", lambda x: x.norm(), [r(6, 5)])
case("matmul", torch.matmul, [r(7, 5), r(5, 3)])
case("linear", F.linear, [r(6, 5), r(4, 5), r(4)])
case("transpose", lambda x: x.t().contiguous(), [r(3, 5)])
case("softmax", lambda x: F.softmax(x, 1), [r(4, 10)])
case("log_softmax", lambda x: F.log_softmax(x, 1), [r(4, 10)])
targets = torch.tensor([3, 0, 9, 4, 4, 1])
case("cross_entropy", lambda z, t: F.cross_entropy(z, t.long()), [r(6, 10), targets.float()], [True, False])
case("cross_entropy_ls", lambda z, t: F.cross_entropy(z, t.long(), label_smoothing=0.1),
     [r(6, 10), targets.float()], [True, False])

path = os.path.join(os.path.dirname(__file__), "..", "fixtures", "ops.safetensors")
write_safetensors(path, out, {"generator": "tests/reference/gen_ops.py", "torch": torch.__version__})
print(f"wrote {len(out)} tensors to {os.path.normpath(path)} ({os.path.getsize(path)} bytes)")
