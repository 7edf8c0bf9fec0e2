// A register-blocked single-precision micro-GEMM for the skinny products of small convolutions:
//   C[M][N] (+)= A[M][K] · B[K][N],  row-major, N a multiple of 32.
// oneDNN's sgemm is tuned for large matrices; here M is the channel count (6–64) and N one image's output
// plane (64–576 columns), where its call and packing overhead dominate. An MB×32 tile keeps 2·MB
// accumulators in vector registers (MB = 12 → 24 of the 32 AVX-512 registers), so each pair of B loads
// feeds 2·MB fused multiply-adds. GCC vector extensions keep it portable: without AVX-512 a 16-float vector
// becomes two AVX2 registers.
#pragma once
#include <cstdint>
#include <cstring>
#include <utility>

namespace sf::microgemm {

typedef float v16 __attribute__((vector_size(64)));

inline v16 load(const float* p) {
  v16 v;
  std::memcpy(&v, p, sizeof v);
  return v;
}
inline void store(float* p, v16 v) { std::memcpy(p, &v, sizeof v); }

template <int MB>
inline void tile(int64_t K, const float* A, int64_t lda, const float* B, int64_t ldb, float* C, int64_t ldc,
                 bool accumulate) {
  v16 lo[MB], hi[MB];
  for (int q = 0; q < MB; ++q) {
    lo[q] = accumulate ? load(C + q * ldc) : v16{};
    hi[q] = accumulate ? load(C + q * ldc + 16) : v16{};
  }
  for (int64_t k = 0; k < K; ++k) {
    const v16 b0 = load(B + k * ldb), b1 = load(B + k * ldb + 16);
    for (int q = 0; q < MB; ++q) {
      const float a = A[q * lda + k];
      lo[q] += a * b0;
      hi[q] += a * b1;
    }
  }
  for (int q = 0; q < MB; ++q) {
    store(C + q * ldc, lo[q]);
    store(C + q * ldc + 16, hi[q]);
  }
}

template <int... I>
inline void tile_rows(int rows, std::integer_sequence<int, I...>, int64_t K, const float* A, int64_t lda,
                      const float* B, int64_t ldb, float* C, int64_t ldc, bool acc) {
  ((rows == I + 1 ? tile<I + 1>(K, A, lda, B, ldb, C, ldc, acc) : void()), ...);
}

constexpr int kMaxRows = 12;

// C[M][N] (+)= A[M][K] · B[K][N]; N % 32 == 0; lda ≥ K, ldb ≥ N, ldc ≥ N.
inline void gemm(int64_t M, int64_t N, int64_t K, const float* A, int64_t lda, const float* B, int64_t ldb, float* C,
                 int64_t ldc, bool accumulate) {
  for (int64_t m0 = 0; m0 < M; m0 += kMaxRows) {
    const int rows = static_cast<int>(M - m0 < kMaxRows ? M - m0 : kMaxRows);
    for (int64_t n0 = 0; n0 < N; n0 += 32)
      tile_rows(rows, std::make_integer_sequence<int, kMaxRows>{}, K, A + m0 * lda, lda, B + n0, ldb,
                C + m0 * ldc + n0, ldc, accumulate);
  }
}

inline int64_t round_up32(int64_t n) { return (n + 31) / 32 * 32; }

}  // namespace sf::microgemm
