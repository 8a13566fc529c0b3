"""Builds the Lambda artefacts without Docker: the dependency layer (`layers/build/deps/python`, manylinux wheels
for the target CPython) and the function code (`layers/build/function`: `headroom` and `handlers`), then reports
their unzipped size against Lambda's 250 MB limit and fails over it.

Usage: python layers/build_deps.py [--python-version 3.12] [--compile-with python3.12] [--extra ml] [--keep-boto3]
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[1]
LIMIT_BYTES = 250 * 1024 * 1024
WEB_ADAPTER_BYTES = 8 * 1024 * 1024  # the adapter layer of the streaming function, counted against the same limit
PLATFORMS = ("manylinux2014_x86_64", "manylinux_2_17_x86_64", "manylinux_2_28_x86_64", "manylinux_2_34_x86_64")
# The Lambda Python runtime ships boto3; bundling it is optional (--keep-boto3) and costs ~25 MB.
RUNTIME_PROVIDED = ("boto3", "botocore", "s3transfer", "jmespath")
# Never imported at run time on Lambda (hf_xet only speeds up hub downloads; models come from a layer or S3).
BUILD_ONLY = ("pip", "setuptools", "wheel", "_distutils_hack", "pkg_resources", "bin", "hf_xet")
PRUNED_DIRS = ("__pycache__",)
PRUNED_SUFFIXES = (".pyc", ".pyi")


@dataclass(frozen=True, slots=True)
class BuildPlan:
    out: Path
    python_version: str
    extras: tuple[str, ...]
    keep_boto3: bool

    @property
    def deps_root(self) -> Path:
        return self.out / "deps"

    @property
    def site_packages(self) -> Path:
        return self.deps_root / "python"

    @property
    def function_root(self) -> Path:
        return self.out / "function"


def _run(argv: list[str]) -> None:
    print("+", " ".join(argv), flush=True)
    subprocess.run(argv, check=True)


def build_wheel(work: Path) -> Path:
    """The project's own wheel, so that pip resolves its dependencies from pyproject.toml."""
    _run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--quiet", "-w", str(work), str(REPO_ROOT)])
    (wheel,) = work.glob("headroom-*.whl")
    return wheel


def install_for_lambda(plan: BuildPlan, wheel: Path) -> None:
    requirement = f"{wheel}[{','.join(('aws', *plan.extras))}]"
    argv = [sys.executable, "-m", "pip", "install", "--quiet", "--no-compile", "--upgrade"]
    argv += ["--target", str(plan.site_packages), "--implementation", "cp", "--python-version", plan.python_version]
    argv += ["--only-binary=:all:"]
    for platform in PLATFORMS:
        argv += ["--platform", platform]
    _run([*argv, requirement])


def split_function_code(plan: BuildPlan) -> None:
    """Our own code goes to the function (it changes often), third-party code stays in the layer."""
    plan.function_root.mkdir(parents=True)
    for path in plan.site_packages.glob("headroom*"):
        shutil.move(str(path), plan.function_root / path.name)
    ignore = shutil.ignore_patterns(*PRUNED_DIRS, *(f"*{suffix}" for suffix in PRUNED_SUFFIXES))
    shutil.copytree(REPO_ROOT / "handlers", plan.function_root / "handlers", ignore=ignore)


def prune(plan: BuildPlan) -> list[str]:
    """Remove what Lambda does not need; returns the top-level names removed."""
    removed: list[str] = []
    drop = BUILD_ONLY + (() if plan.keep_boto3 else RUNTIME_PROVIDED)
    for path in sorted(plan.site_packages.iterdir()):
        name = path.name.split("-")[0].lower()
        if name in drop:
            removed.append(path.name)
            shutil.rmtree(path) if path.is_dir() else path.unlink()
    for root in (plan.site_packages, plan.function_root):
        for path in sorted(root.rglob("*"), reverse=True):
            if path.is_dir() and path.name in PRUNED_DIRS:
                shutil.rmtree(path)
            elif path.is_file() and path.suffix in PRUNED_SUFFIXES:
                path.unlink()
    return removed


def _interpreter_of(version: str, given: str | None) -> str | None:
    """`given`, or `python<version>` on PATH, if it runs and is that version (a pyenv shim may not)."""
    candidate = given or shutil.which(f"python{version}")
    if candidate is None:
        return None
    probe = subprocess.run(
        [candidate, "-c", "import sys; print('%d.%d' % sys.version_info[:2])"], capture_output=True, text=True
    )
    return candidate if probe.returncode == 0 and probe.stdout.strip() == version else None


def byte_compile(plan: BuildPlan, given: str | None) -> bool:
    """Pre-compile with an interpreter of the target version: /opt and /var/task are read-only on Lambda, so
    uncompiled modules are compiled again at every cold start."""
    interpreter = _interpreter_of(plan.python_version, given)
    if interpreter is None:
        print(f"note: no working python{plan.python_version}: not byte-compiled (cold starts compile at import)")
        return False
    for root in (plan.site_packages, plan.function_root):
        _run([interpreter, "-m", "compileall", "-q", "-j", "0", "--invalidation-mode", "unchecked-hash", str(root)])
    return True


def tree_bytes(root: Path) -> int:
    return sum(path.stat().st_size for path in root.rglob("*") if path.is_file() and not path.is_symlink())


def report(plan: BuildPlan) -> int:
    """Print the size table; the total includes the function code and the web adapter layer."""
    sizes = sorted(
        ((tree_bytes(p) if p.is_dir() else p.stat().st_size, p.name) for p in plan.site_packages.iterdir()),
        reverse=True,
    )
    print(f"\n{'package':<40}{'MB':>9}")
    for size, name in sizes[:15]:
        print(f"{name:<40}{size / 2**20:>9.1f}")
    deps, function = tree_bytes(plan.deps_root), tree_bytes(plan.function_root)
    total = deps + function + WEB_ADAPTER_BYTES
    print(f"{'dependency layer':<40}{deps / 2**20:>9.1f}")
    print(f"{'function code':<40}{function / 2**20:>9.1f}")
    print(f"{'web adapter layer (allowance)':<40}{WEB_ADAPTER_BYTES / 2**20:>9.1f}")
    print(f"{'total unzipped':<40}{total / 2**20:>9.1f}  (limit {LIMIT_BYTES / 2**20:.0f})")
    return total


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", type=Path, default=REPO_ROOT / "layers" / "build", help="output folder")
    parser.add_argument("--python-version", default="3.12", help="Lambda runtime's CPython version")
    parser.add_argument("--extra", action="append", default=[], help="extra of the project to include (ml, otel)")
    parser.add_argument("--compile-with", help="interpreter of --python-version used to byte-compile")
    parser.add_argument("--keep-boto3", action="store_true", help="bundle boto3 instead of the runtime's")
    args = parser.parse_args(argv)
    plan = BuildPlan(args.out.resolve(), args.python_version, tuple(args.extra), args.keep_boto3)
    for folder in (plan.deps_root, plan.function_root):
        shutil.rmtree(folder, ignore_errors=True)
    with tempfile.TemporaryDirectory(prefix="headroom-wheel-") as work:
        install_for_lambda(plan, build_wheel(Path(work)))
    split_function_code(plan)
    removed = prune(plan)
    print("removed:", ", ".join(removed) or "nothing")
    byte_compile(plan, args.compile_with)
    total = report(plan)
    if total > LIMIT_BYTES:
        print(f"error: {total / 2**20:.1f} MB unzipped is over Lambda's 250 MB limit", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
