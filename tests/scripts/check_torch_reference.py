#!/usr/bin/python3
"""CTest check that bench/torch_reference.py (PyTorch) benchmarks the networks trustgrad builds:
  1. per model, the parameter count equals the one `bench_train_step --json` reports;
  2. the state_dict names and shapes equal tests/fixtures/nn_state_dict_keys.txt (which tests/nn holds
     trustgrad's models to), in order;
  3. from the formula weights and inputs of tests/fixtures/nn_model_<m>.safetensors, a train-mode
     forward + backward in float64 gives the fixture's logits, loss and gradient norms (which tests/nn
     holds trustgrad's forward and backward to);
  4. both programs print the same JSON fields.
  /usr/bin/python3 tests/scripts/check_torch_reference.py SOURCE_DIR path/to/bench_train_step
Exits 77 (CTest: skipped) with a message when this Python has no torch."""
import json, os, subprocess, sys

SKIP = 77
FIXTURE_NAMES = {"small": "small_cnn_3_32", "small28": "small_cnn_1_28", "resnet18": "resnet18", "airbench": "airbench"}


def fail(msg):
    print(f"FAIL: {msg}")
    sys.exit(1)


def trustgrad_json(bench, model):
    cmd = [bench, "--model", model, "--batch", "2", "--threads", "1", "--steps", "1", "--json"]
    run = subprocess.run(cmd, capture_output=True, text=True, timeout=300)
    if run.returncode != 0:
        fail(f"{' '.join(cmd)} exited {run.returncode}: {run.stderr.strip()}")
    return json.loads(run.stdout)


def fixture_keys(path):
    """{fixture model: [(state_dict key, shape string)]} from nn_state_dict_keys.txt."""
    keys = {}
    with open(path) as f:
        for line in f:
            if line.startswith("#") or not line.strip():
                continue
            model, key, shape = line.split()
            keys.setdefault(model, []).append((key, shape))
    return keys


def check_state_dict(ref, model, expected):
    got = [(k, ",".join(str(d) for d in v.shape) or "-") for k, v in ref.MODELS[model][0]().state_dict().items()]
    if got != expected:
        diff = next((i for i, (g, e) in enumerate(zip(got, expected)) if g != e), min(len(got), len(expected)))
        fail(f"{model}: state_dict differs from trustgrad's at entry {diff}: "
             f"{got[diff] if diff < len(got) else 'end'} vs {expected[diff] if diff < len(expected) else 'end'} "
             f"({len(got)} vs {len(expected)} entries)")


def check_forward_backward(ref, model, fixture_path, formula):
    """Float64 logits, loss and gradient norms against the fixture, to 1e-5 of the largest value."""
    import torch
    import torch.nn.functional as F
    from safetensors_io import read_safetensors
    tensors, _ = read_safetensors(fixture_path)
    net = ref.MODELS[model][0]()
    formula.load_formula_weights(net)
    net = net.double().train()
    logits = net(tensors["x"].double())
    loss = F.cross_entropy(logits, tensors["y"].long())
    loss.backward()
    pairs = [("logits", logits, tensors["logits"]), ("loss", loss, tensors["loss"])]
    for name, p in net.named_parameters():
        if p.grad is not None:
            pairs.append((f"grad.{name}.norm", p.grad.norm(), tensors[f"grad.{name}.norm"]))
    for what, got, want in pairs:
        err = ((got.detach() - want.double()).abs().max() / want.double().abs().max().clamp_min(1e-30)).item()
        if err > 1e-5:
            fail(f"{model}: {what} differs from the fixture trustgrad is tested against (normalised error {err:.2e})")
    return len(pairs)


def main():
    if len(sys.argv) != 3:
        fail("usage: check_torch_reference.py SOURCE_DIR BENCH_TRAIN_STEP")
    source_dir, bench = sys.argv[1], sys.argv[2]
    try:
        import torch  # noqa: F401
    except ImportError:
        print(f"SKIP: {sys.executable} has no torch (bash scripts/setup.sh --with-torch installs python3-torch)")
        sys.exit(SKIP)
    sys.path[:0] = [os.path.join(source_dir, "bench"), os.path.join(source_dir, "tests", "reference")]
    import torch_reference as ref
    import gen_nn as formula  # load_formula_weights: the model fixtures' weights
    fixtures = os.path.join(source_dir, "tests", "fixtures")
    keys = fixture_keys(os.path.join(fixtures, "nn_state_dict_keys.txt"))
    if set(ref.MODELS) != set(FIXTURE_NAMES):
        fail(f"torch_reference.py models {sorted(ref.MODELS)} are not the checked set {sorted(FIXTURE_NAMES)}")
    for model, fixture_model in FIXTURE_NAMES.items():
        tg = trustgrad_json(bench, model)
        torch_out = ref.measure(model, batch=2, threads=1, steps=1)
        if tg["params"] != torch_out["params"]:
            fail(f"{model}: trustgrad has {tg['params']} parameters, the PyTorch reference {torch_out['params']}")
        if set(tg) != set(torch_out):
            fail(f"{model}: JSON fields differ: trustgrad {sorted(tg)}, PyTorch {sorted(torch_out)}")
        check_state_dict(ref, model, keys[fixture_model])
        line = f"{model}: {tg['params']} parameters, {len(keys[fixture_model])} state_dict entries match"
        fixture = os.path.join(fixtures, f"nn_model_{fixture_model}.safetensors")
        if os.path.exists(fixture):
            line += f", {check_forward_backward(ref, model, fixture, formula)} forward/backward values match"
        print(line)
    print("PyTorch reference models match trustgrad's")


if __name__ == "__main__":
    main()
