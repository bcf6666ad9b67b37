#!/usr/bin/python3
"""PyTorch reference for bench/bench_train_step.cpp: the networks of nn/models/ rebuilt in PyTorch
layer for layer (same layers, same order, same state_dict names and shapes), the same data, optimizer
and timing protocol, and the same JSON fields, so bench/run_bench.sh (`make bench`) can print
trustgrad / PyTorch ratios measured in one invocation on one machine.

  /usr/bin/python3 bench/torch_reference.py --model small --batch 256 --threads 2 --steps 10 [--json]
      [--device cpu|cuda] [--memory-format channels_last|contiguous] [--tf32] [--profile]

Models (bench_train_step's names):
  small     small CNN on 3x32x32 (nn/models/small_cnn.cpp)       small28  the same CNN on 1x28x28
  resnet18  CIFAR ResNet-18 (nn/models/resnet.cpp)               airbench airbench94-style net (nn/models/airbench.cpp)
Protocol (bench_train_step's): torch.manual_seed(0); x ~ N(0, 1) of (batch, C, side, side), labels in
0..9; 2 warm-up calls, then --steps timed calls. A training call is zero_grad, a train-mode forward,
cross-entropy, backward and an SGD step (lr 0.01, momentum 0.9); an inference call is an eval-mode
forward under no_grad. CPU: wall clock; CUDA: CUDA events around the timed calls. Layout: channels_last
on the CPU (PyTorch's fastest CPU path, oneDNN), NCHW on CUDA, unless --memory-format says otherwise.
--tf32 (CUDA) lets cuDNN/cuBLAS use TF32 tensor cores; trustgrad's kernels are fp32, so it is off by
default. --profile (CPU) prints instead where PyTorch's training step spends its time, per op and input
shape in ms per step (torch.profiler over the timed steps): the convolutions' forward and backward per
layer, side by side with bench_layers / bench_conv. Needs Debian's PyTorch: bash scripts/setup.sh --with-torch."""
import argparse, json, resource, time

import torch
import torch.nn as nn
import torch.nn.functional as F

NUM_CLASSES = 10


# ---------------------------------------------------------------- nn/models/small_cnn.cpp
def small_cnn(in_channels, side, num_classes=NUM_CLASSES):
    """[conv3x3-BN-ReLU] x2 (-> 32), maxpool 2, x2 (-> 64), maxpool 2, x1 (-> 128), maxpool 2,
    flatten, linear(128 * (side / 8)^2 -> classes). Convs: padding 1, no bias."""
    layers = []
    for cin, cout, pool_after in [(in_channels, 32, False), (32, 32, True), (32, 64, False), (64, 64, True),
                                  (64, 128, True)]:
        layers += [nn.Conv2d(cin, cout, 3, 1, 1, bias=False), nn.BatchNorm2d(cout), nn.ReLU()]
        if pool_after:
            layers.append(nn.MaxPool2d(2))
    final = side // 8  # three floor-halvings
    layers += [nn.Flatten(), nn.Linear(128 * final * final, num_classes)]
    return nn.Sequential(*layers)


# ---------------------------------------------------------------- nn/basic_block.cpp, nn/models/resnet.cpp
class BasicBlock(nn.Module):
    """y = relu(bn2(conv2(relu(bn1(conv1(x))))) + shortcut(x)); the shortcut is the identity or,
    when the stride or the width changes, Sequential(1x1 conv stride s, BN)."""

    def __init__(self, in_channels, out_channels, stride):
        super().__init__()
        self.conv1 = nn.Conv2d(in_channels, out_channels, 3, stride, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(out_channels)
        self.conv2 = nn.Conv2d(out_channels, out_channels, 3, 1, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(out_channels)
        self.shortcut = nn.Sequential()
        if stride != 1 or in_channels != out_channels:
            self.shortcut.append(nn.Conv2d(in_channels, out_channels, 1, stride, 0, bias=False))
            self.shortcut.append(nn.BatchNorm2d(out_channels))

    def forward(self, x):
        y = F.relu(self.bn1(self.conv1(x)))
        return F.relu(self.bn2(self.conv2(y)) + self.shortcut(x))


class ResNet18(nn.Module):
    """3x3 stem (64, stride 1) + BN + ReLU, stages of two BasicBlocks (64, 128/2, 256/2, 512/2),
    global average pool, linear head."""

    def __init__(self, in_channels=3, num_classes=NUM_CLASSES):
        super().__init__()
        self.conv1 = nn.Conv2d(in_channels, 64, 3, 1, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(64)
        width = 64
        for name, out, stride in [("layer1", 64, 1), ("layer2", 128, 2), ("layer3", 256, 2), ("layer4", 512, 2)]:
            setattr(self, name, nn.Sequential(BasicBlock(width, out, stride), BasicBlock(out, out, 1)))
            width = out
        self.linear = nn.Linear(512, num_classes)

    def forward(self, x):
        y = F.relu(self.bn1(self.conv1(x)))
        y = self.layer4(self.layer3(self.layer2(self.layer1(y))))
        return self.linear(y.mean(dim=(2, 3)))  # global average pool: (N, 512, h, w) -> (N, 512)


# ---------------------------------------------------------------- nn/models/airbench.cpp
def airbench_bn(channels):  # eps 1e-12, momentum 0.4 (PyTorch's convention), weight frozen at 1
    bn = nn.BatchNorm2d(channels, eps=1e-12, momentum=0.4)
    bn.weight.requires_grad_(False)
    return bn


class ConvGroup(nn.Module):
    """conv1 3x3 -> pool (max 2) -> norm1 -> GELU -> conv2 3x3 -> norm2 -> GELU."""

    def __init__(self, in_channels, out_channels):
        super().__init__()
        self.conv1 = nn.Conv2d(in_channels, out_channels, 3, 1, 1, bias=False)
        self.pool = nn.MaxPool2d(2)
        self.norm1 = airbench_bn(out_channels)
        self.conv2 = nn.Conv2d(out_channels, out_channels, 3, 1, 1, bias=False)
        self.norm2 = airbench_bn(out_channels)
        self.activ = nn.GELU()

    def forward(self, x):
        y = self.activ(self.norm1(self.pool(self.conv1(x))))
        return self.activ(self.norm2(self.conv2(y)))


class Scale(nn.Module):  # y = x * factor (trustgrad's Scale layer)
    def __init__(self, factor):
        super().__init__()
        self.factor = factor

    def forward(self, x):
        return x * self.factor


def airbench(in_channels, side, num_classes=NUM_CLASSES):
    """2x2 "whitening" conv (bias, no padding) + GELU, ConvGroups 24->64->256->256, max pool over the
    remaining map, flatten, linear (no bias), Scale(1/9)."""
    whiten_width = 2 * in_channels * 2 * 2
    final_side = (side - 1) // 2 // 2 // 2  # the 2x2 stem, then three 2x2 max pools
    return nn.Sequential(nn.Conv2d(in_channels, whiten_width, 2, 1, 0, bias=True), nn.GELU(),
                         ConvGroup(whiten_width, 64), ConvGroup(64, 256), ConvGroup(256, 256),
                         nn.MaxPool2d(final_side), nn.Flatten(), nn.Linear(256, num_classes, bias=False),
                         Scale(1 / 9))


# bench_train_step's model names -> (constructor, input shape (C, H, W))
MODELS = {
    "small": (lambda: small_cnn(3, 32), (3, 32, 32)),
    "small28": (lambda: small_cnn(1, 28), (1, 28, 28)),
    "resnet18": (lambda: ResNet18(3), (3, 32, 32)),
    "airbench": (lambda: airbench(3, 32), (3, 32, 32)),
}


def num_parameters(net):  # every parameter's elements, frozen ones included (Module::num_parameters)
    return sum(p.numel() for p in net.parameters())


def seconds_per_call(fn, steps, cuda):
    for _ in range(2):  # warm-up: allocator caches, oneDNN / cuDNN algorithm choice
        fn()
    if cuda:
        start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
        torch.cuda.synchronize()
        start.record()
        for _ in range(steps):
            fn()
        end.record()
        end.synchronize()
        return start.elapsed_time(end) / 1000.0 / steps  # elapsed_time is in ms
    t0 = time.perf_counter()
    for _ in range(steps):
        fn()
    return (time.perf_counter() - t0) / steps


def training_setup(model, batch, dev, memory_format):
    """bench_train_step's network, data and optimizer: seed 0, x ~ N(0, 1), labels in 0..9, SGD with
    momentum; the network and x in channels_last when asked."""
    torch.manual_seed(0)
    make, shape = MODELS[model]
    net = make().to(dev)
    x = torch.randn(batch, *shape, device=dev)
    y = torch.randint(0, NUM_CLASSES, (batch,), device=dev)
    if memory_format == "channels_last":
        net = net.to(memory_format=torch.channels_last)
        x = x.contiguous(memory_format=torch.channels_last)
    opt = torch.optim.SGD(net.parameters(), lr=0.01, momentum=0.9)  # frozen weights get no grad, no step
    return net, x, y, opt


def profile_train_step(model, batch=256, threads=2, steps=5, memory_format="channels_last"):
    """Where one CPU training step's time goes: (name, input shapes, ms per step) per aten op and input
    shape, largest first, from torch.profiler's self CPU time over `steps` steps after 2 warm-up steps."""
    from torch.profiler import profile, ProfilerActivity
    torch.set_num_threads(threads)
    net, x, y, opt = training_setup(model, batch, torch.device("cpu"), memory_format)

    def train_step():
        opt.zero_grad(set_to_none=True)
        F.cross_entropy(net(x), y).backward()
        opt.step()

    net.train()
    for _ in range(2):
        train_step()
    with profile(activities=[ProfilerActivity.CPU], record_shapes=True) as prof:
        for _ in range(steps):
            train_step()
    rows = []
    for e in prof.key_averages(group_by_input_shape=True):
        if not e.key.startswith("aten::") or e.self_cpu_time_total <= 0:
            continue
        shapes = [list(s) for s in (e.input_shapes or []) if s][:3]  # the tensors: input, weight / grad, ...
        rows.append((e.key, shapes, e.self_cpu_time_total / 1000.0 / steps))
    rows.sort(key=lambda r: -r[2])
    return rows


def measure(model, batch=256, threads=2, steps=10, device="cpu", memory_format=None, tf32=False, bf16=False):
    """One model's training and inference throughput: bench_train_step's JSON object as a dict."""
    if model not in MODELS:
        raise ValueError(f"unknown model '{model}' (known: {', '.join(MODELS)})")
    if batch < 1 or threads < 1 or steps < 1:
        raise ValueError(f"batch, threads and steps must be positive, got {batch}, {threads}, {steps}")
    cuda = device.startswith("cuda")
    if cuda and not torch.cuda.is_available():
        raise ValueError("--device cuda: this PyTorch sees no CUDA device")
    memory_format = memory_format or ("contiguous" if cuda else "channels_last")
    torch.set_num_threads(threads)
    torch.backends.cuda.matmul.allow_tf32 = tf32
    torch.backends.cudnn.allow_tf32 = tf32
    torch.backends.cudnn.benchmark = True
    net, x, y, opt = training_setup(model, batch, torch.device(device), memory_format)

    # bf16: autocast, PyTorch's mixed precision (convs and linears in bfloat16 through oneDNN, AMX
    # where the CPU has it; fp32 weights and optimizer): what trustgrad's --precision bf16 compares with.
    def autocast():
        return torch.autocast(device_type="cuda" if cuda else "cpu", dtype=torch.bfloat16, enabled=bf16)

    def train_step():
        opt.zero_grad(set_to_none=True)
        with autocast():
            loss = F.cross_entropy(net(x), y)
        loss.backward()
        opt.step()

    def infer():
        with torch.no_grad(), autocast():
            net(x)

    net.train()
    train_s = seconds_per_call(train_step, steps, cuda)
    net.eval()
    infer_s = seconds_per_call(infer, steps, cuda)
    rss_mib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0  # ru_maxrss is in KiB on Linux
    engine = f"torch {torch.__version__} {memory_format}{' tf32' if tf32 else ''}{' bf16 autocast' if bf16 else ''}"
    device_name = f"cuda:{torch.cuda.current_device()}" if cuda else "cpu"
    return {"engine": engine, "device": device_name, "model": model, "params": num_parameters(net),
            "batch": batch, "threads": threads, "precision": "bf16" if bf16 else "fp32", "train_img_per_s": round(batch / train_s, 2),
            "infer_img_per_s": round(batch / infer_s, 2), "peak_rss_mib": round(rss_mib, 1)}


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", default="small", choices=list(MODELS))
    ap.add_argument("--batch", type=int, default=256)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--steps", type=int, default=10)
    ap.add_argument("--device", default="cpu", help="cpu or cuda[:N]")
    ap.add_argument("--memory-format", choices=["channels_last", "contiguous"],
                    help="default: channels_last on the CPU, contiguous (NCHW) on CUDA")
    ap.add_argument("--tf32", action="store_true", help="CUDA: allow TF32 tensor cores (not like for like)")
    ap.add_argument("--precision", choices=["fp32", "bf16"], default="fp32",
                    help="bf16: torch.autocast to bfloat16 (mixed precision), as bench_train_step --precision bf16")
    ap.add_argument("--json", action="store_true")
    ap.add_argument("--profile", action="store_true",
                    help="CPU, fp32: print the training step's time per op and input shape (ms per step) instead")
    a = ap.parse_args()
    if a.profile:
        if a.device != "cpu" or a.precision != "fp32":
            ap.error("--profile: CPU and fp32 only")
        rows = profile_train_step(a.model, a.batch, a.threads, a.steps, a.memory_format or "channels_last")
        total = sum(r[2] for r in rows)
        print(f"torch {torch.__version__} {a.model} batch={a.batch} threads={a.threads}: {total:.1f} ms per training "
              f"step in aten ops (self CPU time), by op and input shapes")
        for name, shapes, ms in rows:
            if ms >= 0.005 * total:
                print(f"{ms:9.2f} ms  {ms / total * 100:5.1f}%  {name:<40} {shapes}")
        return
    try:
        out = measure(a.model, a.batch, a.threads, a.steps, a.device, a.memory_format, a.tf32, a.precision == "bf16")
    except ValueError as e:
        ap.error(str(e))
    if a.json:
        print(json.dumps(out))
    else:
        print(f"{out['engine']} {out['device']} {a.model} batch={a.batch} threads={a.threads}: "
              f"train {out['train_img_per_s']:.0f} img/s, inference {out['infer_img_per_s']:.0f} img/s, "
              f"peak RSS {out['peak_rss_mib']:.0f} MiB")


if __name__ == "__main__":
    main()
