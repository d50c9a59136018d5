#!/usr/bin/env bash
# Per-header compile cost: how long a translation unit that only includes <header> takes at -O2,
# the best of BITDIAL_TIMING_RUNS runs (default 2), slowest first, with the machine's load average
# (compile times on a busy machine are not comparable with a quiet one's: note the load).
#
#   bash tests/compile_times.sh                         every public header (but the two that need
#                                                       nlohmann-json)
#   bash tests/compile_times.sh bitdial/serving.hpp ... just these
#   bash tests/compile_times.sh --max 3 bitdial/serving.hpp
#                                                       fail if any listed header takes longer
# A budget holds on a quiet machine; on a busy one it is scaled by max(1, load average / cores)
# (printed), since every compile there is slower by about that factor. BITDIAL_TIMING_EXACT=1 keeps
# the budget as given.
# Environment: CXX (default g++-12), BITDIAL_EIGEN_INCLUDE (default /usr/include/eigen3),
# BITDIAL_TIMING_FLAGS (default -std=c++20 -O2).
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cxx=${CXX:-g++-12}
eigen=${BITDIAL_EIGEN_INCLUDE:-/usr/include/eigen3}
runs=${BITDIAL_TIMING_RUNS:-2}
read -r -a flags <<< "${BITDIAL_TIMING_FLAGS:--std=c++20 -O2}"
max=""
if [[ "${1:-}" == "--max" ]]; then
  max=$2
  shift 2
fi
headers=("$@")
if ((${#headers[@]} == 0)); then
  mapfile -t headers < <(cd "$root/include" && find bitdial -name '*.hpp' ! -name safetensors.hpp ! -name checkpoint_import.hpp | LC_ALL=C sort)
fi
load=$(cut -d' ' -f1 /proc/loadavg)
cores=$(nproc)
echo "compile_times: $cxx ${flags[*]}, best of $runs; load average: $(cut -d' ' -f1-3 /proc/loadavg) on $cores cores"
if [[ -n "$max" && "${BITDIAL_TIMING_EXACT:-0}" != 1 ]]; then
  scaled=$(awk -v m="$max" -v l="$load" -v c="$cores" 'BEGIN { f = l / c; if (f < 1) f = 1; printf "%.2f", m * f }')
  if [[ "$scaled" != "$(awk -v m="$max" 'BEGIN { printf "%.2f", m }')" ]]; then
    echo "compile_times: budget ${max} s scaled by the load to ${scaled} s"
  fi
  max=$scaled
fi
results=()
for h in "${headers[@]}"; do
  best=""
  for ((i = 0; i < runs; ++i)); do
    t0=$(date +%s%N)
    echo "#include <$h>" | "$cxx" "${flags[@]}" -I"$root/include" -isystem "$eigen" -x c++ -c - -o /dev/null
    t1=$(date +%s%N)
    ms=$(((t1 - t0) / 1000000))
    if [[ -z "$best" || $ms -lt $best ]]; then best=$ms; fi
  done
  results+=("$best $h")
done
status=0
while read -r ms h; do
  flag=""
  if [[ -n "$max" ]] && ((ms > $(awk -v m="$max" 'BEGIN { printf "%d", m * 1000 }'))); then
    flag="  over the budget of ${max} s"
    status=1
  fi
  printf '%8.2f s  %s%s\n' "$(awk -v m="$ms" 'BEGIN { print m / 1000 }')" "$h" "$flag"
done < <(printf '%s\n' "${results[@]}" | sort -rn)
exit $status
