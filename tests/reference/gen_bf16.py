#!/usr/bin/python3
"""Golden fixture for the bf16 CPU mode (engine/cpu/gemm_bf16.h, ConvPrecision::Bf16): PyTorch's
float32 -> bfloat16 rounding, and a conv's forward and both gradients computed from bf16-rounded
operands. Run with Debian's PyTorch:  /usr/bin/python3 tests/reference/gen_bf16.py
Writes tests/fixtures/bf16.safetensors:
  round.x, round.y    y = float(bfloat16(x)) for normal values, exact ties, the largest values and
                      infinities (no subnormals: the CPU's conversion instruction, and so
                      round_to_bf16, flushes them to zero where PyTorch keeps bf16 subnormals)
  conv.{x,w,dout}     inputs; conv.{out,dx,dw}: F.conv2d on bf16-rounded x and w (stride 2, pad 1,
                      no bias) in float64, its gradients for the bf16-rounded dout, stored as float32:
                      what an im2col conv in bf16 (its GEMMs on rounded operands, fp32 sums) computes."""
import os
import torch
import torch.nn.functional as F
from safetensors_io import write_safetensors

HERE = os.path.dirname(os.path.abspath(__file__))
OUT = os.path.join(HERE, "..", "fixtures")
torch.manual_seed(20261207)


def bf16(t):
    return t.to(torch.bfloat16).to(torch.float32)


def gen():
    t = {}
    one = 1.0
    ties = [one + 2**-8, one + 3 * 2**-8, -(one + 2**-8), 2**-100 * (one + 2**-8), 3.0 + 2**-7]
    near = [one + 2**-8 + 2**-20, one + 2**-8 - 2**-20]
    big = [3.3895313892515355e38, 3.3961e38, 3.4028234663852886e38, -3.4028234663852886e38]  # bf16 max, past it
    special = [0.0, -0.0, float("inf"), float("-inf"), 1.1754943508222875e-38]  # the smallest normal
    x = torch.cat([torch.tensor(ties + near + big + special, dtype=torch.float32),
                   torch.randn(64) * 10.0 ** torch.randint(-20, 20, (64,)).float()])
    t["round.x"], t["round.y"] = x, bf16(x)

    x, w = torch.randn(2, 4, 7, 6), torch.randn(6, 4, 3, 3) * 0.5
    xr = bf16(x).double().requires_grad_(True)
    wr = bf16(w).double().requires_grad_(True)
    out = F.conv2d(xr, wr, stride=2, padding=1)
    dout = torch.randn(out.shape)
    out.backward(bf16(dout).double())
    t["conv.x"], t["conv.w"], t["conv.dout"] = x, w, dout
    t["conv.out"], t["conv.dx"], t["conv.dw"] = out.detach().float(), xr.grad.float(), wr.grad.float()
    write_safetensors(os.path.join(OUT, "bf16.safetensors"), t, {"conv.stride": "2", "conv.padding": "1"})


if __name__ == "__main__":
    gen()
