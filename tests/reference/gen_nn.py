#!/usr/bin/python3
"""Golden fixtures for tests/nn (layers, models, checkpoint interop), computed by PyTorch.

Run with Debian's PyTorch:  /usr/bin/python3 tests/reference/gen_nn.py
Writes into tests/fixtures/:
  nn_layers.safetensors        each layer's forward + backward on small random inputs:
                               <case>.x, .dout, .out, .dx, .param.<name> (before), .grad.<name>,
                               .after.<name> (buffers after the forward)
  nn_model_<m>.safetensors     small_cnn / resnet18 / airbench: one train-mode forward + backward from
                               formula weights (formula_tensor below, mirrored in tests/nn/nn_test_util.h):
                               x (formula_input with the stored phase), y, logits, loss, torch_f32_error and
                               per-parameter gradient norm, max |g|, 16 sampled entries (indices stored),
                               plus the norm of every buffer afterwards
  nn_state_dict_keys.txt       "<model> <name> <shape>" for every state_dict entry, in PyTorch's order
  nn_torch_mini.safetensors    a PyTorch-trained mini net's state_dict in native dtypes (int64
                               num_batches_tracked), and nn_torch_mini_io.safetensors (x, eval logits)
  nn_trustgrad_mini_io.safetensors  eval logits PyTorch computes from the committed, trustgrad-written
                               nn_trustgrad_mini.safetensors (made by tests/nn with TG_REGEN_NN_FIXTURES=1)
References are computed in float64 from the float32 inputs and stored as float32."""
import math, os, sys
import torch, torch.nn as nn, torch.nn.functional as F

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from safetensors_io import read_safetensors, write_safetensors  # noqa: E402

FIXTURES = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "fixtures")
torch.manual_seed(0)


def fx(name):
    return os.path.join(FIXTURES, name)


def f32(t):
    return t.detach().to(torch.float32).contiguous()


# ------------------------------------------------------------------ architectures (as in bench/torch_reference.py)
def block(i, o):
    return [nn.Conv2d(i, o, 3, padding=1, bias=False), nn.BatchNorm2d(o), nn.ReLU()]


def small_cnn(cin=3, side=32):
    s = side // 8
    return nn.Sequential(*block(cin, 32), *block(32, 32), nn.MaxPool2d(2),
                         *block(32, 64), *block(64, 64), nn.MaxPool2d(2),
                         *block(64, 128), nn.MaxPool2d(2), nn.Flatten(), nn.Linear(128 * s * s, 10))


class BasicBlock(nn.Module):
    def __init__(self, i, o, stride):
        super().__init__()
        self.conv1 = nn.Conv2d(i, o, 3, stride, 1, bias=False); self.bn1 = nn.BatchNorm2d(o)
        self.conv2 = nn.Conv2d(o, o, 3, 1, 1, bias=False); self.bn2 = nn.BatchNorm2d(o)
        self.shortcut = nn.Sequential()
        if stride != 1 or i != o:
            self.shortcut = nn.Sequential(nn.Conv2d(i, o, 1, stride, bias=False), nn.BatchNorm2d(o))

    def forward(self, x):
        y = F.relu(self.bn1(self.conv1(x)))
        return F.relu(self.bn2(self.conv2(y)) + self.shortcut(x))


class ResNet18(nn.Module):
    def __init__(self, n=10):
        super().__init__()
        self.conv1 = nn.Conv2d(3, 64, 3, 1, 1, bias=False); self.bn1 = nn.BatchNorm2d(64)
        layers, i = [], 64
        for o, s in [(64, 1), (128, 2), (256, 2), (512, 2)]:
            layers.append(nn.Sequential(BasicBlock(i, o, s), BasicBlock(o, o, 1))); i = o
        self.layer1, self.layer2, self.layer3, self.layer4 = layers
        self.linear = nn.Linear(512, n)

    def forward(self, x):
        y = F.relu(self.bn1(self.conv1(x)))
        y = self.layer4(self.layer3(self.layer2(self.layer1(y))))
        return self.linear(torch.flatten(F.adaptive_avg_pool2d(y, 1), 1))


# airbench94 (github.com/KellerJordan/cifar10-airbench), without the data-dependent whitening init.
class AirBatchNorm(nn.BatchNorm2d):
    def __init__(self, c):
        super().__init__(c, eps=1e-12, momentum=1 - 0.6)
        self.weight.requires_grad = False


class ConvGroup(nn.Module):
    def __init__(self, i, o):
        super().__init__()
        self.conv1 = nn.Conv2d(i, o, 3, padding=1, bias=False)
        self.pool = nn.MaxPool2d(2)
        self.norm1 = AirBatchNorm(o)
        self.conv2 = nn.Conv2d(o, o, 3, padding=1, bias=False)
        self.norm2 = AirBatchNorm(o)
        self.activ = nn.GELU()

    def forward(self, x):
        x = self.activ(self.norm1(self.pool(self.conv1(x))))
        return self.activ(self.norm2(self.conv2(x)))


class Mul(nn.Module):
    def __init__(self, s):
        super().__init__()
        self.s = s

    def forward(self, x):
        return x * self.s


def airbench(cin=3, side=32):
    w = 2 * cin * 2 * 2
    return nn.Sequential(nn.Conv2d(cin, w, 2, padding=0, bias=True), nn.GELU(), ConvGroup(w, 64), ConvGroup(64, 256),
                         ConvGroup(256, 256), nn.MaxPool2d((side - 1) // 8), nn.Flatten(),
                         nn.Linear(256, 10, bias=False), Mul(1 / 9))


def mini_net():  # small enough to commit whole: conv-bn-relu, a strided BasicBlock, pool, head
    return nn.Sequential(nn.Conv2d(3, 4, 3, padding=1), nn.BatchNorm2d(4), nn.ReLU(), BasicBlock(4, 8, 2),
                         nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(8, 5))


MODELS = {"small_cnn_3_32": (lambda: small_cnn(3, 32), (3, 32, 32)),
          "small_cnn_1_28": (lambda: small_cnn(1, 28), (1, 28, 28)),
          "resnet18": (ResNet18, (3, 32, 32)),
          "airbench": (airbench, (3, 32, 32)),
          "mini": (mini_net, (3, 8, 8))}


# ------------------------------------------------------------------ deterministic formula weights
def formula_tensor(name, shape, p):
    """Tensor number p (state_dict order) from a closed form in float64, cast to float32:
    base[i] = sin(0.37 i + 0.5 p + 1) * cos(1.71 i + 0.3 p); multi-dim weights base * sqrt(3 / fan_in);
    1-D weight 1 + 0.1 base; other 1-D 0.1 base; running_var 1 + 0.25 base^2; num_batches_tracked 0."""
    n = math.prod(shape)
    i = torch.arange(n, dtype=torch.float64)
    base = torch.sin(0.37 * i + 0.5 * p + 1.0) * torch.cos(1.71 * i + 0.3 * p)
    if name.endswith("num_batches_tracked"):
        v = torch.zeros(n, dtype=torch.float64)
    elif name.endswith("running_var"):
        v = 1.0 + 0.25 * base * base
    elif len(shape) >= 2:
        v = base * math.sqrt(3.0 / (n // shape[0]))
    elif name.endswith("weight"):
        v = 1.0 + 0.1 * base
    else:
        v = 0.1 * base
    return v.to(torch.float32).reshape(shape)


def formula_input(shape, phase=0):
    """x[i] = sin(0.23 i + 0.1 + phase) + 0.5 sin(0.0517 i + 0.7 phase), float64 cast to float32."""
    n = math.prod(shape)
    i = torch.arange(n, dtype=torch.float64)
    return (torch.sin(0.23 * i + 0.1 + phase) + 0.5 * torch.sin(0.0517 * i + 0.7 * phase)).to(torch.float32).reshape(shape)


def load_formula_weights(net):
    sd = net.state_dict()
    new = {k: formula_tensor(k, tuple(v.shape), p).to(v.dtype) for p, (k, v) in enumerate(sd.items())}
    net.load_state_dict(new, strict=True)


def sample_indices(n, k=16):
    if n <= k:
        return list(range(n))
    return [(j * n) // k + (n // k) // 2 for j in range(k)]


# ------------------------------------------------------------------ fixtures
def gen_state_dict_keys():
    lines = []
    for m, (make, _) in MODELS.items():
        for k, v in make().state_dict().items():
            lines.append(f"{m} {k} {','.join(str(d) for d in v.shape) or '-'}")
    with open(fx("nn_state_dict_keys.txt"), "w") as f:
        f.write("# <model> <state_dict key> <shape or - for a scalar>, PyTorch's order (tests/reference/gen_nn.py)\n")
        f.write("\n".join(lines) + "\n")


# ReLU and max pooling are not differentiable at 0 / at ties. A float32 forward whose value lies
# within its rounding error (1e-6 .. 1e-4 in ResNet-18) of a kink can take the other branch than the
# float64 reference and move a gradient entry by a whole upstream value (seen: 9e-4 relative on a BN
# bias). With ~10^6 ReLU inputs some are always that close, so gen_model picks, among a few input
# phases, the one where PyTorch's own float32 run agrees best with float64 (max normalised error over
# logits and every gradient, stored as "torch_f32_error"): a point where float32 arithmetic is well
# conditioned. trustgrad must then agree with float64 to 1e-4.
def run_model(m, batch, side, phase, dtype):
    make, shape = MODELS[m]
    net = make()
    load_formula_weights(net)
    net = net.to(dtype).train()
    x = formula_input((batch, shape[0], side, side), phase)
    y = torch.tensor([(3 * j + 1) % 10 for j in range(batch)], dtype=torch.int64)
    logits = net(x.to(dtype))
    loss = F.cross_entropy(logits, y)
    loss.backward()
    return net, x, y, logits, loss


def normalized_error(a, e):
    return ((a.double() - e.double()).abs().max() / e.double().abs().max()).item()


def torch_f32_error(m, batch, side, phase):
    n32, _, _, l32, _ = run_model(m, batch, side, phase, torch.float32)
    n64, _, _, l64, _ = run_model(m, batch, side, phase, torch.float64)
    errs = [normalized_error(l32, l64)]
    for (k, p32), (_, p64) in zip(n32.named_parameters(), n64.named_parameters()):
        if p64.grad is not None:
            errs.append(normalized_error(p32.grad, p64.grad))
    return max(errs)


def gen_model(m, batch, side, tries=12, good_enough=1.5e-5):
    best = (math.inf, 0)
    for phase in range(tries):  # the best-conditioned input among a few (see above run_model)
        best = min(best, (torch_f32_error(m, batch, side, phase), phase))
        if best[0] <= good_enough:
            break
    err32, phase = best
    print(f"{m}: input phase {phase}, PyTorch float32 vs float64 max normalised error {err32:.2e}")
    net, x, y, logits, loss = run_model(m, batch, side, phase, torch.float64)
    out = {"x": x, "y": y.float(), "logits": f32(logits), "loss": f32(loss),
           "phase": torch.tensor(float(phase)), "torch_f32_error": torch.tensor(err32, dtype=torch.float32)}
    for name, p in net.named_parameters():
        if p.grad is None:  # frozen (airbench BN weights): no gradient on either side
            continue
        g = p.grad.reshape(-1)
        idx = sample_indices(g.numel())
        out[f"grad.{name}.norm"] = f32(g.norm())
        out[f"grad.{name}.maxabs"] = f32(g.abs().max())
        out[f"grad.{name}.idx"] = torch.tensor(idx, dtype=torch.float32)
        out[f"grad.{name}.val"] = f32(g[idx])
    for name, b in net.named_buffers():
        out[f"after.{name}.norm"] = f32(b.double().norm())
    write_safetensors(fx(f"nn_model_{m}.safetensors"), out)


def layer_case(out, prefix, module, x, train=True):
    """Forward + backward of `module` (float64) on float32 inputs; stores everything under prefix."""
    module = module.double().train(train)
    before = {k: f32(v) for k, v in module.state_dict().items()}
    xd = x.double().requires_grad_(True)
    y = module(xd)
    dout = torch.randn(y.shape, dtype=torch.float32)
    y.backward(dout.double())
    out[f"{prefix}.x"] = x
    out[f"{prefix}.dout"] = dout
    out[f"{prefix}.out"] = f32(y)
    out[f"{prefix}.dx"] = f32(xd.grad)
    for k, v in before.items():
        out[f"{prefix}.param.{k}"] = v
    for k, p in module.named_parameters():
        out[f"{prefix}.grad.{k}"] = f32(p.grad)
    for k, b in module.named_buffers():
        out[f"{prefix}.after.{k}"] = f32(b)


def randomize(module, scale=0.5):
    with torch.no_grad():
        for k, v in module.state_dict().items():
            if k.endswith("running_var"):
                v.copy_(0.5 + torch.rand(v.shape))
            elif k.endswith("num_batches_tracked"):
                v.fill_(3)
            elif v.is_floating_point():
                v.copy_(scale * torch.randn(v.shape) + (1.0 if k.endswith("weight") and v.dim() == 1 else 0.0))
    return module


def gen_layers():
    out = {}
    r = torch.randn
    layer_case(out, "conv_strided", randomize(nn.Conv2d(4, 6, 3, stride=2, padding=1, groups=2)), r(2, 4, 7, 7))
    layer_case(out, "conv_1x1", randomize(nn.Conv2d(3, 5, 1, bias=False)), r(2, 3, 4, 4))
    layer_case(out, "conv_k2", randomize(nn.Conv2d(3, 4, 2, padding=0)), r(1, 3, 5, 5))
    layer_case(out, "bn_train", randomize(nn.BatchNorm2d(3)), 2.0 * r(4, 3, 5, 5) + 1.0)
    layer_case(out, "bn_eval", randomize(nn.BatchNorm2d(3)), r(2, 3, 4, 4), train=False)
    layer_case(out, "bn_noaffine", nn.BatchNorm2d(3, affine=False, momentum=0.3), r(3, 3, 4, 4))
    layer_case(out, "bn_notrack", randomize(nn.BatchNorm2d(3, track_running_stats=False)), r(2, 3, 3, 3), train=False)
    layer_case(out, "linear", randomize(nn.Linear(5, 4)), r(3, 5))
    layer_case(out, "linear_nobias", randomize(nn.Linear(6, 3, bias=False)), r(2, 6))
    layer_case(out, "relu", nn.ReLU(), r(2, 3, 4, 4))
    layer_case(out, "gelu", nn.GELU(), 2.0 * r(2, 3, 4, 4))
    layer_case(out, "maxpool_2", nn.MaxPool2d(2), r(2, 3, 6, 6))
    layer_case(out, "maxpool_3s2p1", nn.MaxPool2d(3, 2, 1), r(1, 2, 7, 7))
    layer_case(out, "avgpool_2", nn.AvgPool2d(2), r(2, 3, 6, 6))
    layer_case(out, "avgpool_3s2p1", nn.AvgPool2d(3, 2, 1), r(1, 2, 7, 7))
    layer_case(out, "gap", nn.Sequential(nn.AdaptiveAvgPool2d(1), nn.Flatten()), r(2, 3, 5, 5))
    layer_case(out, "flatten", nn.Flatten(), r(2, 3, 2, 2))
    layer_case(out, "block_down", randomize(BasicBlock(4, 8, 2)), r(2, 4, 6, 6))
    layer_case(out, "block_same", randomize(BasicBlock(4, 4, 1)), r(2, 4, 5, 5))
    # Cross-entropy with and without label smoothing: logits (5, 7), targets as float.
    for name, eps in [("ce", 0.0), ("ce_smooth", 0.1)]:
        logits = 3.0 * r(5, 7)
        t = torch.tensor([0, 6, 3, 3, 1])
        ld = logits.double().requires_grad_(True)
        loss = F.cross_entropy(ld, t, label_smoothing=eps)
        loss.backward()
        out[f"{name}.x"], out[f"{name}.targets"] = logits, t.float()
        out[f"{name}.out"], out[f"{name}.dx"] = f32(loss), f32(ld.grad)
    write_safetensors(fx("nn_layers.safetensors"), out)


def gen_torch_mini():
    """PyTorch -> trustgrad: a mini net trained 3 steps (non-trivial BN stats), saved in native dtypes."""
    torch.manual_seed(1)
    net = mini_net()
    opt = torch.optim.SGD(net.parameters(), lr=0.1, momentum=0.9)
    for _ in range(3):
        opt.zero_grad()
        F.cross_entropy(net(torch.randn(8, 3, 8, 8)), torch.randint(0, 5, (8,))).backward()
        opt.step()
    net.eval()
    x = torch.randn(4, 3, 8, 8)
    with torch.no_grad():
        logits = net.double()(x.double())
    sd = {k: v.float() if v.is_floating_point() else v for k, v in net.state_dict().items()}
    assert sd["1.num_batches_tracked"].dtype == torch.int64
    write_safetensors(fx("nn_torch_mini.safetensors"), sd, {"format": "pt"})
    write_safetensors(fx("nn_torch_mini_io.safetensors"), {"x": x, "logits": f32(logits)})


def gen_trustgrad_mini():
    """trustgrad -> PyTorch: load the committed trustgrad-written checkpoint strictly, record logits."""
    path = fx("nn_trustgrad_mini.safetensors")
    if not os.path.exists(path):
        print(f"skipping {path}: run tests/nn with TG_REGEN_NN_FIXTURES=1 first")
        return
    tensors, meta = read_safetensors(path)
    assert meta.get("producer") == "trustgrad", meta
    net = mini_net()
    net.load_state_dict(tensors, strict=True)  # float num_batches_tracked is cast to int64 by copy_
    net.eval()
    x = formula_input((3, 3, 8, 8))
    with torch.no_grad():
        logits = net.double()(x.double())
    write_safetensors(fx("nn_trustgrad_mini_io.safetensors"), {"x": x, "logits": f32(logits)})


if __name__ == "__main__":
    gen_state_dict_keys()
    gen_layers()
    gen_model("small_cnn_3_32", 2, 32)
    gen_model("resnet18", 2, 32)  # not 16x16: BN over 2x2x2 values in layer4 is ill-conditioned (f32 error 4e-4)
    gen_model("airbench", 2, 32)
    gen_torch_mini()
    gen_trustgrad_mini()
    for f in sorted(os.listdir(FIXTURES)):
        if f.startswith("nn_") and not f.startswith("nn_ops"):
            print(f"{f}: {os.path.getsize(fx(f))} bytes")
