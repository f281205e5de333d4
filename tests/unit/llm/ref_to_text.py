#!/usr/bin/python3
"""Runs scripts/gguf/ref_llama.py and prints its answer as plain numbers for the C++ tests
(which have no JSON parser):

  greedy N t1 .. tN
  margins N m1 .. mN
  logits R V        then R lines of V floats: the prompt's last position, then the logits
                    after each greedy token in turn (R = N + 1 minus the one ref never computes)
"""
import json
import os
import subprocess
import sys

here = os.path.dirname(os.path.abspath(__file__))
ref = os.path.join(here, "..", "..", "..", "scripts", "gguf", "ref_llama.py")
out = subprocess.run([sys.executable, "-B", ref] + sys.argv[1:] + ["--json"], check=True,
                     stdout=subprocess.PIPE).stdout
d = json.loads(out)
steps = d["steps"]
print("greedy", len(steps), *d["greedy"])
print("margins", len(steps), *[repr(s["margin"]) for s in steps])
rows = [d["prompt_logits"][-1]] + [s["logits"] for s in steps[1:]]
print("logits", len(rows), len(rows[0]))
for r in rows:
    print(" ".join(repr(v) for v in r))
