#!/usr/bin/env python3
"""PyTorch GPU reference for `bench_train_step --device cuda`: the same networks as the CPU
reference (their definitions are read from torch_bench.py, passed with --ref, so both benches
build exactly the same models), the same SGD-with-momentum step, the same JSON fields.

  python3 bench/torch_gpu_bench.py --ref path/to/torch_bench.py --model resnet18 --batch 256 --json

fp32 throughout; --tf32 lets cuDNN/cuBLAS use TF32 tensor cores (trustgrad's kernels do not), so
the like-for-like figure is the default (TF32 off). Times end with torch.cuda.synchronize()."""
import argparse, json, time

import torch
import torch.nn.functional as F

ap = argparse.ArgumentParser()
ap.add_argument("--ref", required=True, help="torch_bench.py holding MODELS (the shared CPU reference)")
ap.add_argument("--model", default="small")
ap.add_argument("--batch", type=int, default=256)
ap.add_argument("--steps", type=int, default=20)
ap.add_argument("--tf32", action="store_true")
ap.add_argument("--channels-last", action="store_true")
ap.add_argument("--json", action="store_true")
a = ap.parse_args()

# The model definitions only: everything in the reference file before its argument parser.
src = open(a.ref).read().split("ap = argparse.ArgumentParser()")[0]
ns = {}
exec(compile(src, a.ref, "exec"), ns)
make, shape = ns["MODELS"][a.model]

torch.backends.cuda.matmul.allow_tf32 = a.tf32
torch.backends.cudnn.allow_tf32 = a.tf32
torch.backends.cudnn.benchmark = True
torch.manual_seed(0)
dev = torch.device("cuda")
net = make().to(dev)
x = torch.randn(a.batch, *shape, device=dev)
if a.channels_last:
    net = net.to(memory_format=torch.channels_last)
    x = x.contiguous(memory_format=torch.channels_last)
y = torch.randint(0, 10, (a.batch,), device=dev)
opt = torch.optim.SGD(net.parameters(), lr=0.01, momentum=0.9)


def timed(fn, steps):
    for _ in range(3):
        fn()
    torch.cuda.synchronize()
    t = time.perf_counter()
    for _ in range(steps):
        fn()
    torch.cuda.synchronize()
    return (time.perf_counter() - t) / steps


def train_step():
    opt.zero_grad(set_to_none=True)
    F.cross_entropy(net(x), y).backward()
    opt.step()


net.train()
train_s = timed(train_step, a.steps)
net.eval()
with torch.no_grad():
    infer_s = timed(lambda: net(x), a.steps)
out = {"engine": f"torch {torch.__version__} cuda{' tf32' if a.tf32 else ''}", "device": "cuda:0", "model": a.model,
       "batch": a.batch, "threads": torch.get_num_threads(), "train_img_per_s": a.batch / train_s,
       "infer_img_per_s": a.batch / infer_s, "peak_gpu_mib": torch.cuda.max_memory_allocated() / 2**20}
print(json.dumps(out) if a.json else
      f"{out['engine']} {a.model} batch={a.batch}: train {out['train_img_per_s']:.0f} img/s, "
      f"inference {out['infer_img_per_s']:.0f} img/s, peak GPU memory {out['peak_gpu_mib']:.0f} MiB")
