// `tessel demo`: a short tour of the compiler's back end. Builds a 512x512x512 fp32 matmul as a
// tiled, vectorised, parallel loop-IR schedule, compiles it through the LLVM JIT for this CPU,
// shows the lowered loop IR it compiled (abbreviated), checks the result against a reference,
// and reports time, GFLOP/s and, when OpenBLAS is linked in, the ratio to cblas_sgemm.
// Usage: tessel_demo [--size N] (N a multiple of 64).
#include <cctype>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <sstream>
#include <string>

#include "bench_util.h"
#include "matmul_schedule.h"
#include "tessel/codegen/llvm.h"
#include "tessel/ir/printer.h"
#include "tessel/runtime/parallel.h"

#ifdef TESSEL_HAVE_OPENBLAS
#include <cblas.h>
extern "C" void openblas_set_num_threads(int num_threads);
#endif

namespace {

using tessel::bench::FloatArray;

// Prints text indented, collapsing each run of lines that differ only in their numbers (the
// copies made by unrolling) into its first line and a count, and stopping after max_lines.
void print_abbreviated(const std::string& text, int max_lines) {
  auto shape_of = [](const std::string& line) {
    std::string shape;
    for (char ch : line) {
      if (std::isdigit(static_cast<unsigned char>(ch))) {
        if (shape.empty() || shape.back() != '#') shape += '#';
      } else {
        shape += ch;
      }
    }
    return shape;
  };
  std::istringstream stream(text);
  std::string line, previous_shape;
  int printed = 0, similar = 0, skipped = 0;
  auto flush_similar = [&] {
    if (similar > 0) std::printf("    ... %d more like the line above\n", similar);
    similar = 0;
  };
  while (std::getline(stream, line)) {
    std::string shape = shape_of(line);
    if (shape == previous_shape) {
      ++similar;
      continue;
    }
    flush_similar();
    previous_shape = shape;
    if (printed < max_lines) {
      std::printf("    %s\n", line.c_str());
      ++printed;
    } else {
      ++skipped;
    }
  }
  flush_similar();
  if (skipped > 0) std::printf("    ... (%d more lines)\n", skipped);
}

// C = A * B in plain C++ (i-k-j order, float accumulation in double).
void reference_matmul(const FloatArray& a, const FloatArray& b, std::vector<double>& c, int n) {
  std::fill(c.begin(), c.end(), 0.0);
  for (int i = 0; i < n; ++i)
    for (int k = 0; k < n; ++k) {
      const double aik = a[size_t(i) * n + k];
      for (int j = 0; j < n; ++j) c[size_t(i) * n + j] += aik * b[size_t(k) * n + j];
    }
}

}  // namespace

int main(int argc, char** argv) {
  int n = 512;
  for (int i = 1; i < argc; ++i) {
    std::string arg = argv[i];
    if (arg == "--size" && i + 1 < argc) {
      n = std::atoi(argv[++i]);
    } else {
      std::fprintf(stderr, "usage: %s [--size N]\n", argv[0]);
      return 2;
    }
  }
  try {
    const tessel::codegen::Target target = tessel::codegen::Target::host();
    std::printf("Tessel demo: fp32 matmul %dx%dx%d through loop IR and the LLVM JIT\n\n", n, n, n);
    std::printf("target   %s\n", target.to_string().c_str());
    std::printf("         %d-bit vectors, %d runtime threads\n\n", target.vector_bits, tessel_num_threads());

    tessel::bench::MatmulTiling tiling = tessel::bench::tiling_for_vector_bits(target.vector_bits);
    tessel::PrimFunc func = tessel::bench::make_tiled_matmul(n, n, n, tiling, "matmul");
    tessel::codegen::JitModule module;
    double compile_ms = tessel::bench::elapsed_ms([&] { module = tessel::codegen::JitModule::compile({func}, target); });
    std::printf("schedule %dx%d register tile (%d-lane vectors), %d-row parallel blocks, B packed in panels\n",
                tiling.rows, tiling.cols, tiling.lanes, tiling.row_block);
    std::printf("lowered loop IR:\n");
    print_abbreviated(tessel::to_string(module.lowered_functions()[0]), 40);
    std::printf("compiled in %.0f ms\n\n", compile_ms);

    FloatArray a(size_t(n) * n), b(size_t(n) * n), c(size_t(n) * n);
    a.fill_random(1);
    b.fill_random(2);
    tessel::codegen::JitFunction matmul = module.get_function("matmul");
    matmul.call({a.data(), b.data(), c.data()});
    std::vector<double> expected(size_t(n) * n);
    reference_matmul(a, b, expected, n);
    double scale = 0, worst = 0;
    for (size_t i = 0; i < expected.size(); ++i) {
      scale = std::max(scale, std::fabs(expected[i]));
      worst = std::max(worst, std::fabs(c[i] - expected[i]));
    }
    const bool ok = worst <= 1e-4 * scale && scale > 0;
    std::printf("check    max |C - reference| = %.3g (max |C| = %.3g): %s\n", worst, scale, ok ? "OK" : "WRONG");
    if (!ok) return 1;

    auto run_tessel = [&] { matmul.call({a.data(), b.data(), c.data()}); };
#ifdef TESSEL_HAVE_OPENBLAS
    openblas_set_num_threads(tessel_num_threads());
    FloatArray c_blas(size_t(n) * n);
    auto run_blas = [&] {
      cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, n, n, n, 1.0f, a.data(), n, b.data(), n, 0.0f,
                  c_blas.data(), n);
    };
    auto [tessel_ms, blas_ms] = tessel::bench::interleaved_median_ms(run_tessel, run_blas, 3, 20);
    const double ours = tessel::bench::gflops(n, n, n, tessel_ms), theirs = tessel::bench::gflops(n, n, n, blas_ms);
    std::printf("time     Tessel   %.3f ms, %.1f GFLOP/s (median of 20)\n", tessel_ms, ours);
    std::printf("         OpenBLAS %.3f ms, %.1f GFLOP/s -> Tessel/OpenBLAS = %.2fx\n", blas_ms, theirs, ours / theirs);
    std::printf("         (OpenBLAS runs at half speed if OPENBLAS_CORETYPE=Haswell is set)\n");
#else
    auto [tessel_ms, unused] = tessel::bench::interleaved_median_ms(run_tessel, [] {}, 3, 20);
    (void)unused;
    std::printf("time     Tessel %.3f ms, %.1f GFLOP/s (median of 20)\n", tessel_ms, tessel::bench::gflops(n, n, n, tessel_ms));
#endif
  } catch (const std::exception& error) {
    std::fprintf(stderr, "error: %s\n", error.what());
    return 1;
  }
  return 0;
}
