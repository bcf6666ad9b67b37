#!/usr/bin/python3
"""Golden fixtures for engine/nn_ops.h: PyTorch forward + backward of conv2d, batch norm, pooling on
small random inputs. Run with Debian's PyTorch:  /usr/bin/python3 tests/reference/gen_nn_ops.py
Writes tests/fixtures/nn_ops_{conv,bn,pool}.safetensors. Each case <c> stores its inputs, <c>.out,
<c>.dout (the upstream gradient) and <c>.d<input> for every input; hyper-parameters go in metadata
as "<c>.<name>" so the C++ test reads them from the file rather than repeating them."""
import os
import torch
import torch.nn.functional as F
from safetensors_io import write_safetensors

HERE = os.path.dirname(os.path.abspath(__file__))
OUT = os.path.join(HERE, "..", "fixtures")
torch.manual_seed(20240601)


def leaf(*shape, scale=1.0, shift=0.0):
    return (torch.randn(*shape, dtype=torch.float64) * scale + shift).float().requires_grad_(True)


def run_case(tensors, meta, name, fn, inputs, params):
    """fn(**inputs) -> out; stores inputs, out, dout and the gradient of every input."""
    out = fn(**inputs)
    dout = torch.randn_like(out)
    out.backward(dout)
    for k, v in inputs.items():
        tensors[f"{name}.{k}"] = v.detach().clone()
        tensors[f"{name}.d{k}"] = v.grad.detach().clone()
    tensors[f"{name}.out"] = out.detach().clone()
    tensors[f"{name}.dout"] = dout
    for k, v in params.items():
        meta[f"{name}.{k}"] = str(v)


def gen_conv():
    t, m = {}, {}
    cases = [  # name, x shape, w shape, bias, stride, padding, groups
        ("basic", (2, 3, 7, 6), (4, 3, 3, 3), True, 1, 1, 1),
        ("strided", (2, 4, 9, 8), (6, 4, 3, 2), False, 2, 1, 1),
        ("grouped", (2, 6, 5, 5), (4, 3, 3, 3), True, 1, 0, 2),
        ("pointwise", (3, 8, 4, 4), (5, 8, 1, 1), True, 1, 0, 1),
        ("wide", (2, 3, 6, 6), (4, 3, 5, 5), True, 3, 2, 1),
    ]
    for name, xs, ws, bias, stride, pad, groups in cases:
        inputs = {"x": leaf(*xs), "w": leaf(*ws, scale=0.5)}
        if bias:
            inputs["b"] = leaf(ws[0], scale=0.5)
        fn = lambda x, w, b=None, s=stride, p=pad, g=groups: F.conv2d(x, w, b, stride=s, padding=p, groups=g)
        run_case(t, m, name, fn, inputs, {"stride": stride, "padding": pad, "groups": groups, "bias": int(bias)})
    write_safetensors(os.path.join(OUT, "nn_ops_conv.safetensors"), t, m)


def gen_bn():
    t, m = {}, {}
    C, momentum, eps = 3, 0.1, 1e-5
    # Training with affine: batch statistics, running stats updated in place (unbiased var).
    rm, rv = torch.randn(C) * 0.1, torch.rand(C) + 0.5
    t["train.running_mean_before"], t["train.running_var_before"] = rm.clone(), rv.clone()
    fn = lambda x, gamma, beta: F.batch_norm(x, rm, rv, gamma, beta, training=True, momentum=momentum, eps=eps)
    run_case(t, m, "train", fn, {"x": leaf(4, C, 5, 5, scale=2.0, shift=0.7), "gamma": leaf(C), "beta": leaf(C)},
             {"momentum": momentum, "eps": eps})
    t["train.running_mean_after"], t["train.running_var_after"] = rm.clone(), rv.clone()
    # Training without affine and without running stats.
    fn = lambda x: F.batch_norm(x, None, None, None, None, training=True, momentum=momentum, eps=eps)
    run_case(t, m, "train_noaffine", fn, {"x": leaf(3, 2, 4, 3, scale=0.5, shift=-1.0)}, {"eps": eps})
    # Eval with affine: running statistics are constants.
    rm, rv = torch.randn(C) * 0.3, torch.rand(C) + 0.5
    t["eval.running_mean"], t["eval.running_var"] = rm.clone(), rv.clone()
    fn = lambda x, gamma, beta: F.batch_norm(x, rm, rv, gamma, beta, training=False, momentum=momentum, eps=eps)
    run_case(t, m, "eval", fn, {"x": leaf(2, C, 4, 4), "gamma": leaf(C), "beta": leaf(C)}, {"eps": eps})
    write_safetensors(os.path.join(OUT, "nn_ops_bn.safetensors"), t, m)


def gen_pool():
    t, m = {}, {}
    cases = [  # name, fn, x, kernel, stride, padding
        ("max2", F.max_pool2d, leaf(2, 3, 6, 6), 2, 2, 0),
        ("max3_pad", F.max_pool2d, leaf(2, 2, 7, 7), 3, 2, 1),
        # Small integers: many ties inside windows; PyTorch's CPU kernel keeps the first maximum.
        ("max_ties", F.max_pool2d, torch.randint(0, 3, (2, 2, 6, 6)).float().requires_grad_(True), 3, 1, 1),
        ("avg2", F.avg_pool2d, leaf(2, 3, 6, 6), 2, 2, 0),
        ("avg3_pad", F.avg_pool2d, leaf(2, 2, 7, 7), 3, 2, 1),
    ]
    for name, op, x, k, s, p in cases:
        run_case(t, m, name, lambda x, op=op, k=k, s=s, p=p: op(x, k, s, p), {"x": x},
                 {"kernel": k, "stride": s, "padding": p})
    run_case(t, m, "global", lambda x: F.adaptive_avg_pool2d(x, 1).flatten(1), {"x": leaf(2, 3, 5, 4)}, {})
    write_safetensors(os.path.join(OUT, "nn_ops_pool.safetensors"), t, m)


if __name__ == "__main__":
    os.makedirs(OUT, exist_ok=True)
    gen_conv()
    gen_bn()
    gen_pool()
    print("wrote nn_ops_{conv,bn,pool}.safetensors to", os.path.normpath(OUT))
