#!/usr/bin/env python3
"""Checks the relative links of the Markdown pages (docs/*.md and README.md), so they cannot rot.

    python3 tests/check_doc_links.py [--fix] [ROOT]

Every relative link [text](path#fragment) must name an existing file or folder. A fragment
#L12 or #L12-L30 (GitHub's line anchors) must lie within the file, and what the link promises
must appear on those lines: the link's title when it has one, verbatim
([the op](../tensor/ops.def#L61 "OP(rms_norm, true)")), else the name in the first code span
of its text (the last name before any "("): [`rms_norm`](../autograd/functions.cpp#L812-L830)
fails once the function moves. A code span that names a file (`tensor/ops.def`, `test_grad`)
promises nothing, so such a line link, or one without code, must have a title.
A fragment naming a heading of a Markdown file must match one of its headings (GitHub's
anchors: lower case, punctuation dropped, spaces as dashes).

--fix moves each line link whose name (or title) left its lines to the nearest lines that hold
it again (the range keeps its length) and prints what it moved: read those before committing.
Exit status: 0 when every link holds, 1 otherwise, each failure on one line as file:line: why.
"""
import os
import re
import sys

LINK = re.compile(r'(?<!!)\[((?:[^\[\]]|\[[^\]]*\])*)\]\(([^)\s]+)(?:\s+"([^"]+)")?\)')
LINE_FRAGMENT = re.compile(r"^L(\d+)(?:-L(\d+))?$")
CODE = re.compile(r"`([^`]+)`")
NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")


def pages(root):
    found = [os.path.join(root, "README.md")]
    for folder, _, files in os.walk(os.path.join(root, "docs")):
        found += [os.path.join(folder, f) for f in sorted(files) if f.endswith(".md")]
    return [p for p in found if os.path.isfile(p)]


def heading_anchors(path):
    anchors, in_code = set(), False
    with open(path, encoding="utf-8") as f:
        for line in f:
            if line.startswith("```"):
                in_code = not in_code
            if in_code or not line.startswith("#"):
                continue
            text = line.lstrip("#").strip().lower()
            anchors.add(re.sub(r"[^\w\- ]", "", text).replace(" ", "-"))
    return anchors


def key_name(text, target_path):
    """The name a line link promises: in the first code span of its text, the last name before
    any "(" (`RMSNorm::forward` -> forward, `rms_norm(x, ...)` -> rms_norm). None when the span
    names a file (`tensor/ops.def`, `test_grad`) rather than something in it."""
    code = CODE.search(text)
    if not code:
        return None
    span = code.group(1).split("(")[0]
    names = NAME.findall(span)
    stem = os.path.splitext(os.path.basename(target_path))[0]
    if not names or "/" in span or re.search(r"\.\w+$", span.strip()) or names[-1] == stem:
        return None
    return names[-1]


def check_page(page, root, fix):
    """Returns (failures, links moved by --fix, the page's new text or None when unchanged)."""
    failures, fixed = [], []
    with open(page, encoding="utf-8") as f:
        text = f.read()
    in_code = False
    out_lines = []
    for number, line in enumerate(text.split("\n"), 1):
        if line.startswith("```"):
            in_code = not in_code
        new_line = line
        for match in ([] if in_code else LINK.finditer(line)):
            link_text, target, title = match.group(1), match.group(2), match.group(3)
            if re.match(r"^[a-z]+:", target) or target.startswith("#"):
                continue  # a web address, mail, or an anchor of this page
            path, _, fragment = target.partition("#")
            where = f"{os.path.relpath(page, root)}:{number}"
            resolved = os.path.normpath(os.path.join(os.path.dirname(page), path))
            if os.path.relpath(resolved, root).split(os.sep)[0] == "..":
                failures.append(f"{where}: {target} leaves the repository (GitHub cannot show it)")
                continue
            if not os.path.exists(resolved):
                failures.append(f"{where}: {target} does not exist")
                continue
            if not fragment:
                continue
            lines_fragment = LINE_FRAGMENT.match(fragment)
            if not lines_fragment:
                if resolved.endswith(".md") and fragment not in heading_anchors(resolved):
                    failures.append(f"{where}: {path} has no heading #{fragment}")
                continue
            with open(resolved, encoding="utf-8") as f:
                file_lines = f.read().split("\n")
            if file_lines and file_lines[-1] == "":
                file_lines.pop()
            first = int(lines_fragment.group(1))
            last = int(lines_fragment.group(2) or first)
            if not 1 <= first <= last <= len(file_lines):
                failures.append(f"{where}: {target}: {path} has {len(file_lines)} lines")
                continue
            name = title or key_name(link_text, path)
            if name is None:
                failures.append(f"{where}: {target}: say what is on those lines (a `name` in the link text, "
                                f"or a title: [text]({target} \"what\"))")
                continue
            if any(name in l for l in file_lines[first - 1:last]):
                continue
            holding = [i + 1 for i, l in enumerate(file_lines) if name in l]
            if fix and holding:
                moved_to = min(holding, key=lambda i: abs(i - first))
                span = last - first
                new_first, new_last = moved_to, min(moved_to + span, len(file_lines))
                new_fragment = f"L{new_first}" + (f"-L{new_last}" if span else "")
                link, start = match.group(0), match.start(2) - match.start(0)
                moved = link[:start] + f"{path}#{new_fragment}" + link[start + len(target):]
                new_line = new_line.replace(link, moved, 1)
                fixed.append(f"{where}: {name}: {path}#{fragment} -> #{new_fragment}")
                continue
            failures.append(f"{where}: `{name}` is not on {target}"
                            + (f" (it is on line {', '.join(map(str, holding[:5]))}"
                               f"{' ...' if len(holding) > 5 else ''})" if holding else " nor anywhere in the file"))
        out_lines.append(new_line)
    new_text = "\n".join(out_lines)
    return failures, fixed, (new_text if new_text != text else None)


def self_test():
    """The checker on a small tree with one link of each kind, good and broken."""
    import tempfile
    with tempfile.TemporaryDirectory() as root:
        os.makedirs(os.path.join(root, "docs"))
        with open(os.path.join(root, "code.cpp"), "w") as f:
            f.write("int a;\nint add(int x);\nint b;\n")
        with open(os.path.join(root, "docs", "page.md"), "w") as f:
            f.write("# A page\n"
                    "[ok](../code.cpp) [`add`](../code.cpp#L1-L2) [ok](#x) [ok](page.md#a-page)\n"
                    "[ok](../code.cpp#L2 \"int add(\")\n"
                    "[gone](../none.cpp) [past the end](../code.cpp#L9) [`add`](../code.cpp#L3) "
                    "[`sub`](../code.cpp#L1) [ok](https://x.org/y) [no heading](page.md#b) [out](../../x.md)\n"
                    "[titled](../code.cpp#L1 \"int add(\")\n"
                    "[`code.cpp`](../code.cpp#L1) [untitled](../code.cpp#L2)\n"
                    "```\n[in code](../none.cpp)\n```\n")
        failures, _, _ = check_page(os.path.join(root, "docs", "page.md"), root, fix=False)
        expected = ["does not exist", "has 3 lines", "`add` is not on ../code.cpp#L3 (it is on line 2)",
                    "`sub` is not on ../code.cpp#L1 nor anywhere", "has no heading #b", "leaves the repository",
                    "`int add(` is not on ../code.cpp#L1 (it is on line 2)", "say what is on those lines",
                    "say what is on those lines"]
        ok = len(failures) == len(expected) and all(e in f for e, f in zip(expected, failures))
        _, _, fixed = check_page(os.path.join(root, "docs", "page.md"), root, fix=True)
        ok = ok and fixed is not None and "[`add`](../code.cpp#L2)" in fixed
        ok = ok and '[titled](../code.cpp#L2 "int add(")' in fixed
        print("self-test", "passed" if ok else "FAILED:\n" + "\n".join(failures))
        return ok


def main(argv):
    if not self_test():
        return 1
    fix = "--fix" in argv
    rest = [a for a in argv if a != "--fix"]
    root = os.path.abspath(rest[0] if rest else os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
    failures, links = [], 0
    for page in pages(root):
        page_failures, moved, new_text = check_page(page, root, fix)
        failures += page_failures
        for line in moved:
            print("moved", line)
        if new_text is not None:
            with open(page, "w", encoding="utf-8") as f:
                f.write(new_text)
        with open(page, encoding="utf-8") as f:
            links += len(LINK.findall(f.read()))
    for failure in failures:
        print(failure)
    print(f"{links} links in {len(pages(root))} pages, {len(failures)} broken")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
