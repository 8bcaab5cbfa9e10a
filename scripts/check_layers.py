#!/usr/bin/env python3
"""Reads the tree as a newcomer would and checks two rules (CTest: layers_and_file_sizes).

1. Layers: every #include between components points down (or stays inside a
   component): core < stores < control < mapping < config < router < backfill
   < verify < ops (operator commands), stress < serve < cli < bench. Test files (*_test.cc, tests/) are leaves
   that nothing includes, so they may build their fixtures from any layer. A public header include/tandem/X.h belongs to
   the component that implements it (PUBLIC below). Since ranks strictly
   order the components, no arrow up also means no circle.
2. Sizes: every source file of src/, include/, tests/ and bench/ has at most
   500 lines, or says why in a line "// Long file: <reason>" among its first
   five lines.
Prints each breach with the file and line; exits 1 if there is any.
"""
import pathlib
import re
import sys

RANK = {"core": 0, "stores": 1, "control": 2, "mapping": 3, "config": 4, "router": 5, "backfill": 6,
        "verify": 7, "ops": 8, "stress": 8, "serve": 9, "cli": 10, "bench": 11, "tests": 11}
PUBLIC = {"status": "core", "value": "core", "key": "core", "key_identity": "core", "record": "core", "schema": "core",
          "store": "core", "store_wrapper": "core", "plan": "control", "control_store": "control",
          "mapping": "mapping", "config": "config", "migration": "router", "move_problem": "router",
          "operator_tools": "router", "backfill": "backfill", "verify": "verify", "clock": "core", "logging": "core",
          "backfill_ledger": "control", "verify_ledger": "control"}
MAX_LINES = 500
INCLUDE = re.compile(r'^\s*#\s*include\s+"([^"]+)"')


def component_of_path(path: pathlib.Path):
    parts = path.parts
    if parts[0] == "src":
        return parts[1]
    if parts[0] == "include":
        return PUBLIC.get(path.stem)
    return parts[0] if parts[0] in RANK else None


def component_of_include(target: str):
    head, _, rest = target.partition("/")
    if head == "tandem":
        return PUBLIC.get(pathlib.Path(rest).stem, "?" + rest)
    return head if head in RANK else None


def main() -> int:
    root = pathlib.Path(__file__).resolve().parent.parent
    problems = []
    files = [p for d in ("src", "include", "tests", "bench") for p in (root / d).rglob("*")
             if p.suffix in (".h", ".cc") and p.is_file()]
    for path in sorted(files):
        rel = path.relative_to(root)
        lines = path.read_text(errors="replace").splitlines()
        if len(lines) > MAX_LINES and not any(l.startswith("// Long file:") for l in lines[:5]):
            problems.append(f"{rel}: {len(lines)} lines (> {MAX_LINES}): split it, or say why in a "
                            f"'// Long file: ...' line at its top")
        src = component_of_path(rel)
        if src is None or rel.name.endswith("_test.cc") or rel.parts[0] == "tests":
            continue
        for number, line in enumerate(lines, 1):
            m = INCLUDE.match(line)
            if not m:
                continue
            dst = component_of_include(m.group(1))
            if dst is None:
                continue
            if dst.startswith("?"):
                problems.append(f"{rel}:{number}: public header tandem/{dst[1:]} has no component in "
                                f"scripts/check_layers.py")
            elif RANK[dst] > RANK[src]:
                problems.append(f"{rel}:{number}: {src} includes {m.group(1)} of {dst}, a higher layer")
    for p in problems:
        print(p)
    print(f"{len(files)} files read, {len(problems)} problem(s)")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
