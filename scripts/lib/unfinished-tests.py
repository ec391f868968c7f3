#!/usr/bin/env python3
"""Prints the swift-testing tests a log shows as started and never finished (a phase that overran)."""
import re
import sys

started, finished = {}, set()
start = re.compile(r'^◇ Test (".*") started\.$')
end = re.compile(r'^[✔✘] Test (".*?") (?:with \d+ test cases? )?(?:passed|failed) after')
for line in open(sys.argv[1], encoding="utf-8", errors="replace"):
    line = line.rstrip("\n")
    if m := start.match(line):
        started.setdefault(m.group(1), len(started))
    elif m := end.match(line):
        finished.add(m.group(1))
for name in sorted(set(started) - finished, key=started.get):
    print(f"  {name}")
