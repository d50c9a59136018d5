#!/usr/bin/env bash
# Cost on paper of the inner loops: instruction counts from the compiled code and llvm-mca cycle
# estimates, aarch64 (g++-12-aarch64-linux-gnu) beside x86-64 (g++-12). Needs Debian's
# g++-12-aarch64-linux-gnu, binutils-aarch64-linux-gnu and llvm (llvm-mca-14). Usage, from the repo root:
#   bash bench/cost/arm_cost.sh [out-dir]
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/../.."
out=${1:-build-cost}
mkdir -p "$out"
inc=(-Iinclude -I/usr/include/eigen3)
aarch64-linux-gnu-g++-12 -std=c++20 -O3 -DNDEBUG "${inc[@]}" -idirafter /usr/include -c bench/cost/arm_loops.cpp \
  -o "$out/arm.o"
aarch64-linux-gnu-objdump -d --no-show-raw-insn -C "$out/arm.o" >"$out/arm.dis"
g++-12 -std=c++20 -O3 -DNDEBUG "${inc[@]}" -c bench/cost/x86_loops.cpp -o "$out/x86.o"
objdump -d --no-show-raw-insn -C "$out/x86.o" >"$out/x86.dis"

# name | listing | function | key mnemonic | weights per iteration per plane (or pair) | planes per iteration
# (smmla-*: one chunk of a 16-row half block, 256 codes, against 2 or 4 tokens)
loops=(
  "arm-neon-lookup|arm|lut_segment<4, 0>|tbl|512|1"
  "arm-dotprod-unpack|arm|unpack_chunks<false>|cmtst|128|1"
  "arm-dotprod-sdot-1tok|arm|sdot_window<1>|sdot|512|1"
  "arm-dotprod-sdot-2tok|arm|sdot_window<2>|sdot|512|1"
  "arm-i8mm-smmla-2tok|arm|smmla_window<1>|smmla|256|1"
  "arm-i8mm-smmla-4tok|arm|smmla_window<2>|smmla|256|1"
  "arm-ternary-sdot-1tok|arm|ternary_sdot<1>|sdot|256|1"
  "arm-ternary-sdot-4tok|arm|ternary_sdot<4>|sdot|256|1"
  "arm-bitserial-cnt|arm|bitserial_window<false>|cnt|1024|1"
  "arm-fp4-mx-sdot-1tok|arm|fp4_sdot<0, 1>|sdot|128|1"
  "arm-fp4-mx-sdot-4tok|arm|fp4_sdot<0, 4>|sdot|128|1"
  "arm-fp4-bitmod-sdot-1tok|arm|fp4_sdot<2, 1>|sdot|128|1"
  "arm-fp4-mx-smull-1tok|arm|fp4_smull<0>|smull|128|1"
  "arm-int8-sdot-1tok|arm|int8_sdot<1>|sdot|512|1"
  "arm-int8-sdot-2tok|arm|int8_sdot<2>|sdot|512|1"
  "arm-int8-smull-1tok|arm|int8_smull_wrap|smull|512|1"
  "x86-avx2-lookup|x86|avx2::lut_segment<4, 0>|vpshufb|512|1"
  "x86-avx512-lookup|x86|lut_segment<4, 0, false, 1>|vpermb|512|4"
  "x86-avx512-fp4-mx-1tok|x86|fp4_rows<0, 1, 1>|vpdpbusd|128|1"
  "x86-avx512-int8-1tok|x86|vnni_tokens<1>|vpdpbusd|512|1"
)
arm_cpus=(neoverse-n1 neoverse-v1 apple-m1 cortex-a55)
x86_cpus=(skylake znver3 icelake-server)
printf '| loop | instructions / iteration | weights·planes / iteration | instructions / 64 weights / plane |'
printf ' llvm-mca cycles / iteration |\n|---|---|---|---|---|\n'
for l in "${loops[@]}"; do
  IFS='|' read -r name isa fn key weights planes <<<"$l"
  python3 bench/cost/loop.py "$out/$isa.dis" "$fn" "$key" >"$out/$name.s"
  n=$(($(wc -l <"$out/$name.s") - 1))
  per64=$(python3 -c "print(f'{$n * 64 / ($weights * $planes):.2f}')")
  cyc=""
  if [ "$isa" = arm ]; then cpus=("${arm_cpus[@]}") triple=(-mtriple=aarch64 -mattr=+dotprod,+i8mm); else cpus=("${x86_cpus[@]}") triple=(); fi
  for c in "${cpus[@]}"; do
    v=$(llvm-mca-14 "${triple[@]}" -mcpu="$c" -iterations=1000 "$out/$name.s" 2>/dev/null |
      awk '/Total Cycles/{printf "%.1f", $3 / 1000}') || true
    cyc+="$c ${v:-n/a}; "
  done
  echo "| $name | $n | $weights × $planes | $per64 | ${cyc%; } |"
done
