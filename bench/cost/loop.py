#!/usr/bin/env python3
"""Prints the innermost loop of one function of an objdump -d -C listing as llvm-mca input.

usage: loop.py LISTING FUNCTION_SUBSTRING KEY_MNEMONIC
The loop is the smallest backward conditional branch range of that function that contains an
instruction whose mnemonic starts with KEY_MNEMONIC (tbl, sdot, cnt, vpshufb, vpermb, ...); its
closing branch is rewritten to jump to the label .Lloop.
"""
import re
import sys

listing, func, key = sys.argv[1], sys.argv[2], sys.argv[3]
body, inside = [], False
for line in open(listing):
    line = line.rstrip('\n')
    if line.endswith('>:'):
        inside = func in line
        continue
    m = re.match(r'\s*([0-9a-f]+):\s+(.*)$', line)
    if inside and m:
        ins = m.group(2).split('//')[0].strip()
        body.append((int(m.group(1), 16), ins))
branch = re.compile(r'^(j\w+|b\.\w+|cbn?z|tbn?z)\s')
best = None
for i, (addr, ins) in enumerate(body):
    if not branch.match(ins):
        continue
    target = re.findall(r'([0-9a-f]+)\s+<', ins)
    if not target:
        continue
    t = int(target[-1], 16)
    if t >= addr:
        continue
    rng = [x for x in body if t <= x[0] <= addr]
    if any(x[1].split()[0].startswith(key) for x in rng) and (best is None or len(rng) < len(best)):
        best = rng
if best is None:
    sys.exit(f'no loop with {key} in {func}')
print('.Lloop:')
for addr, ins in best[:-1]:
    print('  ' + re.sub(r'\s+<.*$', '', ins))
print('  ' + best[-1][1].split()[0] + ' .Lloop')
