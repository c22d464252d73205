"""Mutation testing of the modules where a silent bug changes the study's numbers (`make mutate`).

Every module listed in mutation.toml is mutated by mutmut in a scratch copy of the project
(build/mutation/<module>), one small bug at a time, and only that module's own fast test files
run against each mutant. A mutant is killed when a test fails. The score of a module is the
share of its mutants killed, leaving out the equivalent mutants that mutation.toml lists by
name with the reason no test can tell them from the original. Run on demand, never in CI.

    python tools/mutate.py                 # every module of mutation.toml
    python tools/mutate.py metrics pseudo  # only these
"""

from __future__ import annotations

import argparse
import ast
import difflib
import json
import os
import shutil
import subprocess
import sys
import time
import tomllib
from dataclasses import dataclass, field
from pathlib import Path

from mutmut.stats import status_by_exit_code

ROOT = Path(__file__).resolve().parents[1]
CONFIG = ROOT / "mutation.toml"
SCRATCH = ROOT / "build" / "mutation"
COPIED = ("src", "tests", "conf")
DETECTED = {"killed", "timeout", "segfault"}  # a test failed, hung or crashed: the bug showed


@dataclass
class ModuleScore:
    """What the mutants of one module did against its tests."""

    module: str
    statuses: dict[str, str]
    equivalent: dict[str, str]
    seconds: float
    stale: list[str] = field(default_factory=list)

    @property
    def counted(self) -> dict[str, str]:
        """Mutants that count towards the score: all but the listed equivalent ones."""
        return {k: v for k, v in self.statuses.items() if k not in self.equivalent}

    @property
    def killed(self) -> int:
        return sum(status in DETECTED for status in self.counted.values())

    @property
    def survivors(self) -> list[str]:
        return sorted(k for k, v in self.counted.items() if v not in DETECTED)

    @property
    def score(self) -> float:
        return self.killed / len(self.counted) if self.counted else 1.0


def scratch_project(module: str, tests: list[str], scratch: Path) -> Path:
    """A fresh copy of the project whose [tool.mutmut] mutates `module` against `tests`."""
    folder = scratch / module
    shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir(parents=True)
    ignore = shutil.ignore_patterns("__pycache__", "local")
    for name in COPIED:
        shutil.copytree(ROOT / name, folder / name, ignore=ignore)
    settings = {
        "source_paths": ["src"],
        "only_mutate": [f"src/spml/{module}.py"],
        "also_copy": ["conf"],
        "pytest_add_cli_args_test_selection": tests,
        "pytest_add_cli_args": ["-p", "no:cacheprovider"],
        "process_isolation": "forkserver",  # torch is not fork-safe after a test run
        # A mutant times out (and counts as killed) only well past its tests' usual time:
        # on a shared machine a loaded core must not pass for an endless loop.
        "timeout_multiplier": 20.0,
        "timeout_constant": 30.0,
    }
    lines = [f"{key} = {json.dumps(value)}" for key, value in settings.items()]
    pyproject = (ROOT / "pyproject.toml").read_text()
    (folder / "pyproject.toml").write_text(
        pyproject + "\n[tool.mutmut]\n" + "\n".join(lines) + "\n"
    )
    return folder


def run_mutmut(folder: Path, max_children: int) -> None:
    """mutmut in the scratch copy, at low priority: the cores are shared."""
    mutmut = Path(sys.executable).with_name("mutmut")
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}  # the mutants, not src/
    env["KEDRO_DISABLE_TELEMETRY"] = "1"
    command = ["nice", "-n", "15", str(mutmut), "run", "--max-children", str(max_children)]
    with (folder / "mutmut.log").open("w") as log:
        done = subprocess.run(command, cwd=folder, env=env, stdout=log, stderr=subprocess.STDOUT)
    if done.returncode != 0:
        raise SystemExit(f"mutmut failed in {folder}; see {folder / 'mutmut.log'}")


def statuses(folder: Path, module: str) -> dict[str, str]:
    """Each mutant's outcome, from the results mutmut keeps beside the mutated file."""
    meta = json.loads((folder / "mutants" / "src" / "spml" / f"{module}.py.meta").read_text())
    return {name: status_by_exit_code[code] for name, code in meta["exit_code_by_key"].items()}


def mutant_functions(folder: Path, module: str) -> dict[str, str]:
    """Source of every function in mutmut's mutated copy: originals and mutants side by side."""
    source = (folder / "mutants" / "src" / "spml" / f"{module}.py").read_text()
    return {
        node.name: ast.get_source_segment(source, node) or ""
        for node in ast.walk(ast.parse(source))
        if isinstance(node, ast.FunctionDef)
    }


def mutant_diff(functions: dict[str, str], name: str) -> str:
    """The lines one mutant changes, read from the mutated copy (as `mutmut show` would)."""
    mutant = name.rsplit(".", 1)[-1]
    original = mutant.rsplit("__mutmut_", 1)[0] + "__mutmut_orig"
    before = functions[original].splitlines()
    after = functions[mutant].replace(mutant, original, 1).splitlines()
    changed = difflib.unified_diff(before, after, lineterm="", n=0)
    return "\n".join(
        f"      {line[0]} {line[1:].strip()}"
        for line in changed
        if line[:1] in "+-" and not line.startswith(("+++", "---"))
    )


def mutate(
    module: str, tests: list[str], equivalent: dict[str, str], children: int, scratch: Path
) -> ModuleScore:
    """Run one module's mutants and score them."""
    started = time.perf_counter()
    folder = scratch_project(module, tests, scratch)
    print(f"mutating src/spml/{module}.py against {' '.join(tests)} ...", flush=True)
    run_mutmut(folder, children)
    outcome = statuses(folder, module)
    dotted = module.replace("/", ".")  # a module of a package, e.g. readers/coco
    mine = {k: v for k, v in equivalent.items() if k.startswith(f"spml.{dotted}.")}
    score = ModuleScore(module, outcome, mine, time.perf_counter() - started)
    score.stale = sorted(set(mine) - set(outcome))
    functions = mutant_functions(folder, module)
    for name in score.survivors:
        print(f"  {outcome[name]}: {name}\n{mutant_diff(functions, name)}")
    for name in score.stale:
        print(f"  listed as equivalent but no longer a mutant: {name}")
    return score


def main() -> int:
    """Score the chosen modules, print one line each, fail when one is below the target."""
    config = tomllib.loads(CONFIG.read_text())
    modules: dict[str, list[str]] = config["modules"]
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("modules", nargs="*", help=f"default: all of {', '.join(modules)}")
    parser.add_argument("--max-children", type=int, default=2, help="mutants tested at once")
    parser.add_argument("--scratch", type=Path, default=SCRATCH, help=f"default: {SCRATCH}")
    args = parser.parse_args()
    unknown = sorted(set(args.modules) - set(modules))
    if unknown:
        parser.error(f"{unknown} not in {CONFIG.name}; its modules: {', '.join(modules)}")
    started = time.perf_counter()
    scores = [
        mutate(name, modules[name], config.get("equivalent", {}), args.max_children, args.scratch)
        for name in args.modules or modules
    ]
    target = float(config["target"])
    print(f"\n{'module':<12}{'mutants':>8}{'equiv.':>8}{'killed':>8}{'timeout':>8}{'score':>8}")
    for s in scores:
        timeouts = sum(status == "timeout" for status in s.counted.values())
        print(
            f"{s.module:<12}{len(s.statuses):>8}{len(s.equivalent):>8}{s.killed:>8}"
            f"{timeouts:>8}{s.score:>8.1%}   {s.seconds / 60:.1f} min"
        )
    print(f"total {(time.perf_counter() - started) / 60:.1f} minutes; target {target:.0%}")
    below = [s.module for s in scores if s.score < target]
    if below:
        print(f"below the target: {', '.join(below)}")
    return 1 if below or any(s.stale for s in scores) else 0


if __name__ == "__main__":
    raise SystemExit(main())
