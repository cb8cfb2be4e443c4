#!/usr/bin/env python3
"""The core's layering, checked on the compiled objects (docs/DESIGN.md, "Layers").

core/ is split into folders that form layers: a file may use (call, read) symbols of its own
folder and of the folders listed before it, never of a later one, and no two files may depend
on each other through any chain (no cycles). Checked on what the linker sees, not on
#include lines: `nm` of every object of libnovaq_core, defined symbols against undefined ones.

usage: check_layers.py <object file of novaq_core>...   (ctest passes $<TARGET_OBJECTS:novaq_core>,
so objects left over from files that no longer exist are not looked at)
exit 0 if the layering holds, 1 with every violation listed."""
import collections, os, subprocess, sys

LAYERS = ["common", "kernels", "io", "decompress", "llm", "compress"]


def symbols(obj, flag):
    out = subprocess.run(["nm", flag, obj], capture_output=True, text=True, check=True).stdout
    syms = set()
    for line in out.splitlines():
        parts = line.split()
        if flag == "-u" and parts:
            syms.add(parts[-1])
        elif len(parts) == 3 and parts[1] in "TDBR":
            syms.add(parts[2])
    return syms


def main():
    objs = {}
    for path in (p for arg in sys.argv[1:] for p in arg.split(";")):
        rel = path.split("novaq_core.dir/", 1)[-1]
        if rel.endswith(".c.o"):
            objs[rel[: -len(".c.o")]] = path
    if len(objs) < 10:
        print(f"check_layers: only {len(objs)} objects given: pass the core's object files")
        return 1
    owner = {}
    for name, path in objs.items():
        for s in symbols(path, "--defined-only"):
            owner[s] = name
    undefined = {name: symbols(path, "-u") for name, path in objs.items()}
    deps = collections.defaultdict(set)
    for name in objs:
        for s in undefined[name]:
            if s in owner and owner[s] != name:
                deps[name].add(owner[s])
    bad = []
    for a in sorted(objs):
        la = a.split("/")[0]
        if la not in LAYERS:
            bad.append(f"{a}: folder '{la}' is not a layer ({', '.join(LAYERS)})")
            continue
        for b in sorted(deps[a]):
            lb = b.split("/")[0]
            if lb in LAYERS and LAYERS.index(lb) > LAYERS.index(la):
                used = sorted(s for s in undefined[a] if owner.get(s) == b)
                bad.append(f"{a} uses {b} ({', '.join(used)}): layer {la} may not use the later layer {lb}")
    # cycles: a file that reaches itself through its dependencies
    def reaches(start, goal):
        seen, todo = set(), [start]
        while todo:
            x = todo.pop()
            for y in deps[x]:
                if y == goal:
                    return True
                if y not in seen:
                    seen.add(y)
                    todo.append(y)
        return False
    for a in sorted(objs):
        for b in sorted(deps[a]):
            if a < b and reaches(b, a):
                bad.append(f"cycle: {a} uses {b} and {b} depends back on {a}")
    for line in bad:
        print("check_layers:", line)
    print(f"check_layers: {len(objs)} files, {sum(len(v) for v in deps.values())} file dependencies, "
          f"{len(bad)} violation(s)")
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
