#!/usr/bin/env python3
"""Count individual test cases (TAP lines) across every test program in a
Meson test log and print the totals as 'N passed, N failed'. A program
that crashed before reporting all its cases counts as one more failure.
Exits non-zero if anything failed."""
import json
import re
import sys

passed = failed = skipped = 0
failures = []
def entries(path):
    try:
        with open(path) as log:
            for line in log:
                yield json.loads(line)
    except OSError:
        yield {"name": path, "result": "NOT RUN", "stdout": ""}


for path in sys.argv[1:]:
    for entry in entries(path):
        name = entry.get("name", "?")
        out = entry.get("stdout", "") or ""
        ok = notok = skip = 0
        planned = None
        for l in out.splitlines():
            m = re.match(r"^1\.\.(\d+)", l)
            if m:
                planned = int(m.group(1))
            if re.match(r"^ok\b", l):
                if "# SKIP" in l or "# skip" in l:
                    skip += 1
                else:
                    ok += 1
            elif re.match(r"^not ok\b", l):
                notok += 1
                failures.append(f"{name}: {l}")
        missing = planned - (ok + notok + skip) if planned is not None else 0
        if entry.get("result") not in ("OK", "SKIP") and notok == 0:
            notok += 1
            failures.append(f"{name}: program failed ({entry.get('result')})")
        elif missing > 0:
            notok += 1
            failures.append(f"{name}: {missing} case(s) never reported")
        passed += ok
        failed += notok
        skipped += skip

for f in failures:
    print("FAILED:", f)
if skipped:
    print(f"{skipped} skipped")
print(f"{passed} passed, {failed} failed")
sys.exit(1 if failed else 0)
