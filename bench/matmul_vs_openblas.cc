// Benchmark: fp32 matmul 1024x1024x1024 on 2 threads, Tessel's tiled/packed/vectorised/parallel
// loop IR (bench/matmul_schedule.h) compiled through the LLVM JIT, against OpenBLAS cblas_sgemm.
// Prints a table: workload, Tessel, OpenBLAS, ratio (Tessel throughput / OpenBLAS throughput).
//
// Run it with OpenBLAS free to pick its AVX-512 kernel; this machine exports
// OPENBLAS_CORETYPE=Haswell, which halves OpenBLAS's speed:
//     env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE build/bin/matmul_vs_openblas
// Options: --quick (512^3, 10 runs), --size N, --runs R (default 30, after 5 warm-up rounds),
// --threads T (default 2), --tile ROWSxCOLS and --block ROWS to try other register tiles and
// row blocks. Both sides get the same threads (TESSEL_NUM_THREADS, openblas_set_num_threads). The Tessel time
// includes packing B. Results are checked against OpenBLAS before anything is timed.
#include <cblas.h>

#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>

#include "bench_util.h"
#include "matmul_schedule.h"
#include "tessel/codegen/llvm.h"
#include "tessel/runtime/parallel.h"

extern "C" void openblas_set_num_threads(int num_threads);
extern "C" char* openblas_get_corename(void);

namespace {

using tessel::bench::FloatArray;

struct Options {
  int size = 1024;
  int runs = 30;
  int threads = 2;
  tessel::bench::MatmulTiling tiling;
};

Options parse_options(int argc, char** argv) {
  Options options;
  options.tiling = tessel::bench::tiling_for_vector_bits(tessel::codegen::Target::host().vector_bits);
  for (int i = 1; i < argc; ++i) {
    std::string arg = argv[i];
    auto next = [&]() -> std::string {
      if (i + 1 >= argc) {
        std::fprintf(stderr, "error: %s needs a value\n", arg.c_str());
        std::exit(2);
      }
      return argv[++i];
    };
    if (arg == "--quick") {
      options.size = 512;
      options.runs = 10;
    } else if (arg == "--size") {
      options.size = std::atoi(next().c_str());
    } else if (arg == "--runs") {
      options.runs = std::atoi(next().c_str());
    } else if (arg == "--tile") {
      std::string value = next();
      if (std::sscanf(value.c_str(), "%dx%d", &options.tiling.rows, &options.tiling.cols) != 2) {
        std::fprintf(stderr, "error: --tile wants ROWSxCOLS, got %s\n", value.c_str());
        std::exit(2);
      }
    } else if (arg == "--threads") {
      options.threads = std::atoi(next().c_str());
    } else if (arg == "--block") {
      options.tiling.row_block = std::atoi(next().c_str());
    } else {
      std::fprintf(stderr, "usage: %s [--quick] [--size N] [--runs R] [--threads T] [--tile ROWSxCOLS] [--block ROWS]\n", argv[0]);
      std::exit(2);
    }
  }
  return options;
}

}  // namespace

int main(int argc, char** argv) {
  Options options = parse_options(argc, argv);
  const int threads = options.threads;
  setenv("TESSEL_NUM_THREADS", std::to_string(threads).c_str(), 1);  // before the pool starts
  openblas_set_num_threads(threads);
  const int n = options.size;
  const tessel::codegen::Target target = tessel::codegen::Target::host();

  tessel::PrimFunc func;
  tessel::codegen::JitModule module;
  try {
    func = tessel::bench::make_tiled_matmul(n, n, n, options.tiling, "matmul");
    double compile_ms = tessel::bench::elapsed_ms([&] { module = tessel::codegen::JitModule::compile({func}, target); });
    std::printf("target       %s\n", target.to_string().c_str());
    std::printf("tiling       %dx%d register tile, %d-row blocks, %d lanes; compiled in %.0f ms\n",
                options.tiling.rows, options.tiling.cols, options.tiling.row_block, options.tiling.lanes, compile_ms);
  } catch (const std::exception& error) {
    std::fprintf(stderr, "error: %s\n", error.what());
    return 1;
  }
  tessel::codegen::JitFunction matmul = module.get_function("matmul");
  std::printf("threads      Tessel %d, OpenBLAS %d (core: %s)\n", tessel_num_threads(), threads, openblas_get_corename());

  FloatArray a(size_t(n) * n), b(size_t(n) * n), c_tessel(size_t(n) * n), c_blas(size_t(n) * n);
  a.fill_random(1);
  b.fill_random(2);
  auto run_tessel = [&] { matmul.call({a.data(), b.data(), c_tessel.data()}); };
  auto run_blas = [&] {
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, n, n, n, 1.0f, a.data(), n, b.data(), n, 0.0f,
                c_blas.data(), n);
  };

  // Correctness first: every element within 1e-4 of the largest |C| (fp32 sums of n products).
  run_tessel();
  run_blas();
  double scale = 0, worst = 0;
  for (size_t i = 0; i < c_blas.size(); ++i) {
    scale = std::max(scale, static_cast<double>(std::fabs(c_blas[i])));
    worst = std::max(worst, static_cast<double>(std::fabs(c_tessel[i] - c_blas[i])));
  }
  if (!(worst <= 1e-4 * scale) || scale == 0) {
    std::fprintf(stderr, "error: Tessel's result differs from OpenBLAS: max |diff| %g, max |C| %g\n", worst, scale);
    return 1;
  }
  std::printf("check        max |C_tessel - C_openblas| = %.3g (max |C| = %.3g)\n", worst, scale);

  auto [tessel_ms, blas_ms] = tessel::bench::interleaved_median_ms(run_tessel, run_blas, 5, options.runs);
  double tessel_gflops = tessel::bench::gflops(n, n, n, tessel_ms);
  double blas_gflops = tessel::bench::gflops(n, n, n, blas_ms);
  std::printf("\nmedian of %d runs after 5 warm-up rounds\n", options.runs);
  std::printf("%-28s %-26s %-26s %s\n", "workload", "Tessel", "OpenBLAS", "ratio");
  char workload[64], tessel_text[64], blas_text[64];
  std::snprintf(workload, sizeof workload, "sgemm %dx%dx%d, %d thr", n, n, n, threads);
  std::snprintf(tessel_text, sizeof tessel_text, "%.3f ms (%.1f GFLOP/s)", tessel_ms, tessel_gflops);
  std::snprintf(blas_text, sizeof blas_text, "%.3f ms (%.1f GFLOP/s)", blas_ms, blas_gflops);
  std::printf("%-28s %-26s %-26s %.2fx\n", workload, tessel_text, blas_text, tessel_gflops / blas_gflops);
  return 0;
}
