#!/usr/bin/python3
"""Golden trajectories for tests/optim: torch.optim SGD/Adam/AdamW and reference Python versions of
LARS/LARC, LAMB, LAMBC (paper and timm presets), NovoGrad and AdaBelief, plus lr schedules.

Run with Debian's PyTorch:  /usr/bin/python3 tests/reference/gen_optim.py
Writes tests/fixtures/optim_inputs.safetensors (initial params + one gradient per step),
tests/fixtures/optim_<config>.safetensors (params after every step, state after steps 1 and N)
and tests/fixtures/optim_schedules.safetensors (torch.optim.lr_scheduler lr per step).
The reference implementations are written from the update rules in docs/optimizers.md: LAMBC
`paper` follows the authors' lambc.py (jeffrey-fong/LAMBC), `timm` follows timm's Lamb."""
import math, os, sys
import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from safetensors_io import write_safetensors  # noqa: E402

FIXTURES = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "fixtures")
STEPS = 12
STATE_STEPS = (1, STEPS)  # state tensors are stored after these steps

# Parameters with different shapes; bn.bias starts at zero (zero weight norm on step 1).
# conv.weight is large (trust ratio > 1, clipped by LAMBC), fc.weight small (ratio < 1).
SHAPES = [("conv.weight", (4, 3, 3, 3)), ("bn.weight", (4,)), ("bn.bias", (4,)),
          ("fc.weight", (5, 8)), ("fc.bias", (5,))]


def make_inputs():
    g = torch.Generator().manual_seed(1234)
    init = {
        "conv.weight": torch.randn(4, 3, 3, 3, generator=g) * 4.0,
        "bn.weight": 2.0 + 0.1 * torch.randn(4, generator=g),
        "bn.bias": torch.zeros(4),
        "fc.weight": torch.randn(5, 8, generator=g) * 0.02,
        "fc.bias": torch.randn(5, generator=g) * 0.1,
    }
    # Per-step gradient scale: some steps above the global grad-norm clip of 1.0, some below.
    scales = [1.0, 0.05, 2.0, 0.02, 0.5, 3.0, 0.1, 0.03, 1.5, 0.2, 0.01, 0.8]
    grads = []
    for t in range(STEPS):
        step = {}
        for name, shape in SHAPES:
            step[name] = torch.randn(*shape, generator=g) * scales[t] * (0.3 if name.endswith("bias") else 1.0)
        grads.append(step)
    return init, grads


def default_groups(names, shapes, weight_decay, adapt_1d=False):
    """Mirror of tg::optim::default_param_groups: ndim >= 2 -> decay group, else no-decay group."""
    decay = [n for n in names if len(shapes[n]) >= 2]
    no_decay = [n for n in names if len(shapes[n]) <= 1]
    return [dict(names=decay, weight_decay=weight_decay, adapt=True),
            dict(names=no_decay, weight_decay=0.0, adapt=adapt_1d)]


# ----------------------------------------------------------------------------------------------
# torch.optim runners

def run_torch(make_opt, init, grads, groups, slots):
    params = {n: init[n].clone().requires_grad_(True) for n, _ in SHAPES}
    opt = make_opt([dict(params=[params[n] for n in grp["names"]], weight_decay=grp["weight_decay"])
                    for grp in groups])
    out = {}
    for t in range(STEPS):
        for n, p in params.items():
            p.grad = grads[t][n].clone()
        opt.step()
        record(out, t + 1, {n: p.detach() for n, p in params.items()},
               {n: {s: opt.state[p][s] for s in slots} for n, p in params.items()})
    return out


def record(out, step, params, state):
    for n, p in params.items():
        out[f"param/{step}/{n}"] = p.detach().clone()
    if step in STATE_STEPS:
        for n, slots in state.items():
            for s, v in slots.items():
                out[f"state/{step}/{n}/{s}"] = v.detach().clone().reshape(v.shape)


# ----------------------------------------------------------------------------------------------
# Reference implementations (plain tensors, float32, one parameter tensor = one layer)

def run_reference(step_fn, init, grads, groups, init_state):
    params = {n: init[n].clone() for n, _ in SHAPES}
    state = {n: init_state(params[n]) for n in params}
    out = {}
    for t in range(STEPS):
        step_fn(params, {n: grads[t][n].clone() for n in params}, state, groups, t + 1)
        record(out, t + 1, params, state)
    return out


def lars_step(lr, momentum, trust_coeff, eps, trust_clip, always_adapt, dampening=0.0, nesterov=False):
    # timm Lars (apex LARC semantics): lambda = tc*||w||/(||g|| + wd*||w|| + eps), 1 if a norm is 0;
    # LARC clip: lambda = min(lambda/lr, 1); d = (g + wd*w)*lambda; torch SGD momentum on d.
    def step(params, grads, state, groups, t):
        for grp in groups:
            wd = grp["weight_decay"]
            for n in grp["names"]:
                p, g, st = params[n], grads[n], state[n]
                if grp["adapt"] and (wd != 0 or always_adapt):
                    w_norm, g_norm = p.norm(2.0), g.norm(2.0)
                    ratio = trust_coeff * w_norm / (g_norm + w_norm * wd + eps)
                    ratio = torch.where(w_norm > 0, torch.where(g_norm > 0, ratio, torch.ones(())), torch.ones(()))
                    if trust_clip:
                        ratio = torch.minimum(ratio / lr, torch.ones(()))
                    g = (g + wd * p) * ratio
                elif wd != 0:
                    g = g + wd * p
                if t == 1:
                    st["momentum_buffer"] = g.clone()
                else:
                    st["momentum_buffer"].mul_(momentum).add_(g, alpha=1 - dampening)
                d = g + momentum * st["momentum_buffer"] if nesterov else st["momentum_buffer"]
                p.add_(d, alpha=-lr)
    return step


def lamb_timm_step(lr, betas=(0.9, 0.999), eps=1e-6, bias_correction=True, grad_averaging=True,
                   max_grad_norm=1.0, trust_clip=False, always_adapt=False, decoupled=False):
    # timm Lamb (NVLAMB): global grad-norm clip, bias-corrected Adam direction, L2 in the update
    # (or decoupled), trust ratio on groups with wd != 0 unless always_adapt, LAMBC clip min(r, 1).
    b1, b2 = betas
    def step(params, grads, state, groups, t):
        clip = None
        if max_grad_norm is not None:
            gn = torch.linalg.vector_norm(torch.stack([g.norm(2.0) for g in grads.values()]))
            clip = (gn / max_grad_norm).clamp(min=1.0)
        bc1 = 1 - b1 ** t if bias_correction else 1.0
        bc2 = 1 - b2 ** t if bias_correction else 1.0
        b3 = 1 - b1 if grad_averaging else 1.0
        for grp in groups:
            wd = grp["weight_decay"]
            for n in grp["names"]:
                p, g, st = params[n], grads[n], state[n]
                if clip is not None:
                    g = g / clip
                m, v = st["exp_avg"], st["exp_avg_sq"]
                m.mul_(b1).add_(g, alpha=b3)
                v.mul_(b2).addcmul_(g, g, value=1 - b2)
                denom = (v.sqrt() / math.sqrt(bc2)).add_(eps)
                u = (m / bc1).div_(denom)
                if wd != 0:
                    if decoupled:
                        p.add_(p, alpha=-lr * wd)
                    else:
                        u.add_(p, alpha=wd)
                if grp["adapt"] and (wd != 0 or always_adapt):
                    w_norm, u_norm = p.norm(2.0), u.norm(2.0)
                    r = torch.where(w_norm > 0, torch.where(u_norm > 0, w_norm / u_norm, torch.ones(())),
                                    torch.ones(()))
                    if trust_clip:
                        r = torch.clamp(r, max=1.0)
                    u.mul_(r)
                p.add_(u, alpha=-lr)
    return step


def lambc_authors_step(lr, betas=(0.9, 0.999), eps=1e-6, weight_decay=0.0, clip_bound=1.0):
    # The authors' lamb_optim/lambc.py at HEAD: no bias correction, one group, every tensor adapted,
    # r = ||w||/||u|| (1 when either is 0), r = min(r, clip_bound), p -= lr*r*u.
    b1, b2 = betas
    def step(params, grads, state, groups, t):
        for n, p in params.items():
            g, st = grads[n], state[n]
            m, v = st["exp_avg"], st["exp_avg_sq"]
            m.mul_(b1).add_(g, alpha=1 - b1)
            v.mul_(b2).addcmul_(g, g, value=1 - b2)
            u = m / v.sqrt().add(eps)
            if weight_decay != 0:
                u.add_(p, alpha=weight_decay)
            w_norm = p.pow(2).sum().sqrt()
            u_norm = u.pow(2).sum().sqrt()
            r = 1.0 if (w_norm == 0 or u_norm == 0) else (w_norm / u_norm).item()
            if r > clip_bound:
                r = clip_bound
            p.add_(u, alpha=-lr * r)
    return step


def novograd_step(lr, betas=(0.95, 0.98), eps=1e-8, grad_averaging=False):
    # timm NvNovoGrad: per-tensor scalar second moment of ||g||^2 (set to it while still 0),
    # g_hat = g/(sqrt(v)+eps) + wd*w, optionally *(1-b1); m = b1*m + g_hat; w -= lr*m.
    b1, b2 = betas
    def step(params, grads, state, groups, t):
        for grp in groups:
            wd = grp["weight_decay"]
            for n in grp["names"]:
                p, g, st = params[n], grads[n], state[n]
                norm = torch.sum(torch.pow(g, 2))
                v = st["exp_avg_sq"]
                if v == 0:
                    v.copy_(norm)
                else:
                    v.mul_(b2).add_(norm, alpha=1 - b2)
                g = g / (v.sqrt() + eps)
                if wd != 0:
                    g = g + wd * p
                if grad_averaging:
                    g = g * (1 - b1)
                st["exp_avg"].mul_(b1).add_(g)
                p.add_(st["exp_avg"], alpha=-lr)
    return step


def adabelief_step(lr, betas=(0.9, 0.999), eps=1e-16, weight_decouple=True, fixed_decay=False,
                   rectify=False, degenerated_to_sgd=True):
    # adabelief_pytorch 0.2.0 (amsgrad off): s accumulates eps in place; rectify = RAdam's N_sma rule.
    b1, b2 = betas
    def step(params, grads, state, groups, t):
        for grp in groups:
            wd = grp["weight_decay"]
            for n in grp["names"]:
                p, g, st = params[n], grads[n], state[n]
                if weight_decouple:
                    p.mul_(1.0 - (wd if fixed_decay else lr * wd))
                elif wd != 0:
                    g = g + wd * p
                m, s = st["exp_avg"], st["exp_avg_var"]
                bc1, bc2 = 1 - b1 ** t, 1 - b2 ** t
                m.mul_(b1).add_(g, alpha=1 - b1)
                r = g - m
                s.mul_(b2).addcmul_(r, r, value=1 - b2)
                denom = (s.add_(eps).sqrt() / math.sqrt(bc2)).add_(eps)
                if not rectify:
                    p.addcdiv_(m, denom, value=-lr / bc1)
                    continue
                b2t = b2 ** t
                n_max = 2 / (1 - b2) - 1
                n_sma = n_max - 2 * t * b2t / (1 - b2t)
                if n_sma >= 5:
                    step_size = math.sqrt((1 - b2t) * (n_sma - 4) / (n_max - 4) * (n_sma - 2) / n_sma
                                          * n_max / (n_max - 2)) / bc1
                    p.addcdiv_(m, s.sqrt().add_(eps), value=-step_size * lr)
                elif degenerated_to_sgd:
                    p.add_(m, alpha=-lr / bc1)
    return step


def zeros_state(*slots, scalar=()):
    def init(p):
        st = {s: torch.zeros_like(p) for s in slots}
        st.update({s: torch.zeros(()) for s in scalar})
        return st
    return init


# ----------------------------------------------------------------------------------------------

def configs(names, shapes):
    dg = lambda wd, adapt_1d=False: default_groups(names, shapes, wd, adapt_1d)  # noqa: E731
    one = lambda wd: [dict(names=list(names), weight_decay=wd, adapt=True)]  # noqa: E731
    T = torch.optim
    return {
        "sgd": ("torch", lambda gs: T.SGD(gs, lr=0.1, momentum=0.9, dampening=0.1), dg(0.01), ["momentum_buffer"]),
        "sgd_nesterov": ("torch", lambda gs: T.SGD(gs, lr=0.05, momentum=0.9, nesterov=True), dg(0.005),
                         ["momentum_buffer"]),
        "adam": ("torch", lambda gs: T.Adam(gs, lr=0.01, betas=(0.9, 0.999), eps=1e-8), dg(0.01),
                 ["exp_avg", "exp_avg_sq"]),
        "adamw": ("torch", lambda gs: T.AdamW(gs, lr=0.01, betas=(0.85, 0.99), eps=1e-8), dg(0.1),
                  ["exp_avg", "exp_avg_sq"]),
        "lars": ("ref", lars_step(lr=0.1, momentum=0.9, trust_coeff=0.02, eps=1e-8, trust_clip=False,
                                  always_adapt=False), dg(0.005), zeros_state()),
        "larc": ("ref", lars_step(lr=0.02, momentum=0.9, trust_coeff=0.02, eps=1e-8, trust_clip=True,
                                  always_adapt=True, nesterov=True), dg(0.005, adapt_1d=True), zeros_state()),
        "lamb": ("ref", lamb_timm_step(lr=0.02, max_grad_norm=1.0), dg(0.01),
                 zeros_state("exp_avg", "exp_avg_sq")),
        "lamb_decoupled": ("ref", lamb_timm_step(lr=0.02, bias_correction=False, max_grad_norm=None,
                                                 always_adapt=True, decoupled=True, grad_averaging=False),
                           dg(0.05, adapt_1d=True), zeros_state("exp_avg", "exp_avg_sq")),
        "lambc_paper": ("ref", lambc_authors_step(lr=0.05), one(0.0), zeros_state("exp_avg", "exp_avg_sq")),
        "lambc_paper_wd": ("ref", lambc_authors_step(lr=0.05, weight_decay=0.01), one(0.01),
                           zeros_state("exp_avg", "exp_avg_sq")),
        "lambc_timm": ("ref", lamb_timm_step(lr=0.02, max_grad_norm=1.0, trust_clip=True), dg(0.01),
                       zeros_state("exp_avg", "exp_avg_sq")),
        "novograd": ("ref", novograd_step(lr=0.02, betas=(0.95, 0.98), eps=1e-8, grad_averaging=True), dg(0.001),
                     zeros_state("exp_avg", scalar=("exp_avg_sq",))),
        "adabelief": ("ref", adabelief_step(lr=0.01, eps=1e-16), dg(0.01), zeros_state("exp_avg", "exp_avg_var")),
        "adabelief_rectify": ("ref", adabelief_step(lr=0.01, eps=1e-12, rectify=True, weight_decouple=False),
                              dg(0.01), zeros_state("exp_avg", "exp_avg_var")),
    }


def schedules():
    """lr before each optimizer step (the value tg's schedules return for step index t), base lr 0.1."""
    S = torch.optim.lr_scheduler
    def run(make, steps, **sgd):
        p = torch.zeros(1, requires_grad=True)
        opt = torch.optim.SGD([p], lr=0.1, **sgd)
        sched = make(opt)
        lrs = []
        for _ in range(steps):
            lrs.append(opt.param_groups[0]["lr"])
            p.grad = torch.zeros(1)
            opt.step()
            sched.step()
        return torch.tensor(lrs, dtype=torch.float64).float()
    return {
        "linear_warmup": run(lambda o: S.LinearLR(o, start_factor=0.1, end_factor=1.0, total_iters=5), 12),
        "cosine": run(lambda o: S.CosineAnnealingLR(o, T_max=10, eta_min=0.01), 11),
        "poly2": run(lambda o: S.PolynomialLR(o, total_iters=10, power=2.0), 12),
        "step": run(lambda o: S.StepLR(o, step_size=3, gamma=0.5), 12),
        "onecycle_cos": run(lambda o: S.OneCycleLR(o, max_lr=0.1, total_steps=20, pct_start=0.3,
                                                   anneal_strategy="cos", cycle_momentum=False), 20),
        "onecycle_linear": run(lambda o: S.OneCycleLR(o, max_lr=0.1, total_steps=20, pct_start=0.25,
                                                      anneal_strategy="linear", div_factor=10.0,
                                                      final_div_factor=100.0, cycle_momentum=False), 20),
        "warmup_cosine": run(lambda o: S.SequentialLR(o, [S.LinearLR(o, start_factor=0.1, total_iters=3),
                                                          S.CosineAnnealingLR(o, T_max=7, eta_min=0.0)],
                                                      milestones=[3]), 11),
    }


def main():
    torch.set_num_threads(1)
    init, grads = make_inputs()
    names = [n for n, _ in SHAPES]
    shapes = dict(SHAPES)
    inputs = {f"init/{n}": init[n] for n in names}
    for t in range(STEPS):
        for n in names:
            inputs[f"grad/{t + 1}/{n}"] = grads[t][n]
    write_safetensors(os.path.join(FIXTURES, "optim_inputs.safetensors"), inputs,
                      {"steps": STEPS, "names": ",".join(names), "state_steps": ",".join(map(str, STATE_STEPS))})
    for name, (kind, fn, groups, extra) in configs(names, shapes).items():
        if kind == "torch":
            out = run_torch(fn, init, grads, groups, extra)
        else:
            out = run_reference(fn, init, grads, groups, extra)
        path = os.path.join(FIXTURES, f"optim_{name}.safetensors")
        write_safetensors(path, out, {"config": name, "torch": torch.__version__})
        print(f"{path}: {len(out)} tensors, {os.path.getsize(path)} bytes")
    sched = schedules()
    write_safetensors(os.path.join(FIXTURES, "optim_schedules.safetensors"), sched, {"base_lr": "0.1"})
    for k, v in sched.items():
        print(k, [round(x, 6) for x in v.tolist()])


if __name__ == "__main__":
    main()
