// The lowering pipeline: a tiled matmul with a non-dividing split goes through lower() and still
// computes the matmul; the pass manager dumps changed IR (TESSEL_DUMP_IR), times passes
// (TESSEL_TIME_PASSES) and rejects a pass that leaves a variable unbound.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <sstream>

#include "pass_testing.h"
#include "tessel/ir/error.h"
#include "tessel/ir/functor.h"
#include "tessel/ir/lower.h"
#include "tessel/ir/settings.h"
#include "tessel/ir/structural.h"
#include "tessel/ir/transforms.h"

namespace tessel {
namespace {

using testing::element;
using testing::expect_same_results;

const DataType f32 = DataType::Float(32);

// C = A * B with M = 16, N = 20, K = 12: i split by 4 (parallel outer), j split by 8 with a
// guarded tail (20 = 2 * 8 + 4) and vectorized inside, k split by 4 with the inner part unrolled.
struct TiledMatmul {
  static constexpr int M = 16, N = 20, K = 12;
  Buffer A = make_buffer("A", f32, {M, K}), B = make_buffer("B", f32, {K, N}), C = make_buffer("C", f32, {M, N});
  Var io{"io"}, jo{"jo"}, ii{"ii"}, ji{"ji"}, ko{"ko"}, ki{"ki"};

  PrimFunc func() const {
    Expr i = io * 4 + ii, j = jo * 8 + ji, k = ko * 4 + ki;
    Stmt compute = make_seq({make_store(C, 0.0, {i, j}),
                             make_for(ko, 0, 3, ForKind::kSerial,
                                      make_for(ki, 0, 4, ForKind::kUnrolled,
                                               make_store(C, C({i, j}) + A({i, k}) * B({k, j}), {i, j})))});
    Stmt body = make_for(io, 0, 4, ForKind::kParallel,
                         make_for(jo, 0, 3, ForKind::kSerial,
                                  make_for(ii, 0, 4, ForKind::kSerial,
                                           make_for(ji, 0, 8, ForKind::kVectorized, make_if(j < N, compute)))));
    return make_prim_func("tiled_matmul", {Param::of(A), Param::of(B), Param::of(C)}, body);
  }
};

struct Census : IRVisitor {
  int vectorized_loops = 0, unrolled_loops = 0, multi_index_accesses = 0, ifs = 0, widest_store = 1;
  void visit_For(const ForNode* op) override {
    vectorized_loops += op->for_kind == ForKind::kVectorized;
    unrolled_loops += op->for_kind == ForKind::kUnrolled;
    IRVisitor::visit_For(op);
  }
  void visit_Load(const LoadNode* op) override {
    multi_index_accesses += op->indices.size() != 1;
    IRVisitor::visit_Load(op);
  }
  void visit_Store(const StoreNode* op) override {
    multi_index_accesses += op->indices.size() != 1;
    widest_store = std::max(widest_store, op->value.dtype().lanes());
    IRVisitor::visit_Store(op);
  }
  void visit_IfThenElse(const IfThenElseNode* op) override {
    ++ifs;
    IRVisitor::visit_IfThenElse(op);
  }
};

TEST(Lower, TiledMatmulWithTailMatchesInterpreterAndReference) {
  TiledMatmul mm;
  PrimFunc f = mm.func();
  PrimFunc lowered = lower(f);

  Census census;
  census.visit(lowered->body);
  EXPECT_EQ(census.vectorized_loops, 0) << to_string(lowered);
  EXPECT_EQ(census.unrolled_loops, 0) << to_string(lowered);
  EXPECT_EQ(census.multi_index_accesses, 0) << to_string(lowered);
  // The guard-free middle (jo in [0, 2)) is 8-lane vector code; only the j tail keeps a guard.
  EXPECT_EQ(census.widest_store, 8) << to_string(lowered);
  EXPECT_LE(census.ifs, 1) << to_string(lowered);

  auto memory = expect_same_results(f, lowered, 71);
  const int M = TiledMatmul::M, N = TiledMatmul::N, K = TiledMatmul::K;
  for (int r = 0; r < M; ++r) {
    for (int c = 0; c < N; ++c) {
      float sum = 0.0f;
      for (int q = 0; q < K; ++q) {
        volatile float product = element<float>(memory[0], r * K + q) * element<float>(memory[1], q * N + c);
        sum = sum + product;
      }
      ASSERT_EQ(element<float>(memory[2], r * N + c), sum) << r << ", " << c;
    }
  }
}

TEST(Lower, LocalAccumulatorTileIsFlattenedAndVectorized) {
  // C = A * B (8 x 16, K = 6) through a 4 x 8 local accumulator per (io, jo) tile, the way
  // cache_write(C, "local") lowers: init, accumulate over k, write back.
  const int M = 8, N = 16, K = 6;
  Buffer A = make_buffer("A", f32, {M, K}), B = make_buffer("B", f32, {K, N}), C = make_buffer("C", f32, {M, N});
  Buffer L = make_buffer("C_local", f32, {4, 8}, {}, MemoryScope::kLocal);
  Var io("io"), jo("jo"), ii("ii"), ji("ji"), k("k");
  Expr i = io * 4 + ii, j = jo * 8 + ji;
  auto tile = [&](Stmt s) {
    return make_for(ii, 0, 4, ForKind::kUnrolled, make_for(ji, 0, 8, ForKind::kVectorized, std::move(s)));
  };
  Stmt body = make_for(
      io, 0, M / 4, ForKind::kParallel,
      make_for(jo, 0, N / 8, ForKind::kSerial,
               make_allocate(L, make_seq({tile(make_store(L, 0.0, {ii, ji})),
                                          make_for(k, 0, K, ForKind::kSerial,
                                                   tile(make_store(L, L({ii, ji}) + A({i, k}) * B({k, j}), {ii, ji}))),
                                          tile(make_store(C, L({ii, ji}), {i, j}))}))));
  PrimFunc f = make_prim_func("local_tile", {Param::of(A), Param::of(B), Param::of(C)}, body);
  PrimFunc lowered = lower(f);
  Census census;
  census.visit(lowered->body);
  EXPECT_EQ(census.vectorized_loops + census.unrolled_loops + census.multi_index_accesses, 0) << to_string(lowered);
  EXPECT_EQ(census.widest_store, 8) << to_string(lowered);
  const ForNode* outer = lowered->body.as<ForNode>();
  ASSERT_NE(outer, nullptr);
  const AllocateNode* alloc = outer->body.as<ForNode>()->body.as<AllocateNode>();
  ASSERT_NE(alloc, nullptr) << to_string(lowered);
  EXPECT_EQ(alloc->buffer->shape.size(), 1u);
  auto memory = expect_same_results(f, lowered, 73);
  for (int r = 0; r < M; ++r) {
    for (int c = 0; c < N; ++c) {
      float sum = 0.0f;
      for (int q = 0; q < K; ++q) {
        volatile float product = element<float>(memory[0], r * K + q) * element<float>(memory[1], q * N + c);
        sum = sum + product;
      }
      ASSERT_EQ(element<float>(memory[2], r * N + c), sum) << r << ", " << c;
    }
  }
}

TEST(Lower, DefaultPipelineOrder) {
  std::vector<std::string> names;
  for (const Pass& pass : default_passes()) names.push_back(pass.name);
  std::vector<std::string> expected = {"storage_flatten", "simplify",        "loop_partition", "simplify",
                                       "unroll_loops",    "vectorize_loops", "simplify",       "remove_no_op"};
  EXPECT_EQ(names, expected);
}

// Restores the process settings when a test ends.
struct SettingsGuard {
  Settings saved = settings();
  ~SettingsGuard() { set_settings(saved); }
};

std::string read_file(const std::filesystem::path& path) {
  std::ifstream in(path);
  std::stringstream text;
  text << in.rdbuf();
  return text.str();
}

TEST(Lower, DumpIrWritesOneFilePerChangingPass) {
  SettingsGuard guard;
  std::filesystem::path dir = std::filesystem::temp_directory_path() /
                              ("tessel_dump_ir_test_" + std::to_string(::testing::UnitTest::GetInstance()->random_seed()) +
                               "_" + std::to_string(reinterpret_cast<uintptr_t>(&guard)));
  std::filesystem::remove_all(dir);
  Settings config = settings();
  config.dump_ir_dir = dir.string();
  set_settings(config);

  // A 2-D vector add: flattening and vectorization change it; partition, unroll and no-op removal
  // have nothing to do.
  Buffer A = make_buffer("A", f32, {4, 16}), B = make_buffer("B", f32, {4, 16});
  Var i("i"), j("j");
  Stmt body = make_for(i, 0, 4, ForKind::kSerial,
                       make_for(j, 0, 16, ForKind::kVectorized, make_store(B, A({i, j}) + B({i, j}), {i, j})));
  PrimFunc f = make_prim_func("vadd2d", {Param::of(A), Param::of(B)}, body);
  PrimFunc lowered = lower(f);

  std::filesystem::path flatten_file = dir / "vadd2d.01.storage_flatten.tir";
  std::filesystem::path vectorize_file = dir / "vadd2d.06.vectorize_loops.tir";
  ASSERT_TRUE(std::filesystem::exists(flatten_file));
  ASSERT_TRUE(std::filesystem::exists(vectorize_file));
  EXPECT_FALSE(std::filesystem::exists(dir / "vadd2d.03.loop_partition.tir"));
  EXPECT_FALSE(std::filesystem::exists(dir / "vadd2d.05.unroll_loops.tir"));
  EXPECT_FALSE(std::filesystem::exists(dir / "vadd2d.08.remove_no_op.tir"));
  // The first dump is exactly the function after storage_flatten.
  EXPECT_EQ(read_file(flatten_file), to_string(f.with_body(storage_flatten(f->body))) + "\n");
  for (const auto& entry : std::filesystem::directory_iterator(dir)) {
    std::string name = entry.path().filename().string();
    EXPECT_EQ(name.rfind("vadd2d.", 0), 0u) << name;
    EXPECT_EQ(entry.path().extension(), ".tir") << name;
  }
  // The last file written is the final IR when the last passes changed nothing.
  EXPECT_NE(read_file(vectorize_file).find("ramp"), std::string::npos);
  expect_same_results(f, lowered, 72);
  std::filesystem::remove_all(dir);
}

TEST(Lower, TimePassesReportsEveryPass) {
  SettingsGuard guard;
  Settings config = settings();
  config.time_passes = true;
  config.dump_ir_dir.clear();
  set_settings(config);
  Buffer A = make_buffer("A", f32, {8});
  Var i("i");
  PrimFunc f = make_prim_func("timed", {Param::of(A)},
                              make_for(i, 0, 8, ForKind::kSerial, make_store(A, A({i}) * 2.0, {i})));
  ::testing::internal::CaptureStderr();
  lower(f);
  std::string log = ::testing::internal::GetCapturedStderr();
  for (const Pass& pass : default_passes()) EXPECT_NE(log.find(pass.name), std::string::npos) << pass.name;
  EXPECT_NE(log.find("ms"), std::string::npos);
  EXPECT_NE(log.find("timed"), std::string::npos);
}

TEST(Lower, PassLeavingAVariableUnboundIsAnInternalError) {
  Buffer A = make_buffer("A", f32, {8});
  Var i("i");
  PrimFunc f = make_prim_func("f", {Param::of(A)}, make_for(i, 0, 8, ForKind::kSerial, make_store(A, 1.0, {i})));
  Var stray("stray");
  Pass broken{"broken", [&](const Stmt& s) {
                const ForNode* loop = s.as<ForNode>();
                return make_for(loop->loop_var, 0, 8, ForKind::kSerial, make_store(A, 1.0, {stray}));
              }};
  EXPECT_THROW(run_passes(f, {broken}), InternalError);
  // A custom list runs in order and only those passes run.
  Pass unroll{"unroll_loops", unroll_loops};
  PrimFunc same = run_passes(f, {unroll});
  EXPECT_TRUE(same->body.same_as(f->body));
}

}  // namespace
}  // namespace tessel
