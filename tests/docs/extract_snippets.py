#!/usr/bin/env python3
"""Writes each ```cpp compile block of the given Markdown files as a C++
translation unit, so that the build compiles and links what the docs claim
compiles (tests/CMakeLists.txt, "Code in the docs").

  extract_snippets.py OUT_DIR SOURCE_ROOT FILE.md...

A block whose info string is `cpp compile` is a claim: it is built. Other
```cpp blocks are sketches (they name variables the text introduces).
`cpp compile file=PATH` also claims the block is PATH (relative to
SOURCE_ROOT) as it is: extraction fails when the two differ.
A block with its own `int main(` is a whole program and is written as it
is; any other block becomes the body of a function, its #include lines
moved to the top, with `fail(error)` (print, return 1) available.
Writes OUT_DIR/snippets.txt: one line per block, "<name> <file>:<line>".
Fails (exit 1, naming file and line) on an unterminated block.
"""
import os
import re
import sys


def blocks(path):
    with open(path, encoding="utf-8") as f:
        lines = f.read().split("\n")
    i = 0
    while i < len(lines):
        m = re.match(r"^(\s*)```(.*)$", lines[i])
        if not m:
            i += 1
            continue
        indent, info = m.group(1), m.group(2).strip().split()
        start = i + 1
        j = start
        while j < len(lines) and not re.match(r"^\s*```\s*$", lines[j]):
            j += 1
        if j == len(lines):
            sys.exit(f"{path}:{i + 1}: code block never closed")
        if len(info) >= 2 and info[0] == "cpp" and "compile" in info[1:]:
            body = [l[len(indent):] if l.startswith(indent) else l for l in lines[start:j]]
            same_as = [w[len("file="):] for w in info[1:] if w.startswith("file=")]
            yield i + 1, body, (same_as[0] if same_as else None)
        i = j + 1


PRELUDE = """// Extracted from {where} by tests/docs/extract_snippets.py: do not edit.
#include <iostream>
#include <agora/blackboard/result.hpp>
{includes}
namespace {{
[[maybe_unused]] int fail(const agora::bb::error& e) {{
  std::cerr << agora::bb::to_string(e) << "\\n";
  return 1;
}}
}}  // namespace

int snippet() {{
#line {line} "{where}"
{body}
  return 0;
}}

int main() {{ return snippet(); }}
"""


def main():
    if len(sys.argv) < 4:
        sys.exit("usage: extract_snippets.py OUT_DIR SOURCE_ROOT FILE.md...")
    out, root = sys.argv[1], sys.argv[2]
    os.makedirs(out, exist_ok=True)
    index = []
    for md in sys.argv[3:]:
        rel = os.path.relpath(md, root)
        stem = re.sub(r"[^A-Za-z0-9]+", "_", os.path.splitext(rel)[0]).strip("_").lower()
        for line, body, same_as in blocks(md):
            if same_as is not None:
                with open(os.path.join(root, same_as), encoding="utf-8") as f:
                    want = f.read().rstrip("\n").split("\n")
                if want != body:
                    diff = next((k for k in range(max(len(want), len(body)))
                                 if k >= len(want) or k >= len(body) or want[k] != body[k]), 0)
                    sys.exit(f"{rel}:{line + 1 + diff}: the block differs from {same_as} "
                             f"(line {diff + 1}); copy the file into the block")
            name = f"{stem}_{line}"
            where = f"{os.path.join(root, rel)}"
            text = "\n".join(body)
            if re.search(r"^\s*int\s+main\s*\(", text, re.M):
                src = f"// Extracted from {rel}:{line} by tests/docs/extract_snippets.py.\n#line {line + 1} \"{where}\"\n{text}\n"
            else:
                includes = [l for l in body if l.lstrip().startswith("#include")]
                rest = [l if not l.lstrip().startswith("#include") else "" for l in body]
                src = PRELUDE.format(where=where, line=line + 1, includes="\n".join(includes),
                                     body="\n".join(rest))
            path = os.path.join(out, name + ".cpp")
            # Unchanged files keep their time stamp: no rebuild.
            old = open(path, encoding="utf-8").read() if os.path.exists(path) else None
            if old != src:
                with open(path, "w", encoding="utf-8") as f:
                    f.write(src)
            index.append(f"{name} {rel}:{line}")
    with open(os.path.join(out, "snippets.txt"), "w", encoding="utf-8") as f:
        f.write("\n".join(index) + ("\n" if index else ""))


main()
