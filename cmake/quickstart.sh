#!/usr/bin/env bash
# Sets up a Debian 12 machine for bitdial and runs one of its jobs:
#   bash cmake/quickstart.sh demo [demo args...]   build and run the elastic-serving demo
#   bash cmake/quickstart.sh test                  build and run the whole test suite
#   bash cmake/quickstart.sh bench [bench args...] build and run bitdial_bench
#   bash cmake/quickstart.sh report [bench args...] run the PERF.md rows of bitdial_bench (GEMV, read,
#                                                  int8, Eigen, switch; 3 repetitions, a few minutes)
#                                                  and write the report: markdown tables + SVG plot in
#                                                  $BITDIAL_REPORT_DIR (default <build>/bench_report)
# Installs only missing Debian packages (apt-get, as root or through sudo), configures a Release
# build in ./build (override with BITDIAL_BUILD_DIR) and builds with -j2.
set -euo pipefail
job=${1:-test}; shift || true
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
build=${BITDIAL_BUILD_DIR:-$root/build}

# clang-14 and libclang-rt-14-dev (libFuzzer, sanitizer runtimes): the header matrix and fuzz jobs of .ci/run.
packages=(cmake g++ make libeigen3-dev libxsimd-dev catch2 libbenchmark-dev nlohmann-json3-dev gnuplot-nox clang-14 libclang-rt-14-dev)
missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if ((${#missing[@]})); then
  echo "quickstart: installing ${missing[*]}"
  sudo=""; [ "$(id -u)" -ne 0 ] && sudo=sudo
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi

cmake -S "$root" -B "$build" -DCMAKE_BUILD_TYPE=Release ${BITDIAL_CMAKE_ARGS:-}
case "$job" in
  demo)
    cmake --build "$build" -j2 --target bitdial_demo
    "$build/examples/bitdial_demo" "$@" ;;
  test)
    cmake --build "$build" -j2
    ctest --test-dir "$build" --output-on-failure -j2 "$@" ;;
  bench)
    cmake --build "$build" -j2 --target bitdial_bench
    "$build/bench/bitdial_bench" "$@" ;;
  report)
    cmake --build "$build" -j2 --target bitdial_bench bitdial_bench_report
    out=${BITDIAL_REPORT_DIR:-$build/bench_report}
    mkdir -p "$out"
    # Later flags override these, e.g. --benchmark_filter='gemv/truncation.*threads:2'.
    "$build/bench/bitdial_bench" \
      --benchmark_filter='^(gemv|read)/(truncation|double_rounding|int8_dot|eigen_f32|stream)/.*n:1/|^switch/' \
      --benchmark_min_time=0.1 --benchmark_repetitions=3 --benchmark_report_aggregates_only=true \
      --benchmark_out="$out/bench.json" --benchmark_out_format=json "$@"
    "$build/bench/bitdial_bench_report" "$out/bench.json" --out "$out/report" ;;
  *) echo "quickstart: unknown job '$job' (demo | test | bench | report)" >&2; exit 2 ;;
esac
