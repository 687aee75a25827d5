// Per-store feature extraction for the cost model: one fixed-length vector per Store statement of
// a lowered (flattened, vectorised, unrolled) loop-IR function. The feature list and the estimates
// behind each feature are documented in autotune/README.md; feature_names() gives them in order.
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <map>
#include <string>
#include <unordered_map>
#include <vector>

#include "tessel/autotune/cost_model.h"
#include "tessel/ir/arith.h"
#include "tessel/ir/error.h"
#include "tessel/ir/functor.h"

namespace tessel::autotune {
namespace {

constexpr int kMaxBuffers = 5;    // buffer slots per store, largest traffic first
constexpr int kCurvePoints = 10;  // samples of the arithmetic-intensity curve
constexpr double kCacheLineBytes = 64;

// Counts are weighted by how often the store runs and can be huge; the model sees log2(1 + x).
float log_scale(double x) { return static_cast<float>(std::log2(1.0 + std::max(0.0, x))); }

// ---- feature names, in order --------------------------------------------------------------

const char* const kArithNames[] = {
    "float_add_sub", "float_mul", "float_div_mod", "float_min_max", "float_fma_able", "float_math_call",
    "float_compare", "int_add_sub", "int_mul", "int_div_mod", "int_min_max", "int_compare",
    "bool_logic", "select", "cast", "float_ops_total"};
constexpr int kNumArith = sizeof(kArithNames) / sizeof(kArithNames[0]);
enum ArithIndex {
  kFloatAddSub, kFloatMul, kFloatDivMod, kFloatMinMax, kFloatFma, kFloatMath, kFloatCompare,
  kIntAddSub, kIntMul, kIntDivMod, kIntMinMax, kIntCompare, kBoolLogic, kSelect, kCast, kFloatTotal
};

const char* const kLoopNames[] = {
    "vector_lanes", "is_vectorized", "in_parallel", "parallel_extent", "num_parallel_loops",
    "thread_bound", "block_extent", "thread_extent", "stores_in_innermost_loop",
    "same_buffer_stores_in_innermost_loop", "innermost_loop_extent", "guarded_by_if"};
constexpr int kNumLoop = sizeof(kLoopNames) / sizeof(kLoopNames[0]);

const char* const kBufferNames[] = {
    "present", "is_read", "is_write", "accesses_per_exec", "bytes", "unique_bytes", "lines",
    "unique_lines", "reuse_loop", "reuse_serial", "reuse_none", "reuse_distance_iters",
    "reuse_distance_bytes", "reuse_count", "stride_zero", "stride_unit", "stride_large", "stride",
    "is_local_scope"};
constexpr int kNumBuffer = sizeof(kBufferNames) / sizeof(kBufferNames[0]);

const char* const kAllocNames[] = {"num_enclosing_allocs", "enclosing_alloc_bytes", "target_alloc_bytes",
                                   "target_is_local"};
constexpr int kNumAlloc = sizeof(kAllocNames) / sizeof(kAllocNames[0]);

const char* const kOuterNames[] = {"num_loops", "executions", "outermost_is_parallel", "outermost_extent",
                                   "stores_in_function", "loops_in_function"};
constexpr int kNumOuter = sizeof(kOuterNames) / sizeof(kOuterNames[0]);

std::vector<std::string> build_names() {
  std::vector<std::string> names;
  for (const char* n : kArithNames) names.push_back(std::string("arith.") + n);
  for (const char* n : kLoopNames) names.push_back(std::string("loop.") + n);
  for (int b = 0; b < kMaxBuffers; ++b)
    for (const char* n : kBufferNames) names.push_back("buffer" + std::to_string(b) + "." + n);
  for (int i = 0; i < kCurvePoints; ++i) names.push_back("intensity." + std::to_string(i));
  for (const char* n : kAllocNames) names.push_back(std::string("alloc.") + n);
  for (const char* n : kOuterNames) names.push_back(std::string("outer.") + n);
  return names;
}

// ---- linear forms of index expressions ----------------------------------------------------

// sum(coefficient * variable) + constant; `nonlinear` when some part could only be approximated
// (products of variables, indirect loads): the coefficients are then an estimate.
struct LinearForm {
  std::vector<std::pair<const VarNode*, double>> terms;
  bool nonlinear = false;
  void add(const VarNode* v, double c) {
    for (auto& [var, coef] : terms)
      if (var == v) { coef += c; return; }
    terms.emplace_back(v, c);
  }
  double coefficient(const VarNode* v) const {
    for (const auto& [var, coef] : terms)
      if (var == v) return coef;
    return 0;
  }
};

using LetMap = std::unordered_map<const VarNode*, Expr>;

void linear_terms(const Expr& e, double scale, const LetMap& lets, LinearForm& out, int depth = 0) {
  if (!e.defined() || depth > 64) return;
  switch (e.kind()) {
    case ExprKind::kIntImm:
    case ExprKind::kFloatImm:
      return;
    case ExprKind::kVar: {
      const auto* v = e.as<VarNode>();
      auto it = lets.find(v);
      if (it != lets.end()) linear_terms(it->second, scale, lets, out, depth + 1);
      else out.add(v, scale);
      return;
    }
    case ExprKind::kBinary: {
      const auto* b = e.as<BinaryNode>();
      const int64_t* ca = as_const_int(b->a);
      const int64_t* cb = as_const_int(b->b);
      switch (b->op) {
        case BinaryOp::kAdd: linear_terms(b->a, scale, lets, out, depth + 1); linear_terms(b->b, scale, lets, out, depth + 1); return;
        case BinaryOp::kSub: linear_terms(b->a, scale, lets, out, depth + 1); linear_terms(b->b, -scale, lets, out, depth + 1); return;
        case BinaryOp::kMul:
          if (cb) { linear_terms(b->a, scale * static_cast<double>(*cb), lets, out, depth + 1); return; }
          if (ca) { linear_terms(b->b, scale * static_cast<double>(*ca), lets, out, depth + 1); return; }
          break;
        case BinaryOp::kDiv:  // floor division by a constant scales the coefficients down
          if (cb && *cb != 0) { linear_terms(b->a, scale / static_cast<double>(*cb), lets, out, depth + 1); return; }
          break;
        case BinaryOp::kMod:  // within one period the coefficients are unchanged
          if (cb) { linear_terms(b->a, scale, lets, out, depth + 1); out.nonlinear = true; return; }
          break;
        case BinaryOp::kMin:
        case BinaryOp::kMax:
          linear_terms(b->a, scale, lets, out, depth + 1);
          out.nonlinear = true;
          return;
        default:
          break;
      }
      out.nonlinear = true;
      linear_terms(b->a, scale, lets, out, depth + 1);
      linear_terms(b->b, scale, lets, out, depth + 1);
      return;
    }
    case ExprKind::kCast: linear_terms(e.as<CastNode>()->value, scale, lets, out, depth + 1); return;
    case ExprKind::kBroadcast: linear_terms(e.as<BroadcastNode>()->value, scale, lets, out, depth + 1); return;
    case ExprKind::kRamp: linear_terms(e.as<RampNode>()->base, scale, lets, out, depth + 1); return;
    case ExprKind::kSelect:
      out.nonlinear = true;
      linear_terms(e.as<SelectNode>()->true_value, scale, lets, out, depth + 1);
      return;
    case ExprKind::kLet: {
      const auto* l = e.as<LetNode>();
      LetMap inner = lets;
      inner[l->var.get()] = l->value;
      linear_terms(l->body, scale, inner, out, depth + 1);
      return;
    }
    default:
      out.nonlinear = true;  // loads (indirect indexing), calls, logic
      return;
  }
}

// ---- arithmetic counts ----------------------------------------------------------------------

bool is_float_mul(const Expr& e) {
  if (const auto* b = e.as<BinaryNode>()) return b->op == BinaryOp::kMul && b->dtype.is_float();
  return false;
}

// Element operations (a vector op counts once per lane) of one execution of an expression.
void count_arith(const Expr& e, double counts[kNumArith]) {
  if (!e.defined()) return;
  const double lanes = e.dtype().lanes();
  switch (e.kind()) {
    case ExprKind::kBinary: {
      const auto* b = e.as<BinaryNode>();
      DataType operand = b->a.dtype();
      bool is_float = operand.is_float();
      switch (b->op) {
        case BinaryOp::kAdd:
        case BinaryOp::kSub:
          counts[is_float ? kFloatAddSub : kIntAddSub] += lanes;
          if (is_float && (is_float_mul(b->a) || is_float_mul(b->b))) counts[kFloatFma] += lanes;
          break;
        case BinaryOp::kMul: counts[is_float ? kFloatMul : kIntMul] += lanes; break;
        case BinaryOp::kDiv:
        case BinaryOp::kMod: counts[is_float ? kFloatDivMod : kIntDivMod] += lanes; break;
        case BinaryOp::kMin:
        case BinaryOp::kMax: counts[is_float ? kFloatMinMax : kIntMinMax] += lanes; break;
        case BinaryOp::kAnd:
        case BinaryOp::kOr: counts[kBoolLogic] += lanes; break;
        default: counts[is_float ? kFloatCompare : kIntCompare] += lanes; break;  // comparisons
      }
      count_arith(b->a, counts);
      count_arith(b->b, counts);
      return;
    }
    case ExprKind::kNot: counts[kBoolLogic] += lanes; count_arith(e.as<NotNode>()->a, counts); return;
    case ExprKind::kSelect: {
      const auto* s = e.as<SelectNode>();
      counts[kSelect] += lanes;
      count_arith(s->condition, counts);
      count_arith(s->true_value, counts);
      count_arith(s->false_value, counts);
      return;
    }
    case ExprKind::kCast: counts[kCast] += lanes; count_arith(e.as<CastNode>()->value, counts); return;
    case ExprKind::kCall: {
      const auto* c = e.as<CallNode>();
      if (c->op == Intrinsic::k_fma) {
        counts[kFloatFma] += lanes;
        counts[kFloatMul] += lanes;
        counts[kFloatAddSub] += lanes;
      } else {
        counts[kFloatMath] += lanes;
      }
      for (const Expr& a : c->args) count_arith(a, counts);
      return;
    }
    case ExprKind::kLoad:
      for (const Expr& i : e.as<LoadNode>()->indices) count_arith(i, counts);
      return;
    case ExprKind::kRamp: {
      const auto* r = e.as<RampNode>();
      count_arith(r->base, counts);
      count_arith(r->stride, counts);
      return;
    }
    case ExprKind::kBroadcast: count_arith(e.as<BroadcastNode>()->value, counts); return;
    case ExprKind::kLet: {
      const auto* l = e.as<LetNode>();
      count_arith(l->value, counts);
      count_arith(l->body, counts);
      return;
    }
    default:
      return;
  }
}

// ---- the walk over the statement tree -------------------------------------------------------

struct LoopInfo {
  const VarNode* var;
  double extent;
  ForKind kind;
  std::string thread_tag;
  const ForNode* node;
};

// One memory access of a store: the written element(s) or a load in its value.
struct Access {
  const VarNode* data;  // buffer identity (views share the data variable)
  const BufferNode* buffer;
  bool is_write;
  LinearForm index;
  double lanes;         // elements per access
  double lane_stride;   // stride between lanes (Ramp stride; 0 for a broadcast index)
};

// A "loop" for footprint estimates: an enclosing loop or the vector lanes (innermost).
struct Dim {
  double extent;
  double coefficient;
};

struct Footprint {
  double elements = 1, bytes = 0, lines = 1;
};

// Distinct elements, bytes and cache lines one access touches across `dims`.
Footprint footprint(const std::vector<Dim>& input, double element_bytes) {
  // Dims that vary the index, by increasing stride; a dim whose stride equals the span of the
  // previous one continues it densely (j + 8 * i over j < 8) and merges into it.
  std::vector<Dim> dims;
  for (const Dim& d : input)
    if (d.coefficient != 0 && d.extent > 1) dims.push_back({d.extent, std::fabs(d.coefficient)});
  std::stable_sort(dims.begin(), dims.end(), [](const Dim& a, const Dim& b) { return a.coefficient < b.coefficient; });
  std::vector<Dim> merged;
  for (const Dim& d : dims) {
    if (!merged.empty() && d.coefficient == merged.back().coefficient * merged.back().extent)
      merged.back().extent *= d.extent;
    else
      merged.push_back(d);
  }
  double product = 1, span = 0;
  for (const Dim& d : merged) {
    product *= d.extent;
    span += d.coefficient * (d.extent - 1);
  }
  Footprint f;
  f.elements = std::max(1.0, std::min(product, span + 1));
  f.bytes = f.elements * element_bytes;
  // Lines: every dim multiplies the lines touched, except that the smallest-stride one packs
  // several elements into a line when its stride is below the line size.
  double lines = 1;
  for (size_t i = 0; i < merged.size(); ++i) {
    const Dim& d = merged[i];
    if (i == 0 && d.coefficient * element_bytes < kCacheLineBytes)
      lines *= std::ceil(d.extent * d.coefficient * element_bytes / kCacheLineBytes);
    else
      lines *= d.extent;
  }
  f.lines = std::clamp(lines, std::ceil(f.bytes / kCacheLineBytes), f.elements);
  return f;
}

class Extractor {
 public:
  explicit Extractor(const PrimFunc& f) : func_(f) {}

  std::vector<std::vector<float>> run() {
    count_nodes(func_->body);
    walk(func_->body);
    return std::move(rows_);
  }

 private:
  // Stores (nested) under each loop, stores per buffer under each loop, and function totals.
  std::pair<int, std::map<const VarNode*, int>> count_nodes(const Stmt& s) {
    std::pair<int, std::map<const VarNode*, int>> total{0, {}};
    if (!s.defined()) return total;
    auto merge = [&](const Stmt& child) {
      auto c = count_nodes(child);
      total.first += c.first;
      for (auto& [k, v] : c.second) total.second[k] += v;
    };
    switch (s.kind()) {
      case StmtKind::kStore:
        total.first = 1;
        total.second[s.as<StoreNode>()->buffer->data.get()] = 1;
        ++function_stores_;
        break;
      case StmtKind::kFor:
        ++function_loops_;
        merge(s.as<ForNode>()->body);
        loop_stores_[s.as<ForNode>()] = total;
        break;
      case StmtKind::kAllocate: merge(s.as<AllocateNode>()->body); break;
      case StmtKind::kSeq:
        for (const Stmt& c : s.as<SeqNode>()->stmts) merge(c);
        break;
      case StmtKind::kIfThenElse:
        merge(s.as<IfThenElseNode>()->then_case);
        merge(s.as<IfThenElseNode>()->else_case);
        break;
      case StmtKind::kLetStmt: merge(s.as<LetStmtNode>()->body); break;
      default: break;
    }
    return total;
  }

  double const_extent(const Expr& e) {
    if (const int64_t* c = as_const_int(e)) return static_cast<double>(std::max<int64_t>(*c, 0));
    ConstIntBound b = analyzer_.const_int_bound(e);
    if (b.max == ConstIntBound::kPosInf || b.max < 0) return 1;
    return static_cast<double>(b.max);
  }

  void walk(const Stmt& s) {
    if (!s.defined()) return;
    switch (s.kind()) {
      case StmtKind::kFor: {
        const auto* f = s.as<ForNode>();
        analyzer_.bind_range(f->loop_var, f->min, f->extent);
        loops_.push_back({f->loop_var.get(), const_extent(f->extent), f->for_kind, f->thread_tag, f});
        walk(f->body);
        loops_.pop_back();
        return;
      }
      case StmtKind::kAllocate: {
        const auto* a = s.as<AllocateNode>();
        allocs_.push_back(a->buffer.get());
        walk(a->body);
        allocs_.pop_back();
        return;
      }
      case StmtKind::kSeq:
        for (const Stmt& c : s.as<SeqNode>()->stmts) walk(c);
        return;
      case StmtKind::kIfThenElse: {
        const auto* i = s.as<IfThenElseNode>();
        ++guards_;
        walk(i->then_case);
        walk(i->else_case);
        --guards_;
        return;
      }
      case StmtKind::kLetStmt: {
        const auto* l = s.as<LetStmtNode>();
        lets_[l->var.get()] = l->value;
        if (l->value.dtype().is_integral() && l->value.dtype().is_scalar())
          analyzer_.bind_value(l->var, l->value);
        walk(l->body);
        return;
      }
      case StmtKind::kStore:
        rows_.push_back(store_features(s.as<StoreNode>()));
        return;
      default:
        return;
    }
  }

  Access make_access(const std::shared_ptr<const BufferNode>& buffer, const std::vector<Expr>& indices,
                     bool is_write) {
    Access a{buffer->data.get(), buffer.get(), is_write, {}, 1, 0};
    // Lowered IR has one flat index; a multi-index access combines its indices by the strides.
    std::vector<Expr> strides;
    if (indices.size() > 1) strides = Buffer(buffer).effective_strides();
    for (size_t d = 0; d < indices.size(); ++d) {
      const Expr& index = indices[d];
      double stride = 1;
      if (indices.size() > 1 && d < strides.size()) {
        const int64_t* c = as_const_int(strides[d]);
        stride = c ? static_cast<double>(*c) : 1;
      }
      linear_terms(index, stride, lets_, a.index);
      if (index.dtype().lanes() > 1) {
        a.lanes = index.dtype().lanes();
        if (const auto* r = index.as<RampNode>()) {
          const int64_t* c = as_const_int(r->stride);
          a.lane_stride = stride * (c ? static_cast<double>(*c) : 1);
        } else if (index.as<BroadcastNode>()) {
          a.lane_stride = 0;
        } else {
          a.lane_stride = stride;  // a gather: assume one element apart at best
          a.index.nonlinear = true;
        }
      }
    }
    return a;
  }

  void collect_loads(const Expr& e, std::vector<Access>& out) {
    if (!e.defined()) return;
    pre_order_visit(make_evaluate(e), [&](const Expr* x, const Stmt*) {
      if (x && x->kind() == ExprKind::kLoad) {
        const auto* l = x->as<LoadNode>();
        out.push_back(make_access(l->buffer, l->indices, false));
      }
    });
  }

  // Dims of an access within the innermost `levels` enclosing loops, lanes included.
  std::vector<Dim> dims_of(const Access& a, size_t levels) const {
    std::vector<Dim> dims;
    dims.push_back({a.lanes, a.lanes > 1 ? a.lane_stride : 0});
    for (size_t i = 0; i < levels && i < loops_.size(); ++i) {
      const LoopInfo& loop = loops_[loops_.size() - 1 - i];
      dims.push_back({loop.extent, a.index.coefficient(loop.var)});
    }
    return dims;
  }

  std::vector<float> store_features(const StoreNode* store) {
    std::vector<float> row;
    row.reserve(feature_names().size());
    const size_t depth = loops_.size();
    double executions = 1;
    for (const LoopInfo& l : loops_) executions *= std::max(1.0, l.extent);
    const double lanes = store->value.dtype().lanes();

    // Arithmetic: the value and the index computations, per element, times executions.
    double counts[kNumArith] = {};
    count_arith(store->value, counts);
    for (const Expr& i : store->indices) count_arith(i, counts);
    counts[kFloatTotal] = counts[kFloatAddSub] + counts[kFloatMul] + counts[kFloatDivMod] + counts[kFloatMinMax] +
                          counts[kFloatMath] + counts[kFloatCompare];
    const double flops_per_exec = counts[kFloatTotal];
    for (double c : counts) row.push_back(log_scale(c * executions));

    // Loop annotations.
    double parallel_extent = 1, block_extent = 1, thread_extent = 1;
    int num_parallel = 0;
    bool thread_bound = false;
    for (const LoopInfo& l : loops_) {
      if (l.kind == ForKind::kParallel) { parallel_extent *= l.extent; ++num_parallel; }
      if (l.kind == ForKind::kThreadBound) {
        thread_bound = true;
        (l.thread_tag.rfind("blockIdx", 0) == 0 ? block_extent : thread_extent) *= l.extent;
      }
    }
    double stores_inner = 1, same_buffer_inner = 1, innermost_extent = 1;
    if (depth > 0) {
      const LoopInfo& inner = loops_.back();
      auto it = loop_stores_.find(inner.node);
      if (it != loop_stores_.end()) {
        stores_inner = it->second.first;
        auto jt = it->second.second.find(store->buffer->data.get());
        if (jt != it->second.second.end()) same_buffer_inner = jt->second;
      }
      innermost_extent = inner.extent;
    }
    row.push_back(static_cast<float>(lanes));
    row.push_back(lanes > 1 ? 1.f : 0.f);
    row.push_back(num_parallel > 0 ? 1.f : 0.f);
    row.push_back(log_scale(num_parallel > 0 ? parallel_extent : 0));
    row.push_back(static_cast<float>(num_parallel));
    row.push_back(thread_bound ? 1.f : 0.f);
    row.push_back(log_scale(thread_bound ? block_extent : 0));
    row.push_back(log_scale(thread_bound ? thread_extent : 0));
    row.push_back(log_scale(stores_inner));
    row.push_back(log_scale(same_buffer_inner));
    row.push_back(log_scale(innermost_extent));
    row.push_back(guards_ > 0 ? 1.f : 0.f);

    // Accesses, grouped per buffer.
    std::vector<Access> accesses;
    accesses.push_back(make_access(store->buffer, store->indices, true));
    collect_loads(store->value, accesses);
    for (const Expr& i : store->indices) collect_loads(i, accesses);
    struct BufferGroup {
      const BufferNode* buffer;
      std::vector<const Access*> accesses;
      bool read = false, write = false;
      double bytes = 0;
    };
    std::vector<BufferGroup> groups;
    for (const Access& a : accesses) {
      auto it = std::find_if(groups.begin(), groups.end(), [&](const BufferGroup& g) { return g.buffer->data.get() == a.data; });
      if (it == groups.end()) { groups.push_back({a.buffer, {}, false, false, 0}); it = groups.end() - 1; }
      it->accesses.push_back(&a);
      (a.is_write ? it->write : it->read) = true;
      it->bytes += a.lanes * a.buffer->dtype.bytes() * executions;
    }
    // Unique bytes of a group within the innermost `levels` loops: the largest single access
    // footprint (accesses of one buffer in one statement mostly overlap).
    auto group_footprint = [&](const BufferGroup& g, size_t levels) {
      Footprint best;
      for (const Access* a : g.accesses) {
        Footprint f = footprint(dims_of(*a, levels), a->buffer->dtype.bytes());
        if (f.bytes > best.bytes) best = f;
      }
      return best;
    };
    std::stable_sort(groups.begin(), groups.end(), [](const BufferGroup& x, const BufferGroup& y) {
      if (x.bytes != y.bytes) return x.bytes > y.bytes;
      return x.buffer->name < y.buffer->name;
    });
    for (int slot = 0; slot < kMaxBuffers; ++slot) {
      if (slot >= static_cast<int>(groups.size())) {
        row.insert(row.end(), kNumBuffer, 0.f);
        continue;
      }
      const BufferGroup& g = groups[slot];
      const Access& a = *g.accesses.front();
      Footprint all = group_footprint(g, depth);
      // Reuse: the innermost loop in which the access is invariant reuses its data every
      // iteration; otherwise several accesses in the statement reuse it serially.
      int reuse_level = -1;
      for (size_t i = 0; i < depth; ++i) {
        const LoopInfo& l = loops_[depth - 1 - i];
        if (l.extent > 1 && a.index.coefficient(l.var) == 0 && !a.index.nonlinear) { reuse_level = static_cast<int>(i); break; }
      }
      double reuse_iters = 0, reuse_bytes = 0, reuse_count = 0;
      int reuse_kind = 2;  // 0 loop, 1 serial, 2 none
      if (reuse_level >= 0) {
        reuse_kind = 0;
        reuse_iters = 1;
        for (int i = 0; i < reuse_level; ++i) reuse_iters *= loops_[depth - 1 - i].extent;
        for (const BufferGroup& other : groups) reuse_bytes += group_footprint(other, reuse_level).bytes;
        reuse_count = loops_[depth - 1 - reuse_level].extent;
      } else if (g.accesses.size() > 1) {
        reuse_kind = 1;
        reuse_iters = 1;
        reuse_bytes = 0;
        for (const BufferGroup& other : groups) reuse_bytes += group_footprint(other, 0).bytes;
        reuse_count = static_cast<double>(g.accesses.size());
      }
      // Innermost stride: between vector lanes, else along the innermost enclosing loop.
      // A scalar access inside a vector store is invariant across the lanes (broadcast).
      double stride = 0;
      if (a.lanes > 1) stride = a.lane_stride;
      else if (lanes == 1 && depth > 0) stride = a.index.coefficient(loops_.back().var);
      stride = std::fabs(stride);
      row.push_back(1.f);
      row.push_back(g.read ? 1.f : 0.f);
      row.push_back(g.write ? 1.f : 0.f);
      row.push_back(static_cast<float>(g.accesses.size()));
      row.push_back(log_scale(g.bytes));
      row.push_back(log_scale(all.bytes));
      // Lines fetched when only the innermost loop's data stays cached between its iterations.
      double inner_extent = depth > 0 ? std::max(1.0, loops_.back().extent) : 1.0;
      row.push_back(log_scale(group_footprint(g, std::min<size_t>(depth, 1)).lines * executions / inner_extent));
      row.push_back(log_scale(all.lines));
      row.push_back(reuse_kind == 0 ? 1.f : 0.f);
      row.push_back(reuse_kind == 1 ? 1.f : 0.f);
      row.push_back(reuse_kind == 2 ? 1.f : 0.f);
      row.push_back(log_scale(reuse_iters));
      row.push_back(log_scale(reuse_bytes));
      row.push_back(log_scale(reuse_count));
      row.push_back(stride == 0 ? 1.f : 0.f);
      row.push_back(stride == 1 ? 1.f : 0.f);
      row.push_back(stride > 1 ? 1.f : 0.f);
      row.push_back(log_scale(stride));
      row.push_back(g.buffer->scope != MemoryScope::kGlobal ? 1.f : 0.f);
    }

    // Arithmetic intensity curve: flops / unique bytes over the innermost 0..depth loops,
    // sampled at kCurvePoints evenly spaced levels (linear interpolation between levels).
    std::vector<double> intensity(depth + 1);
    double flops = flops_per_exec;
    for (size_t level = 0; level <= depth; ++level) {
      if (level > 0) flops *= std::max(1.0, loops_[depth - level].extent);
      double bytes = 0;
      for (const BufferGroup& g : groups) bytes += group_footprint(g, level).bytes;
      intensity[level] = flops / std::max(1.0, bytes);
    }
    for (int p = 0; p < kCurvePoints; ++p) {
      double t = depth * static_cast<double>(p) / (kCurvePoints - 1);
      size_t lo = static_cast<size_t>(std::floor(t));
      size_t hi = std::min(depth, lo + 1);
      double w = t - static_cast<double>(lo);
      row.push_back(log_scale(intensity[lo] * (1 - w) + intensity[hi] * w));
    }

    // Allocations enclosing the store.
    double alloc_bytes = 0, target_bytes = 0;
    for (const BufferNode* b : allocs_) {
      double elements = 1;
      for (const Expr& e : b->shape) elements *= const_extent(e);
      double bytes = elements * b->dtype.bytes();
      alloc_bytes += bytes;
      if (b->data.get() == store->buffer->data.get()) target_bytes = bytes;
    }
    row.push_back(static_cast<float>(allocs_.size()));
    row.push_back(log_scale(alloc_bytes));
    row.push_back(log_scale(target_bytes));
    row.push_back(store->buffer->scope != MemoryScope::kGlobal ? 1.f : 0.f);

    // Outer scope.
    row.push_back(static_cast<float>(depth));
    row.push_back(log_scale(executions));
    row.push_back(depth > 0 && loops_.front().kind == ForKind::kParallel ? 1.f : 0.f);
    row.push_back(log_scale(depth > 0 ? loops_.front().extent : 0));
    row.push_back(log_scale(function_stores_));
    row.push_back(log_scale(function_loops_));

    internal_check(row.size() == feature_names().size())
        << "feature row has " << row.size() << " entries, expected " << feature_names().size();
    return row;
  }

  const PrimFunc& func_;
  Analyzer analyzer_;
  LetMap lets_;
  std::vector<LoopInfo> loops_;
  std::vector<const BufferNode*> allocs_;
  int guards_ = 0;
  int function_stores_ = 0, function_loops_ = 0;
  std::unordered_map<const ForNode*, std::pair<int, std::map<const VarNode*, int>>> loop_stores_;
  std::vector<std::vector<float>> rows_;
};

}  // namespace

const std::vector<std::string>& feature_names() {
  static const std::vector<std::string> names = build_names();
  return names;
}

std::vector<std::vector<float>> extract_features(const PrimFunc& lowered) {
  user_check(lowered.defined()) << "extract_features: the function is undefined";
  return Extractor(lowered).run();
}

}  // namespace tessel::autotune
