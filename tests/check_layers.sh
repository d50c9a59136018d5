#!/usr/bin/env bash
# Every #include of a bitdial header points down (or sideways inside its layer), never up. The layers,
# bottom to top (ARCHITECTURE.md):
#   0 core/       errors, matrices, bits, rounding, CPU features and target macros, thread pool
#   1 quant/      quantizers: float → codes + scales (offline)
#   2 format/     stored layouts: bit-plane stacks, slice stacks, file readers and writers
#   3 select/     views: view(b), slice views, policies, fits
#   4 kernels     kernels/{reference,portable,x86,arm}/ and their shared parts (kernels/*.hpp not
#                 listed as front doors below): dispatch table, epilogue, operands
#   5 front doors kernels/{gemm,bitserial,ternary,minifloat_gemm,slices,int8_gemm}.hpp: validate,
#                 resolve, run
#   6 top         analysis/, eigen.hpp, serving.hpp, bitdial.hpp
# A header the rules do not place is an error too, so a new folder must be given a layer here.
# Usage: bash tests/check_layers.sh [include-root]   (default: the repository's include/)
set -euo pipefail
root=${1:-$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)/include}
front_doors=" kernels/gemm.hpp kernels/bitserial.hpp kernels/ternary.hpp kernels/minifloat_gemm.hpp kernels/slices.hpp kernels/int8_gemm.hpp "

layer_of() {  # path relative to include/bitdial
  local p=$1
  case "$p" in
    core/*) echo 0 ;;
    quant/*) echo 1 ;;
    format/*) echo 2 ;;
    select/*) echo 3 ;;
    kernels/*)
      if [[ "$front_doors" == *" $p "* ]]; then echo 5; else echo 4; fi ;;
    analysis/* | eigen.hpp | serving.hpp | bitdial.hpp) echo 6 ;;
    *) echo -1 ;;
  esac
}

names=(core quant format select kernels "front doors" top)
bad=0
checked=0
cd "$root/bitdial"
while IFS= read -r h; do
  h=${h#./}
  from=$(layer_of "$h")
  if ((from < 0)); then
    echo "check_layers: bitdial/$h: no layer (give its folder one in tests/check_layers.sh)"
    bad=1
    continue
  fi
  while IFS= read -r inc; do
    to=$(layer_of "$inc")
    checked=$((checked + 1))
    if ((to < 0)); then
      echo "check_layers: bitdial/$h includes bitdial/$inc: no layer"
      bad=1
    elif ((to > from)); then
      echo "check_layers: back-edge: bitdial/$h (${names[$from]}) includes bitdial/$inc (${names[$to]})"
      bad=1
    fi
  done < <(sed -n -E 's@^[[:space:]]*#[[:space:]]*include[[:space:]]*[<"]bitdial/([^">]+)[">].*@\1@p' "$h")
done < <(find . -name '*.hpp' | LC_ALL=C sort)
if ((bad)); then
  echo "check_layers: FAILED"
  exit 1
fi
echo "check_layers: $checked includes, none points up a layer"
