#!/usr/bin/env bash
# Warning-free public headers across compilers and targets:
#   - every public header alone, twice (include guards), with -fsyntax-only, for each compiler in
#     BITDIAL_HEADERS_ALONE (default clang++-14: GCC's per-header check is the CMake target
#     bitdial_header_check, built with -Werror by the default test build);
#   - per compiler × -march (x86-64, x86-64-v3, native): one translation unit that includes every
#     public header and instantiates the main entry points, compiled with -O2 (so warnings that
#     need the optimizer, e.g. -Wmaybe-uninitialized inside inlined intrinsics, show up);
# all with -std=c++20 -Wall -Wextra -Wpedantic -Werror; dependencies (Eigen) are system headers, as
# CMake's imported targets make them for consumers. A compiler that is not installed is reported
# and skipped. Usage: bash tests/check_headers.sh [compiler...]; BITDIAL_JOBS (default 2).
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
compilers=("$@")
((${#compilers[@]})) || compilers=(g++-12 clang++-14)
marches=(x86-64 x86-64-v3 native)
jobs=${BITDIAL_JOBS:-2}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
flags=(-std=c++20 -Wall -Wextra -Wpedantic -Werror -I"$root/include" -isystem /usr/include/eigen3)
alone=(${BITDIAL_HEADERS_ALONE-clang++-14})

mapfile -t headers < <(cd "$root/include" && find bitdial -name '*.hpp' | LC_ALL=C sort)
for h in "${headers[@]}"; do
  id=$(echo "$h" | tr '/.' '__')
  printf '#include <%s>\n#include <%s>\n' "$h" "$h" > "$work/h_$id.cpp"
done
{
  for h in "${headers[@]}"; do printf '#include <%s>\n' "$h"; done
  cat <<'CPP'
// Instantiates the main paths so -O2 sees real code.
namespace bd = bitdial;
void bitdial_header_check_use(const float* w, const float* x, float* y) {
  const bd::const_matrix W(w, 64, 128), X(x, 2, 128);
  const auto master = bd::double_rounding<8>().quantize_master(W, bd::granularity::per_group(32));
  const auto stack = bd::bit_plane_stack::pack(master);
  for (int b = 1; b <= 8; ++b) bd::gemm(bd::view(stack, b, bd::rounding::half_even), X, bd::matrix_view<float>(y, 2, 64));
  const auto slices = bd::plane_slice_stack::pack(bd::uniform_residual({2, 2}).quantize(W));
  const auto q = bd::per_token_quantizer<8>().quantize(X);
  bd::gemm_slices(slices.view_slices(2), bd::as_tokens(q), bd::matrix_view<float>(y, 2, 64));
  const auto file = bd::serialize(stack);
  (void)bd::deserialize(file.data(), file.size());
}
CPP
} > "$work/all.cpp"

jobs_file="$work/jobs"
: > "$jobs_file"
for cxx in "${alone[@]}"; do
  if ! command -v "$cxx" >/dev/null; then echo "check_headers: $cxx not installed, skipped"; continue; fi
  for tu in "$work"/h_*.cpp; do echo "$cxx -fsyntax-only $tu" >> "$jobs_file"; done
done
for cxx in "${compilers[@]}"; do
  if ! command -v "$cxx" >/dev/null; then echo "check_headers: $cxx not installed, skipped"; continue; fi
  for march in "${marches[@]}"; do echo "$cxx -march=$march -O2 -c $work/all.cpp -o /dev/null" >> "$jobs_file"; done
done
export FLAGS="${flags[*]}"
# Each job prints its command on failure; xargs exits non-zero if any job failed.
if ! xargs -P "$jobs" -I{} sh -c 'cmd="{}"; set -- $cmd; cxx=$1; shift; "$cxx" $FLAGS "$@" 2>&1 || { echo "check_headers: FAILED: $cmd"; exit 1; }' < "$jobs_file"; then
  echo "check_headers: warnings or errors (see above)"
  exit 1
fi
echo "check_headers: $(wc -l < "$jobs_file") compilations clean (${#headers[@]} headers alone with ${alone[*]}; all together with ${compilers[*]} x ${marches[*]})"
