// GPU sketch rules, the application of an annotated GPU sketch (a GpuCandidate) to a fresh
// schedule, and the check that a lowered function fits the GPU's limits. The numbers come from
// annotation_gpu.cc; the rules are described in include/tessel/autotune/sketch_gpu.h.
#include <functional>
#include <set>
#include <sstream>

#include "tessel/autotune/sketch_gpu.h"
#include "tessel/ir/error.h"
#include "tessel/ir/functor.h"
#include "sketch_internal.h"

namespace tessel::autotune {

namespace {

// A reduction whose outputs are too few to occupy a GPU one per thread, while each output sums
// enough terms to keep a block's threads busy: rows of softmax or layer_norm, a GEMV.
bool needs_cross_thread(const StageFacts::Stage& f) {
  return f.reduction && f.constant && f.reduce_size >= 32 && f.spatial_size < f.reduce_size * 4 &&
         f.spatial_size <= 64 * 1024;
}

}  // namespace

std::vector<GpuSketch> generate_gpu_sketches(const SearchTask& task) {
  StageFacts facts = analyze_stages(task);
  int n = static_cast<int>(facts.stages.size());
  std::vector<std::vector<GpuStagePlan>> options(n);
  for (int i = 0; i < n; ++i) {
    const auto& f = facts.stages[i];
    if (!f.compute) continue;
    if (!f.reduction && !f.output) {
      options[i] = {{i, GpuStageRule::kInline, -1}};
    } else if (f.reduction && f.reuse && f.constant && !needs_cross_thread(f)) {
      int consumer = f.output ? -1 : fusable_consumer(task, facts, i);
      if (f.output || consumer >= 0) {
        options[i] = {{i, GpuStageRule::kTile, consumer}, {i, GpuStageRule::kSimple, -1}};
      } else {
        options[i] = {{i, GpuStageRule::kSimple, -1}};
      }
    } else if (needs_cross_thread(f)) {
      options[i] = {{i, GpuStageRule::kCrossThread, -1}, {i, GpuStageRule::kSimple, -1}};
    } else {
      options[i] = {{i, GpuStageRule::kSimple, -1}};
    }
  }
  return combine_stage_plans<GpuSketch>(options, GpuStageRule::kTile, GpuStageRule::kFusedInto);
}

std::string GpuSketch::to_string() const {
  static const char* names[] = {"inline", "tile", "cross_thread", "simple", "fused"};
  std::ostringstream os;
  for (size_t i = 0; i < plans.size(); ++i) {
    os << (i ? " " : "") << plans[i].stage << ":" << names[static_cast<int>(plans[i].rule)];
    if (plans[i].rule == GpuStageRule::kTile) os << (plans[i].consumer >= 0 ? "+fuse" : "+cache");
  }
  return os.str();
}

// ---- applying a candidate ----------------------------------------------------------------------

namespace {

IterVar fuse_all(te::Stage& stage, const std::vector<IterVar>& axes) {
  IterVar fused = axes[0];
  for (size_t i = 1; i < axes.size(); ++i) fused = stage.fuse(fused, axes[i]);
  return fused;
}

// The stages a kTile plan works on: `inner` computes the reduction per thread, `outer` holds the
// thread-bound loops, `shared` are the shared-memory copies of the reduction's inputs.
struct TileStages {
  te::Tensor inner, outer;
  std::vector<te::Tensor> shared;
};

// The caches of a kTile plan. They come first: cache_write must precede every other primitive on
// the stage, and an input that is an inlined stage is cached before it is inlined (the copy then
// computes it, as TVM's pad_temp.shared does).
TileStages make_tile_caches(te::Schedule& s, const std::vector<te::Tensor>& tensors, const GpuStagePlan& plan) {
  TileStages t;
  if (plan.consumer >= 0) {
    t.inner = tensors[plan.stage];
    t.outer = tensors[plan.consumer];
  } else {
    t.outer = tensors[plan.stage];
    t.inner = s.cache_write(t.outer, "local");
  }
  std::vector<te::Tensor> inputs;
  for (const te::Tensor& input : s[t.inner].op()->inputs()) {
    bool seen = false;
    for (const te::Tensor& other : inputs) seen |= other.same_as(input);
    if (!seen) inputs.push_back(input);
  }
  for (const te::Tensor& input : inputs) t.shared.push_back(s.cache_read(input, "shared", {t.inner}));
  return t;
}

void apply_tile(te::Schedule& s, const TileStages& t, const GpuStageAnnotation& a) {
  te::Stage o = s[t.outer];
  std::vector<IterVar> oaxes = o.axis();
  size_t nd = oaxes.size();
  user_check(nd > 0 && a.spatial.size() == nd) << "GPU tile annotation has " << a.spatial.size() << " levels for "
                                               << nd << " axes";
  std::vector<IterVar> block, vthread, thread, tile;
  int64_t threads = 1;
  for (size_t d = 0; d < nd; ++d) {
    const auto& f = a.spatial[d];
    for (int64_t x : f) user_check(x >= 1) << "GPU tile annotation: tile sizes must be positive";
    auto [x0, r0] = o.split(oaxes[d], f[0] * f[1] * f[2] * f[3]);
    auto [x1, r1] = o.split(r0, f[1] * f[2] * f[3]);
    auto [x2, x3] = o.split(r1, f[2] * f[3]);
    block.push_back(x0);
    vthread.push_back(x1);
    thread.push_back(x2);
    tile.push_back(x3);
    threads *= f[1];
  }
  std::vector<IterVar> order = block;
  for (const auto* level : {&vthread, &thread, &tile}) order.insert(order.end(), level->begin(), level->end());
  o.reorder(order);
  o.bind(fuse_all(o, block), "blockIdx.x");
  o.bind(fuse_all(o, vthread), "vthread");
  IterVar thread_x = fuse_all(o, thread);
  o.bind(thread_x, "threadIdx.x");

  te::Stage in = s[t.inner];
  std::vector<IterVar> iaxes = in.axis(), raxes = in.reduce_axis();
  user_check(a.reduce.size() == raxes.size()) << "GPU tile annotation: wrong number of reduce levels";
  std::vector<IterVar> r0, r1, r2, s3, s4;
  for (size_t d = 0; d < nd; ++d) {
    auto [x3, x4] = in.split(iaxes[d], a.spatial[d][3]);
    s3.push_back(x3);
    s4.push_back(x4);
  }
  for (size_t r = 0; r < raxes.size(); ++r) {
    user_check(a.reduce[r][0] >= 1 && a.reduce[r][1] >= 1) << "GPU tile annotation: reduce tiles must be positive";
    auto [y0, rest] = in.split(raxes[r], a.reduce[r][0] * a.reduce[r][1]);
    auto [y1, y2] = in.split(rest, a.reduce[r][1]);
    r0.push_back(y0);
    r1.push_back(y1);
    r2.push_back(y2);
  }
  std::vector<IterVar> inner_order = r0;
  for (const auto* level : {&r1, &s3, &r2, &s4}) inner_order.insert(inner_order.end(), level->begin(), level->end());
  in.reorder(inner_order);
  in.compute_at(o, thread_x);
  if (a.unroll > 0) in.pragma(in.leaf_iter_vars()[0], "auto_unroll_max_step", a.unroll);

  // Cooperative fetching: all threads of the block copy each R0 step's input tiles.
  int64_t vector = std::max<int64_t>(1, a.fetch_vector);
  for (const te::Tensor& cache : t.shared) {
    te::Stage fetch = s[cache];
    fetch.compute_at(in, r0.back());
    IterVar fused = fuse_all(fetch, fetch.axis());
    if (vector > 1) {
      auto [outer, rest] = fetch.split(fused, threads * vector);
      auto [tx, lanes] = fetch.split(rest, vector);
      (void)outer;
      fetch.bind(tx, "threadIdx.x");
      fetch.vectorize(lanes);
    } else {
      auto [outer, tx] = fetch.split(fused, threads);
      (void)outer;
      fetch.bind(tx, "threadIdx.x");
    }
  }
}

void apply_cross_thread(te::Schedule& s, const te::Tensor& tensor, const GpuStageAnnotation& a) {
  user_check(a.threads >= 1) << "GPU cross-thread annotation: threads per block must be positive";
  te::Stage st = s[tensor];
  auto [k_outer, k_thread] = st.split(fuse_all(st, st.reduce_axis()), a.threads);
  (void)k_outer;
  te::Tensor partial = s.rfactor(tensor, k_thread);
  te::Stage combine = s[tensor];
  IterVar thread_x = combine.reduce_axis()[0];
  std::vector<IterVar> axes = combine.axis();
  if (!axes.empty()) combine.bind(fuse_all(combine, axes), "blockIdx.x");
  combine.bind(thread_x, "threadIdx.x");
  te::Stage rf = s[partial];
  rf.compute_at(combine, thread_x);
  if (a.unroll > 0) rf.pragma(rf.leaf_iter_vars()[0], "auto_unroll_max_step", a.unroll);
}

void apply_simple(te::Schedule& s, const te::Tensor& tensor, const GpuStageAnnotation& a) {
  te::Stage st = s[tensor];
  std::vector<IterVar> axes = st.axis();
  if (axes.empty()) {
    if (a.unroll > 0) st.pragma(st.leaf_iter_vars()[0], "auto_unroll_max_step", a.unroll);
    return;
  }
  IterVar lanes;
  if (a.vector > 1) {
    user_check(!st.op()->has_reduction) << "GPU simple annotation: a reduction's spatial loop cannot be vectorised";
    auto [rest, inner] = st.split(axes.back(), a.vector);
    axes.back() = rest;
    lanes = inner;
  }
  user_check(a.threads >= 1) << "GPU simple annotation: threads per block must be positive";
  auto [block, thread] = st.split(fuse_all(st, axes), a.threads);
  st.bind(block, "blockIdx.x");
  st.bind(thread, "threadIdx.x");
  if (lanes.defined()) st.vectorize(lanes);
  if (a.unroll > 0) st.pragma(st.leaf_iter_vars()[0], "auto_unroll_max_step", a.unroll);
}

}  // namespace

te::Schedule apply_gpu_candidate(const SearchTask& task, const std::vector<GpuSketch>& sketches,
                                 const GpuCandidate& c) {
  user_check(c.sketch >= 0 && c.sketch < static_cast<int>(sketches.size())) << "GPU candidate: sketch index out of range";
  const GpuSketch& sketch = sketches[c.sketch];
  user_check(c.stages.size() == sketch.plans.size()) << "GPU candidate: annotation does not match its sketch";
  te::Schedule s = task.fresh_schedule();
  std::vector<te::Tensor> tensors;
  for (int i = 0; i < s.num_stages(); ++i) tensors.push_back(s.stage_node(i).output);
  std::vector<TileStages> tiles(sketch.plans.size());
  for (size_t i = 0; i < sketch.plans.size(); ++i) {
    if (sketch.plans[i].rule == GpuStageRule::kTile) tiles[i] = make_tile_caches(s, tensors, sketch.plans[i]);
  }
  for (const GpuStagePlan& p : sketch.plans) {
    if (p.rule == GpuStageRule::kInline) s[tensors[p.stage]].compute_inline();
  }
  for (size_t i = 0; i < sketch.plans.size(); ++i) {
    const GpuStagePlan& p = sketch.plans[i];
    const GpuStageAnnotation& a = c.stages[i];
    switch (p.rule) {
      case GpuStageRule::kTile: apply_tile(s, tiles[i], a); break;
      case GpuStageRule::kCrossThread: apply_cross_thread(s, tensors[p.stage], a); break;
      case GpuStageRule::kSimple: apply_simple(s, tensors[p.stage], a); break;
      case GpuStageRule::kInline:
      case GpuStageRule::kFusedInto: break;
    }
  }
  return s;
}

// ---- limits --------------------------------------------------------------------------------------

namespace {

// Bytes of the per-thread arrays: allocations that are not shared, inside a thread-bound loop.
struct LocalBytes : IRVisitor {
  int thread_depth = 0;
  int64_t bytes = 0;
  bool unknown = false;
  void visit_For(const ForNode* op) override {
    bool bound = op->for_kind == ForKind::kThreadBound;
    thread_depth += bound;
    IRVisitor::visit_For(op);
    thread_depth -= bound;
  }
  void visit_Allocate(const AllocateNode* op) override {
    if (thread_depth > 0 && op->buffer->scope != MemoryScope::kShared) {
      int64_t n = op->buffer->dtype.bytes();
      for (const Expr& e : op->buffer->shape) {
        const int64_t* v = as_const_int(e);
        if (!v) unknown = true; else n *= *v;
      }
      bytes += n;
    }
    IRVisitor::visit_Allocate(op);
  }
};

}  // namespace

bool gpu_function_fits(const PrimFunc& func, const GpuLimits& limits, std::string* why) {
  auto fail = [&](const std::string& reason) {
    if (why) *why = reason;
    return false;
  };
  codegen::CudaModuleSource module;
  try {
    module = codegen::generate_cuda({func});
  } catch (const CompileError& e) {
    return fail(std::string("no CUDA for it: ") + e.what());
  }
  static const int64_t kMaxBlockDim[3] = {1024, 1024, 64};
  for (const codegen::CudaFunction& f : module.functions) {
    for (const codegen::CudaKernelLaunch& k : f.kernels) {
      int64_t threads = 1;
      for (int d = 0; d < 3; ++d) {
        const int64_t* v = as_const_int(k.block[d]);
        if (!v) continue;  // depends on a scalar parameter: not decidable here
        if (*v > kMaxBlockDim[d]) return fail(k.name + ": block dimension " + std::to_string(d) + " is " + std::to_string(*v));
        threads *= *v;
      }
      if (threads > limits.max_threads_per_block) {
        return fail(k.name + ": " + std::to_string(threads) + " threads per block (at most " +
                    std::to_string(limits.max_threads_per_block) + ")");
      }
      if (k.shared_bytes > limits.max_shared_memory_per_block) {
        return fail(k.name + ": " + std::to_string(k.shared_bytes) + " bytes of shared memory (at most " +
                    std::to_string(limits.max_shared_memory_per_block) + ")");
      }
    }
  }
  LocalBytes local;
  local.visit(func->body);
  if (local.unknown || local.bytes > limits.max_local_memory_per_thread) {
    return fail("per-thread arrays of " + (local.unknown ? std::string("unknown size") : std::to_string(local.bytes)) +
                " bytes (at most " + std::to_string(limits.max_local_memory_per_thread) + ")");
  }
  return true;
}

bool gpu_candidate_fits(const SearchTask& task, te::Schedule& schedule, const GpuLimits& limits, std::string* why) {
  PrimFunc func;
  try {
    func = task.lower(schedule, task.name() + "_gpu");
  } catch (const CompileError& e) {
    if (why) *why = std::string("does not lower: ") + e.what();
    return false;
  }
  return gpu_function_fits(func, limits, why);
}

}  // namespace tessel::autotune
