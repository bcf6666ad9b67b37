#!/usr/bin/env python3
"""CTest check that the library's folders include only downwards: every `#include "..."` (and
`#include <...>` of one of our folders) in engine/, cuda/, io/, nn/, optim/, dist/, datasets/ and
examples/ is tested against the table below; a file's own folder is always allowed. A broken rule is
reported as file:line, the header included, and the rule with what it allows.
  python3 tests/scripts/check_layers.py [ROOT]     # ROOT: the checkout (default: this file's ../..)
  python3 tests/scripts/check_layers.py --self-test  # the checker against a tree with planted back-references
docs/architecture.md ("Layers") says the same in words; change both together."""
import fnmatch, os, re, sys, tempfile

# The folders, innermost first: a path belongs to the first folder it lies in (engine/cpu/kernels/x.cpp
# is engine/cpu, nn/models/x.h is nn).
FOLDERS = ["engine/kernel_params", "engine/cpu", "engine", "cuda", "io", "nn", "optim", "datasets", "dist",
           "examples"]
ANYTHING = None

# Who may include what: (the including files (glob, first match wins), what they may include besides
# their own folder: folders, or single headers named by path). Bottom layer first.
RULES = [
    # shared CPU/CUDA kernel parameter types: standard headers only
    ("engine/kernel_params/*", []),
    # CPU kernels: raw pointers and sizes, plus the engine basics they use (errors, Shape for
    # broadcasting, Eigen's core for matmul/conv, Storage as conv's scratch buffer)
    ("engine/cpu/*", ["engine/kernel_params", "engine/error.h", "engine/shape.h", "engine/eigen_core.h",
                      "engine/storage.h"]),
    # CUDA kernels, allocator and runtime: the same kind of basics
    ("cuda/*", ["engine/kernel_params", "engine/error.h", "engine/shape.h"]),
    # engine's public headers (installed): no kernel internals, only the ISA query
    # and the kernel-mode switch (which CPU kernels run)
    ("engine/*.h", ["engine/kernel_params", "engine/cpu/isa.h", "engine/cpu/kernel_mode.h"]),
    # engine's op code: checks arguments and dispatches to the CPU or CUDA kernels
    ("engine/*", ["engine/cpu", "cuda", "engine/kernel_params"]),
    # checkpoint I/O (safetensors), beneath nn/ and optim/
    ("io/*", ["engine"]),
    ("nn/*", ["engine", "engine/kernel_params", "io"]),
    # optimizers: the engine, checkpoints, and the optimizer update kernels (engine/cpu and
    # engine/kernel_params: CPU kernels and the coefficient structs/element math shared with CUDA)
    ("optim/*", ["engine", "engine/cpu", "engine/kernel_params", "io"]),
    ("datasets/*", ["engine"]),
    # data-parallel training: above the layers, optimizers and checkpoints
    ("dist/*", ["engine", "engine/kernel_params", "nn", "optim", "io"]),
    ("examples/*", ANYTHING),
]

# Includes that break a rule today and are being removed: (including file, included header, why).
# An entry no longer found in the tree fails the check too, so the list only shrinks.
KNOWN_EXCEPTIONS = [
]

SCANNED_DIRS = ["engine", "cuda", "io", "nn", "optim", "dist", "datasets", "examples"]
SOURCE_EXTENSIONS = (".h", ".hpp", ".cpp", ".cc", ".cu", ".cuh")
INCLUDE = re.compile(r'^\s*#\s*include\s*(?:"([^"]+)"|<([^>]+)>)')


def folder_of(path):
    """The FOLDERS entry a repository path lies in, or None."""
    return next((f for f in FOLDERS if path.startswith(f + "/")), None)


def rule_for(path):
    """(glob, allowed) of the first rule whose glob matches the including file."""
    return next(((glob, allowed) for glob, allowed in RULES if fnmatch.fnmatch(path, glob)), None)


def own_folder(glob):
    """The folder a rule's files lie in ("engine/*.h" -> "engine"): always allowed to them."""
    return glob.rsplit("/", 1)[0]


def allows(glob, allowed, target):
    """Whether the rule (glob, allowed) lets its files include the repository path target."""
    if allowed is ANYTHING:
        return True
    target_folder = folder_of(target)
    return target_folder == own_folder(glob) or target in allowed or target_folder in allowed


def include_target(root, rel_file, line):
    """(name as written, repository path or None) of an include of ours: a path in one of our
    folders, or a quoted name resolved next to the file (path None when it resolves nowhere);
    None for a line that is no include or includes another project's header with <...>."""
    m = INCLUDE.match(line)
    if not m:
        return None
    quoted, angled = m.groups()
    name = quoted or angled
    if folder_of(name):
        return name, name
    if angled:
        return None  # std, Eigen, nlohmann/json, ...
    beside = os.path.normpath(os.path.join(os.path.dirname(rel_file), name)).replace(os.sep, "/")
    return name, (beside if os.path.isfile(os.path.join(root, beside)) else None)


def list_files(root):
    """The C++/CUDA sources and headers below SCANNED_DIRS, as sorted repository paths."""
    files = []
    for top in SCANNED_DIRS:
        for d, dirs, names in os.walk(os.path.join(root, top)):
            dirs.sort()
            files += [os.path.relpath(os.path.join(d, n), root).replace(os.sep, "/")
                      for n in sorted(names) if n.endswith(SOURCE_EXTENSIONS)]
    return files


def scan(root, exceptions):
    """[(file, line number, reason)] for every include that breaks a rule, then every unused exception."""
    problems, used = [], set()
    for rel in list_files(root):
        rule = rule_for(rel)
        if rule is None:
            problems.append((rel, 0, "no rule covers this file (add its folder to RULES)"))
            continue
        glob, allowed = rule
        with open(os.path.join(root, rel), encoding="utf-8", errors="replace") as f:
            for n, line in enumerate(f, 1):
                included = include_target(root, rel, line)
                if included is None:
                    continue
                name, target = included
                if target is None:
                    if allowed is not ANYTHING:
                        problems.append((rel, n, f'includes "{name}", which is in none of the folders '
                                                 f"{', '.join(FOLDERS)} (name it from the repository root)"))
                    continue
                if allows(glob, allowed, target):
                    continue
                exception = next((e for e in exceptions if e[0] == rel and e[1] == target), None)
                if exception:
                    used.add(exception)
                    continue
                what = ", ".join(allowed) if allowed else "nothing"
                problems.append((rel, n, f"includes {target} ({folder_of(target)}): rule '{glob}' allows its "
                                         f"own folder {own_folder(glob)}/ and {what}"))
    for e in exceptions:
        if e not in used:
            problems.append((e[0], 0, f"KNOWN_EXCEPTIONS entry ({e[1]}: {e[2]}) no longer needed: delete it"))
    return problems


def main(argv, exceptions=KNOWN_EXCEPTIONS):
    root = argv[0] if argv else os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..")
    problems = scan(root, exceptions)
    for rel, line, why in problems:
        print(f"{rel}:{line}: {why}")
    if problems:
        print(f"FAIL: {len(problems)} include(s) against the direction of the layers "
              "(the rules: tests/scripts/check_layers.py, docs/architecture.md)")
        return 1
    print(f"{len(list_files(root))} files: every include points down the layers "
          f"({len(exceptions)} known exception(s) left)")
    return 0


# Self-test: a scratch tree under the real RULES; (file, its lines, numbers of the lines to flag).
SELF_TEST_TREE = [
    ("engine/kernel_params/conv2d.h", ["#include <cstdint>", '#include "engine/kernel_params/pool.h"'], []),
    ("engine/kernel_params/pool.h", ['#include "engine/error.h"'], [1]),
    ("engine/cpu/conv2d.h", ['#include "engine/kernel_params/conv2d.h"', '#include "engine/shape.h"'], []),
    ("engine/cpu/kernels/sgemm.cpp", ['#include "engine/cpu/conv2d.h"', '#include "engine/tensor.h"',
                                      '  #  include <nn/module.h>'], [2, 3]),
    ("cuda/lamb.h", ['#include "engine/error.h"', '#include "optim/adam_kernels.h"'], []),  # an exception
    ("cuda/pool.h", ['#include "engine/cpu/pool.h"', '#include "cuda/check.h"'], [1]),
    ("cuda/check.h", ["// the first line", '#include "optim/momentum_kernels.h"'], [2]),
    ("engine/nn_ops.h", ['#include "engine/cpu/isa.h"', '#include "engine/cpu/conv2d.h"',
                         '#include "engine/tensor.h"'], [2]),
    ("engine/nn_ops.cpp", ['#include "engine/cpu/conv2d.h"', '#include "cuda/pool.h"',
                           '#include "nn/module.h"'], [3]),
    ("engine/tensor.h", ["#pragma once"], []),
    ("engine/shape.h", ["#pragma once"], []),
    ("engine/error.h", ["#pragma once"], []),
    ("io/safetensors.h", ['#include "engine/tensor.h"', '#include "nn/module.h"'], [2]),
    ("nn/module.h", ['#include "io/safetensors.h"', '#include "engine/kernel_params/conv2d.h"',
                     '#include "optim/optimizer.h"'], [3]),
    ("nn/models/resnet.cpp", ['#include "nn/module.h"', '#include "engine/cpu/conv2d.h"'], [2]),
    ("optim/optimizer.h", ['#include "io/safetensors.h"', '#include "nn/module.h"', '#include "cuda/lamb.h"'],
     [2, 3]),
    ("optim/local.cpp", ['#include "optimizer.h"', '#include "missing.h"'], [2]),
    ("datasets/cifar.cpp", ['#include "engine/tensor.h"', '#include "io/safetensors.h"'], [2]),
    ("dist/ddp.h", ['#include "nn/module.h"', '#include "optim/optimizer.h"', '#include "datasets/cifar.h"'],
     [3]),
    ("examples/train/main.cpp", ['#include "engine/cpu/conv2d.h"', '#include "dist/ddp.h"', '#include "x.h"'],
     []),
]
SELF_TEST_EXCEPTIONS = [
    ("cuda/lamb.h", "optim/adam_kernels.h", "used: not reported"),
    ("cuda/momentum.h", "optim/momentum_kernels.h", "unused: reported as no longer needed"),
]


def write_tree(root, keep_bad):
    for rel, lines, bad in SELF_TEST_TREE:
        os.makedirs(os.path.join(root, os.path.dirname(rel)), exist_ok=True)
        with open(os.path.join(root, rel), "w") as f:
            f.write("".join(line + "\n" for n, line in enumerate(lines, 1) if keep_bad or n not in bad))


def self_test():
    expected = {(rel, n) for rel, _, bad in SELF_TEST_TREE for n in bad} | {("cuda/momentum.h", 0)}
    with tempfile.TemporaryDirectory() as root:
        write_tree(root, keep_bad=True)
        flagged = {(rel, n) for rel, n, _ in scan(root, SELF_TEST_EXCEPTIONS)}
        if flagged != expected:
            for rel, n in sorted(expected - flagged):
                print(f"self-test: missed {rel}:{n}")
            for rel, n in sorted(flagged - expected):
                print(f"self-test: wrongly flagged {rel}:{n}")
            return 1
        if main([root], SELF_TEST_EXCEPTIONS) != 1:
            print("self-test: a tree with back-references did not fail")
            return 1
    with tempfile.TemporaryDirectory() as root:
        write_tree(root, keep_bad=False)
        if main([root], SELF_TEST_EXCEPTIONS[:1]) != 0:
            print("self-test: a tree whose includes all point down failed")
            return 1
    print(f"self-test: {len(expected)} planted back-references and stale exceptions found, the clean tree passes")
    return 0


if __name__ == "__main__":
    sys.exit(self_test() if sys.argv[1:] == ["--self-test"] else main(sys.argv[1:]))
