// The bias of gemm_params belongs to the rows of the view it is passed with: a tensor-parallel
// shard passes the bias of its own rows (bias[0] is the shard's first row). Every ISA reads
// exactly rows() values — the bias vectors here are allocated to that size, so an over-read is a
// heap-buffer-overflow under AddressSanitizer — and adds bias[r] to view row r.
#include <bitdial/kernels/gemm.hpp>
#include <bitdial/quant/uniform.hpp>

#include "test_support.hpp"

using namespace bitdial;

TEST_CASE("shard bias: view-relative on every ISA, exact-size bias", "[kernels][shard][bias]") {
  BITDIAL_LOG_SEED();
  const std::size_t M = 96, K = 64;
  const auto w = test::heavy_tailed(M * K, 1);
  const auto m = uniform_symmetric<8>({.gran = granularity::per_group(32)}).quantize(const_matrix(w.data(), M, K));
  const auto st = bit_plane_stack::pack(m);
  const auto x = test::normal(2 * K, 2);
  const auto q = per_token_quantizer<8>().quantize(const_matrix(x.data(), 2, K));
  const token_batch t = as_tokens(q);
  for (const int b : {1, 4, 8})
    for (const auto& [r0, r1] : {std::pair<std::size_t, std::size_t>{32, 64}, {5, 70}, {90, 96}}) {
      const plane_view whole = view(st, b);
      const plane_view sh = shard(whole, r0, r1);
      const std::size_t rows = r1 - r0;
      std::vector<float> bias(rows);  // exactly the shard's rows
      for (std::size_t r = 0; r < rows; ++r) bias[r] = 1000.0f * float(r + 1);
      std::vector<float> plain(2 * rows);
      gemm(sh, t, matrix_view<float>(plain.data(), 2, rows), {}, {.isa = kernel_isa::reference});
      for (const kernel_isa isa : available_isas()) {
        if (isa == kernel_isa::portable && !(K % 4 == 0)) continue;
        INFO("b = " << b << ", shard [" << r0 << ", " << r1 << "), isa = " << to_string(isa));
        std::vector<float> y(2 * rows, -1.0f);
        gemm(sh, t, matrix_view<float>(y.data(), 2, rows), {.bias = bias.data()}, {.isa = isa});
        for (std::size_t n = 0; n < 2; ++n)
          for (std::size_t r = 0; r < rows; ++r) REQUIRE(y[n * rows + r] == bias[r] + plain[n * rows + r]);
      }
    }
}
