// fp32 matmul C[M, N] = A[M, K] * B[K, N] (row-major) written as loop IR in two forms: the naive
// triple loop, and a tiled, vectorised, parallel schedule of the kind the auto-scheduler is meant
// to find. Shared by the benchmark (bench/matmul_vs_openblas.cc), the demo and the codegen tests
// (tests/codegen/test_matmul.cc), so that what is timed is also what is tested.
//
// The tiled schedule:
//   Bp = allocate [N / cols][K][cols]                 B packed in column panels
//   parallel jo:  for k:  vectorized j:  Bp[jo, k, j] = B[k, jo * cols + j]
//   parallel ib (blocks of `row_block` rows):
//     for jo (column panels):  for ii (register tiles of `rows` rows):
//       Acc = allocate local [rows][cols]             accumulators, kept in registers
//       unrolled r, unrolled v, vectorized j:  Acc[r, v * lanes + j] = 0
//       for k:  unrolled r, unrolled v, vectorized j:
//         Acc[r, v * lanes + j] += A[i, k] * Bp[jo, k, v * lanes + j]    (A[i, k] broadcast)
//       unrolled r, unrolled v, vectorized j:  C[i, jo * cols + v * lanes + j] = Acc[r, ...]
// With rows = 8, cols = 32 and 16 lanes the k loop holds 16 zmm accumulators and issues 16 FMAs
// per step against 2 vector loads of Bp and 8 broadcasts of A.
#pragma once

#include <algorithm>
#include <functional>
#include <string>

#include "tessel/ir/error.h"
#include "tessel/ir/stmt.h"

namespace tessel::bench {

struct MatmulTiling {
  int rows = 8;        // rows of the register tile
  int cols = 32;       // columns of the register tile (= width of a packed B panel)
  int row_block = 64;  // rows per parallel task unit (the A block reused across B panels)
  int lanes = 16;      // vector width in float32 lanes
};

// The register tile for a CPU's widest float vector: 8 rows x 2 vectors (16 accumulators of the
// 32 AVX-512 registers), or 4 rows x 2 vectors below 512 bits (8 of AVX2's 16 registers; 8 rows
// there spill the accumulators).
inline MatmulTiling tiling_for_vector_bits(int vector_bits) {
  MatmulTiling t;
  if (vector_bits < 512) {
    t.lanes = std::max(4, vector_bits / 32);
    t.cols = 2 * t.lanes;
    t.rows = 4;
  }
  return t;
}

// C[i, j] = sum_k A[i, k] * B[k, j], accumulated in C (which it zeroes first).
inline PrimFunc make_naive_matmul(int m, int n, int k, const std::string& name = "matmul_naive") {
  const DataType f32 = DataType::Float(32);
  Buffer a = make_buffer("A", f32, {m, k}), b = make_buffer("B", f32, {k, n}), c = make_buffer("C", f32, {m, n});
  Var i("i"), j("j"), r("k");
  Stmt init = make_store(c, make_float(f32, 0.0), {i, j});
  Stmt update = make_for(r, 0, k, ForKind::kSerial, make_store(c, c({i, j}) + a({i, r}) * b({r, j}), {i, j}));
  Stmt body = make_for(i, 0, m, ForKind::kSerial, make_for(j, 0, n, ForKind::kSerial, make_seq({init, update})));
  return make_prim_func(name, {Param::of(a), Param::of(b), Param::of(c)}, body);
}

inline PrimFunc make_tiled_matmul(int m, int n, int k, const MatmulTiling& t = {},
                                  const std::string& name = "matmul_tiled") {
  user_check(t.cols % t.lanes == 0 && n % t.cols == 0 && t.row_block % t.rows == 0 && m % t.row_block == 0)
      << "matmul " << m << "x" << n << "x" << k << " does not divide into tiles of " << t.rows << "x" << t.cols
      << " rows/cols and " << t.row_block << "-row blocks";
  const DataType f32 = DataType::Float(32);
  const int panels = n / t.cols, vectors = t.cols / t.lanes;
  Buffer a = make_buffer("A", f32, {m, k}), b = make_buffer("B", f32, {k, n}), c = make_buffer("C", f32, {m, n});
  Buffer packed = make_buffer("Bp", f32, {panels, k, t.cols});
  Buffer acc = make_buffer("Acc", f32, {t.rows, t.cols}, {}, MemoryScope::kLocal);

  // Packing: one panel per parallel iteration.
  Var pj("pj"), pk("pk"), pv("pv"), pl("pl");
  Expr pcol = pv * t.lanes + pl;
  Stmt pack = make_for(
      pj, 0, panels, ForKind::kParallel,
      make_for(pk, 0, k, ForKind::kSerial,
               make_for(pv, 0, vectors, ForKind::kUnrolled,
                        make_for(pl, 0, t.lanes, ForKind::kVectorized,
                                 make_store(packed, b({pk, pj * t.cols + pcol}), {pj, pk, pcol})))));

  // The register-tile loops over (r, v, lane) around a statement.
  auto over_tile = [&](const std::function<Stmt(Expr row, Expr col)>& body) {
    Var r("r"), v("v"), l("l");
    return make_for(r, 0, t.rows, ForKind::kUnrolled,
                    make_for(v, 0, vectors, ForKind::kUnrolled,
                             make_for(l, 0, t.lanes, ForKind::kVectorized, body(r, v * t.lanes + l))));
  };
  Var ib("ib"), jo("jo"), ii("ii"), kk("k");
  Expr row0 = ib * t.row_block + ii * t.rows;
  Stmt zero = over_tile([&](Expr r, Expr col) { return make_store(acc, make_float(f32, 0.0), {r, col}); });
  Stmt update = make_for(kk, 0, k, ForKind::kSerial, over_tile([&](Expr r, Expr col) {
                           return make_store(acc, acc({r, col}) + a({row0 + r, kk}) * packed({jo, kk, col}), {r, col});
                         }));
  Stmt write = over_tile([&](Expr r, Expr col) { return make_store(c, acc({r, col}), {row0 + r, jo * t.cols + col}); });
  Stmt tile = make_allocate(acc, make_seq({zero, update, write}));
  Stmt compute = make_for(ib, 0, m / t.row_block, ForKind::kParallel,
                          make_for(jo, 0, panels, ForKind::kSerial,
                                   make_for(ii, 0, t.row_block / t.rows, ForKind::kSerial, tile)));
  return make_prim_func(name, {Param::of(a), Param::of(b), Param::of(c)}, make_allocate(packed, make_seq({pack, compute})));
}

}  // namespace tessel::bench
