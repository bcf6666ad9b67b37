#!/usr/bin/env python3
"""CTest check that the checkout names no path outside itself, in code, scripts, tests and docs:
  - an absolute path of a development machine: /work/..., /workspace/..., /root/..., /scratch/...,  (path-check: allow)
    /home/<user>, /Users/<user>, C:\\Users\\<user>, or /tmp/<dir>/ followed by an entry of this
    checkout (a clone or build tree in /tmp used as the repository);
  - a relative reference ../<name> that, resolved from its file's folder, leaves the checkout or names
    nothing in it (e.g. ../shared/... next to a clone, which a fresh clone never has).  (path-check: allow)
System paths (/usr/bin/python3, /usr/include, /proc/cpuinfo, /opt/<prefix>, /tmp/<file>) and ../
references that stay inside the checkout are fine. A line containing "path-check: allow" is skipped.
  python3 tests/scripts/check_paths.py [ROOT]     # ROOT: the checkout (default: this file's ../..)
  python3 tests/scripts/check_paths.py --self-test  # the checker against known good and bad lines
Files: git's tracked and untracked-but-not-ignored files, else every file below ROOT outside the
folders the root .gitignore names; never a CMake build tree (a folder holding CMakeCache.txt) nor a
binary file (a NUL byte)."""
import fnmatch, os, re, subprocess, sys, tempfile

ALLOW_MARKER = "path-check: allow"
BOUNDARY = r"(?<![\w.~$}){-])"  # not inside a word, URL host, relative path or variable expansion
DEV_ROOT = re.compile(BOUNDARY + r"(/(?:work|workspace|root|scratch)/|/(?:home|Users)/[\w.-]+|[A-Za-z]:\\Users\\)")
TMP_DIR = re.compile(BOUNDARY + r"/tmp/[\w.+-]+/([\w.+-]+)")
UP_REF = re.compile(r"(?<![\w.])((?:\.\./)+)([\w][\w.+-]*)")
MAX_BYTES = 2 << 20


def ignore_globs(root):
    """(top-level folder globs, any-level name globs) from the root .gitignore's simple patterns."""
    top, anywhere = [".git"], [".git", "__pycache__"]
    try:
        with open(os.path.join(root, ".gitignore")) as f:
            for line in f:
                p = line.strip()
                if not p or p.startswith(("#", "!")):
                    continue
                if p.startswith("/"):
                    top.append(p.strip("/"))
                elif "/" not in p.rstrip("/"):
                    anywhere.append(p.rstrip("/"))
    except OSError:
        pass
    return top, anywhere


def outside_build_trees(files):
    """files without those below a folder that holds CMakeCache.txt (a build tree, whatever its name)."""
    trees = [os.path.dirname(f) for f in files if os.path.basename(f) == "CMakeCache.txt" and os.path.dirname(f)]
    return [f for f in files if not any(f.startswith(t + os.sep) for t in trees)]


def list_files(root):
    """Relative paths of the files to scan."""
    try:
        out = subprocess.run(["git", "-C", root, "ls-files", "-co", "--exclude-standard", "-z"],
                             capture_output=True, check=True, timeout=60).stdout
        if out:
            return outside_build_trees(sorted(p for p in out.decode().split("\0")
                                              if p and os.path.isfile(os.path.join(root, p))))
    except (OSError, subprocess.SubprocessError):
        pass
    top, anywhere = ignore_globs(root)
    files = []
    for d, dirs, names in os.walk(root):
        rel = os.path.relpath(d, root)
        dirs[:] = sorted(x for x in dirs
                         if not any(fnmatch.fnmatch(x, g) for g in anywhere)
                         and not (rel == "." and any(fnmatch.fnmatch(x, g) for g in top)))
        files += [os.path.normpath(os.path.join(rel, n)) for n in sorted(names)
                  if not any(fnmatch.fnmatch(n, g) for g in anywhere)]
    return outside_build_trees(files)


class Checkout:
    """What exists in the checkout: the listed files, their folders, and the ignored top-level globs
    (build*/, data/: present in a working tree, absent from a fresh clone, still inside it)."""

    def __init__(self, root, files):
        self.root = os.path.abspath(root)
        self.paths = set()
        for f in files:
            parts = f.split(os.sep)
            for i in range(1, len(parts) + 1):
                self.paths.add(os.sep.join(parts[:i]))
        self.top_entries = {p for p in self.paths if os.sep not in p}
        self.top_globs = ignore_globs(root)[0]

    def has(self, rel):
        first = rel.split(os.sep)[0]
        return (rel in self.paths or os.path.exists(os.path.join(self.root, rel))
                or any(fnmatch.fnmatch(first, g) for g in self.top_globs))

    def is_entry(self, name):
        return name in self.top_entries or any(fnmatch.fnmatch(name, g) for g in self.top_globs if g != ".git")


def line_problems(checkout, rel_file, line):
    """Reasons this line names a path outside the checkout (empty when it does not)."""
    if ALLOW_MARKER in line:
        return []
    found = [f"absolute path of a development machine '{m.group(1)}'" for m in DEV_ROOT.finditer(line)]
    found += [f"'/tmp/...' used as the checkout ('{m.group(0)}')" for m in TMP_DIR.finditer(line)
              if checkout.is_entry(m.group(1))]
    folder = os.path.dirname(rel_file)
    for m in UP_REF.finditer(line):
        target = os.path.normpath(os.path.join(folder, m.group(1), m.group(2)))
        if target == ".." or target.startswith(".." + os.sep):
            found.append(f"'{m.group(0)}' leaves the checkout")
        elif not checkout.has(target):
            found.append(f"'{m.group(0)}' names nothing in the checkout (from {folder or 'the root'}/: {target})")
    return found


def scan(root):
    """[(file, line number, reason)] over every text file of the checkout at root."""
    files = list_files(root)
    checkout = Checkout(root, files)
    problems = []
    for rel in files:
        path = os.path.join(root, rel)
        if os.path.getsize(path) > MAX_BYTES:
            continue
        with open(path, "rb") as f:
            data = f.read()
        if b"\0" in data:
            continue
        for n, line in enumerate(data.decode("utf-8", errors="replace").splitlines(), 1):
            problems += [(rel, n, why) for why in line_problems(checkout, rel, line)]
    return problems, len(files)


def main(argv):
    root = argv[0] if argv else os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..")
    problems, n = scan(root)
    for rel, line, why in problems:
        print(f"{rel}:{line}: {why}")
    if problems:
        print(f"FAIL: {len(problems)} reference(s) to paths outside the checkout in {n} files "
              "(name a path inside the repository; the rules: tests/scripts/check_paths.py)")
        return 1
    print(f"{n} files: no path outside the checkout")
    return 0


# Self-test: (line, flagged?) written to docs/notes.md of a scratch checkout holding README.md,
# docs/a.md, a .gitignore with /build*/ and a build tree out/ (whose paths are not the checkout's).
SELF_TEST_LINES = [
    ("python: /usr/bin/python3, headers in /usr/include/eigen3, flags from /proc/cpuinfo", False),
    ("cmake --install build --prefix /opt/trustgrad; scratch file /tmp/tg_probe.bin", False),
    ("see https://github.com/root/project and https://example.org/work/x", False),
    ("[the readme](../README.md), [a sibling](a.md), ../build-gcc/tests/test_nn, cd build && cmake ..",  # path-check: allow
     False),
    ("for i = 0..n-1, ${HOME}/work/notes, $here/../docs/a.md, rows y..y+2", False),  # path-check: allow
    ("TORCH_BENCH=/work/shared/reference/torch_bench.py bash bench/run_bench.sh", True),  # path-check: allow
    ("the generator reads /root/notes.md", True),  # path-check: allow
    ("cloned in /home/alice/src/trustgrad", True),  # path-check: allow
    ("train.sh: /tmp/clean9/build/examples/train/train --config x", True),  # path-check: allow
    ("the reference (`../shared/reference/torch_bench.py`)", True),  # path-check: allow
    ("one level too far: ../../outside.txt", True),  # path-check: allow
    (r"C:\Users\bob\trustgrad", True),  # path-check: allow
    ("/work/x is quoted here on purpose  path-check: allow", False),  # path-check: allow
]


def self_test():
    with tempfile.TemporaryDirectory() as root:
        os.makedirs(os.path.join(root, "docs"))
        os.makedirs(os.path.join(root, "out"))
        for rel, text in [("README.md", "# x\n"), ("docs/a.md", "a\n"), (".gitignore", "/build*/\n"),
                          ("out/CMakeCache.txt", "CMAKE_HOME_DIRECTORY:INTERNAL=/work/src\n"),  # path-check: allow
                          ("docs/notes.md", "".join(line + "\n" for line, _ in SELF_TEST_LINES))]:
            with open(os.path.join(root, rel), "w") as f:
                f.write(text)
        problems, _ = scan(root)
        flagged = {n for _, n, _ in problems}
        expected = {n for n, (_, bad) in enumerate(SELF_TEST_LINES, 1) if bad}
        if flagged != expected:
            for n, (line, bad) in enumerate(SELF_TEST_LINES, 1):
                if (n in flagged) != bad:
                    print(f"self-test: line {n} {'missed' if bad else 'wrongly flagged'}: {line}")
            return 1
        if main([root]) != 1:
            print("self-test: a checkout with bad lines did not fail")
            return 1
        with open(os.path.join(root, "docs", "notes.md"), "w") as f:
            f.write("".join(line + "\n" for line, bad in SELF_TEST_LINES if not bad))
        if main([root]) != 0:
            print("self-test: a clean checkout failed")
            return 1
    print(f"self-test: {len(expected)} bad and {len(SELF_TEST_LINES) - len(expected)} good lines told apart")
    return 0


if __name__ == "__main__":
    sys.exit(self_test() if sys.argv[1:] == ["--self-test"] else main(sys.argv[1:]))
