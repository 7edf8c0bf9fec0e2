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
typedef float v8 __attribute__((vector_size(32)));

// Unaligned vector loads and stores (memcpy compiles to one move).
template <class V>
inline V load_as(const float* p) {
  V v;
  std::memcpy(&v, p, sizeof v);
  return v;
}
template <class V>
inline void store_as(float* p, V v) {
  std::memcpy(p, &v, sizeof v);
}
inline v16 load(const float* p) { return load_as<v16>(p); }
inline void store(float* p, v16 v) { store_as(p, v); }
inline v8 load8(const float* p) { return load_as<v8>(p); }
inline void store8(float* p, v8 v) { store_as(p, v); }

// One MB×32 tile: C[0:MB][0:32] (+)= A[0:MB][0:K] · B[0:K][0:32], where rows(k) points at row k of B. The
// row accessor lets the same tile serve a plain matrix (B + k·ldb) and an implicit one (base + off[k]).
template <int MB, class Rows>
inline void tile(int64_t K, const float* A, int64_t lda, Rows rows, float* C, int64_t ldc, bool accumulate) {
  v16 lo[MB], hi[MB];
  for (int q = 0; q < MB; ++q) {
    lo[q] = accumulate ? load(C + q * ldc) : v16{};
    hi[q] = accumulate ? load(C + q * ldc + 16) : v16{};
  }
  for (int64_t k = 0; k < K; ++k) {
    const float* b = rows(k);
    const v16 b0 = load(b), b1 = load(b + 16);
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

constexpr int kMaxRows = 12;

template <class Rows, int... I>
inline void tile_rows(int rows, std::integer_sequence<int, I...>, int64_t K, const float* A, int64_t lda, Rows b,
                      float* C, int64_t ldc, bool acc) {
  ((rows == I + 1 ? tile<I + 1>(K, A, lda, b, C, ldc, acc) : void()), ...);
}

// C[M][N] (+)= A[M][K] · B, B given as rows_at(n0) → (k → pointer to B[k][n0]); N % 32 == 0.
template <class RowsAt>
inline void gemm_rows(int64_t M, int64_t N, int64_t K, const float* A, int64_t lda, RowsAt rows_at, float* C,
                      int64_t ldc, bool accumulate) {
  for (int64_t m0 = 0; m0 < M; m0 += kMaxRows) {
    const int rows = static_cast<int>(M - m0 < kMaxRows ? M - m0 : kMaxRows);
    for (int64_t n0 = 0; n0 < N; n0 += 32)
      tile_rows(rows, std::make_integer_sequence<int, kMaxRows>{}, K, A + m0 * lda, lda, rows_at(n0), C + m0 * ldc + n0,
                ldc, accumulate);
  }
}

// C[M][N] (+)= A[M][K] · B[K][N]; N % 32 == 0; lda ≥ K, ldb ≥ N, ldc ≥ N.
inline void gemm(int64_t M, int64_t N, int64_t K, const float* A, int64_t lda, const float* B, int64_t ldb, float* C,
                 int64_t ldc, bool accumulate) {
  gemm_rows(
      M, N, K, A, lda, [=](int64_t n0) { return [=](int64_t k) { return B + k * ldb + n0; }; }, C, ldc, accumulate);
}

// Implicit-GEMM form: row k of B starts at base + off[k] (rows may overlap, as the shifted input rows of an
// unpadded stride-1 convolution do), so no im2col copy is needed. C[M][N] = A[M][K] · B; N % 32 == 0.
inline void gemm_offsets(int64_t M, int64_t N, int64_t K, const float* A, int64_t lda, const float* base,
                         const int64_t* off, float* C, int64_t ldc) {
  gemm_rows(
      M, N, K, A, lda, [=](int64_t n0) { return [=](int64_t k) { return base + off[k] + n0; }; }, C, ldc, false);
}

inline float hsum(v16 v) {
  float s = 0.0f;
  for (int i = 0; i < 16; ++i) s += v[i];
  return s;
}

// Dot-product form for weight gradients, summed over a group of images g < G:
//   C[m][k] += Σ_g Σ_n A_g[m][n] · B_g[k][n],  A_g = A + g·a_stride, B_g[k][n] = base[g·b_stride + off[k] + n]
// for n < N (N % 16 == 0). An MB×NB block keeps MB·NB accumulators; each 16-wide step loads MB + NB vectors
// for MB·NB FMAs, and the horizontal sums happen once per group, not per image.
struct DotBatch {
  int64_t count;     // images in the group
  int64_t a_stride;  // floats between consecutive images' A
  int64_t b_stride;  // floats between consecutive images' B base
};

template <int MB, int NB>
inline void dot_tile(const DotBatch& gb, int64_t N, const float* A, int64_t lda, const float* base, const int64_t* off,
                     float* C, int64_t ldc) {
  v16 acc[MB][NB] = {};
  for (int64_t g = 0; g < gb.count; ++g) {
    const float* Ag = A + g * gb.a_stride;
    const float* Bg = base + g * gb.b_stride;
    for (int64_t n = 0; n < N; n += 16) {
      v16 b[NB];
      for (int j = 0; j < NB; ++j) b[j] = load(Bg + off[j] + n);
      for (int i = 0; i < MB; ++i) {
        const v16 a = load(Ag + i * lda + n);
        for (int j = 0; j < NB; ++j) acc[i][j] += a * b[j];
      }
    }
  }
  for (int i = 0; i < MB; ++i)
    for (int j = 0; j < NB; ++j) C[i * ldc + j] += hsum(acc[i][j]);
}

constexpr int kDotRows = 6, kDotCols = 4;

template <int NB, int... I>
inline void dot_rows(int rows, std::integer_sequence<int, I...>, const DotBatch& gb, int64_t N, const float* A,
                     int64_t lda, const float* base, const int64_t* off, float* C, int64_t ldc) {
  ((rows == I + 1 ? dot_tile<I + 1, NB>(gb, N, A, lda, base, off, C, ldc) : void()), ...);
}

// C[M][K] += Σ_g A_g[M][N] · B_gᵀ with B_g[k][n] = base[g·b_stride + off[k] + n]; N % 16 == 0.
inline void gemm_dot_offsets(const DotBatch& gb, int64_t M, int64_t K, int64_t N, const float* A, int64_t lda,
                             const float* base, const int64_t* off, float* C, int64_t ldc) {
  const auto seq = std::make_integer_sequence<int, kDotRows>{};
  for (int64_t m0 = 0; m0 < M; m0 += kDotRows) {
    const int rows = static_cast<int>(M - m0 < kDotRows ? M - m0 : kDotRows);
    int64_t k0 = 0;
    for (; k0 + kDotCols <= K; k0 += kDotCols)
      dot_rows<kDotCols>(rows, seq, gb, N, A + m0 * lda, lda, base, off + k0, C + m0 * ldc + k0, ldc);
    for (; k0 < K; ++k0) dot_rows<1>(rows, seq, gb, N, A + m0 * lda, lda, base, off + k0, C + m0 * ldc + k0, ldc);
  }
}

// ---- Row blocks: convolutions whose output rows are a multiple of 8 wide -----------------------------------
// The wide forms above compute whole input-width rows and drop the last KW−1 columns: a third of the work for
// conv2 of the Liu net (8 of 12 columns kept). With 8-float vectors the output row is covered exactly: block b
// (8 outputs of one row) reads row k of B at base + off[k] + boff[b]. Half-width vectors issue two per cycle
// where full-width ones issue one, so nothing is lost per multiply-add.
inline float hsum8(v8 v) {
  float s = 0.0f;
  for (int i = 0; i < 8; ++i) s += v[i];
  return s;
}

// C[0:MB][blocks 0:NB] = bias + A[0:MB][0:K] · B; C's block j of row q at C + q·ldc + cboff[j].
template <int MB, int NB>
inline void tile8(int64_t K, const float* A, int64_t lda, const float* base, const int64_t* off, const int64_t* boff,
                  const float* bias, float* C, int64_t ldc, const int64_t* cboff) {
  v8 acc[MB][NB];
  for (int q = 0; q < MB; ++q)
    for (int j = 0; j < NB; ++j) acc[q][j] = bias ? v8{} + bias[q] : v8{};
  for (int64_t k = 0; k < K; ++k) {
    const float* b = base + off[k];
    v8 bv[NB];
    for (int j = 0; j < NB; ++j) bv[j] = load8(b + boff[j]);
    for (int q = 0; q < MB; ++q) {
      const float a = A[q * lda + k];
      for (int j = 0; j < NB; ++j) acc[q][j] += a * bv[j];
    }
  }
  for (int q = 0; q < MB; ++q)
    for (int j = 0; j < NB; ++j) store8(C + q * ldc + cboff[j], acc[q][j]);
}

template <int NB, int... I>
inline void tile8_rows(int rows, std::integer_sequence<int, I...>, int64_t K, const float* A, int64_t lda,
                       const float* base, const int64_t* off, const int64_t* boff, const float* bias, float* C,
                       int64_t ldc, const int64_t* cboff) {
  ((rows == I + 1 ? tile8<I + 1, NB>(K, A, lda, base, off, boff, bias, C, ldc, cboff) : void()), ...);
}

// C = bias (per row, may be null) + A[M][K] · B over 8-float blocks: B's row k block b at base + off[k] + boff[b],
// C's row m block b at C + m·ldc + cboff[b]. Tiles keep 24 accumulators as 6 rows × 4 blocks (10 loads per 24
// multiply-adds; 12 × 2 needs 14 and measured 5–10 % slower on the Liu convolutions).
inline void gemm_blocks(int64_t M, int64_t blocks, int64_t K, const float* A, int64_t lda, const float* base,
                        const int64_t* off, const int64_t* boff, const float* bias, float* C, int64_t ldc,
                        const int64_t* cboff) {
  const auto seq = std::make_integer_sequence<int, 6>{};
  for (int64_t m0 = 0; m0 < M; m0 += 6) {
    const int rows = static_cast<int>(M - m0 < 6 ? M - m0 : 6);
    const float* Am = A + m0 * lda;
    const float* bm = bias ? bias + m0 : nullptr;
    float* Cm = C + m0 * ldc;
    int64_t b0 = 0;
    for (; b0 + 4 <= blocks; b0 += 4)
      tile8_rows<4>(rows, seq, K, Am, lda, base, off, boff + b0, bm, Cm, ldc, cboff + b0);
    for (; b0 < blocks; ++b0) tile8_rows<1>(rows, seq, K, Am, lda, base, off, boff + b0, bm, Cm, ldc, cboff + b0);
  }
}

// Weight-gradient (dot) form over row blocks, summed over a group of images g:
//   C[m][k] += Σ_g Σ_b A_g[m][8b : 8b+8] · B_g[k, b],  B_g[k, b] = base[g·b_stride + off[k] + boff[b] : +8].
template <int MB, int NB>
inline void dot_tile8(const DotBatch& gb, int64_t blocks, const float* A, int64_t lda, const float* base,
                      const int64_t* off, const int64_t* boff, float* C, int64_t ldc) {
  v8 acc[MB][NB] = {};
  for (int64_t g = 0; g < gb.count; ++g) {
    const float* Ag = A + g * gb.a_stride;
    const float* Bg = base + g * gb.b_stride;
    for (int64_t b = 0; b < blocks; ++b) {
      v8 bv[NB];
      for (int j = 0; j < NB; ++j) bv[j] = load8(Bg + off[j] + boff[b]);
      for (int i = 0; i < MB; ++i) {
        const v8 a = load8(Ag + i * lda + 8 * b);
        for (int j = 0; j < NB; ++j) acc[i][j] += a * bv[j];
      }
    }
  }
  for (int i = 0; i < MB; ++i)
    for (int j = 0; j < NB; ++j) C[i * ldc + j] += hsum8(acc[i][j]);
}

template <int NB, int... I>
inline void dot8_rows(int rows, std::integer_sequence<int, I...>, const DotBatch& gb, int64_t blocks, const float* A,
                      int64_t lda, const float* base, const int64_t* off, const int64_t* boff, float* C, int64_t ldc) {
  ((rows == I + 1 ? dot_tile8<I + 1, NB>(gb, blocks, A, lda, base, off, boff, C, ldc) : void()), ...);
}

// 4 rows × 6 columns: each unaligned B load (an input row shifted by a tap) feeds 4 multiply-adds; measured
// 1.3–1.5× faster than 6 × 4 on the Liu convolutions' weight gradients.
constexpr int kDot8Rows = 4, kDot8Cols = 6;

// C[M][K] += Σ_g A_g[M][8·blocks] · B_gᵀ over row blocks (see dot_tile8).
inline void gemm_dot_blocks(const DotBatch& gb, int64_t M, int64_t K, int64_t blocks, const float* A, int64_t lda,
                            const float* base, const int64_t* off, const int64_t* boff, float* C, int64_t ldc) {
  const auto seq = std::make_integer_sequence<int, kDot8Rows>{};
  for (int64_t m0 = 0; m0 < M; m0 += kDot8Rows) {
    const int rows = static_cast<int>(M - m0 < kDot8Rows ? M - m0 : kDot8Rows);
    int64_t k0 = 0;
    for (; k0 + kDot8Cols <= K; k0 += kDot8Cols)
      dot8_rows<kDot8Cols>(rows, seq, gb, blocks, A + m0 * lda, lda, base, off + k0, boff, C + m0 * ldc + k0, ldc);
    for (; k0 < K; ++k0) dot8_rows<1>(rows, seq, gb, blocks, A + m0 * lda, lda, base, off + k0, boff, C + m0 * ldc + k0, ldc);
  }
}

inline int64_t round_up32(int64_t n) { return (n + 31) / 32 * 32; }

}  // namespace sf::microgemm
