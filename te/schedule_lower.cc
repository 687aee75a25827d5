// Lowering a schedule to loop IR (TVM's ScheduleOps + InferBound, in one place):
//   1. inline the stages marked compute_inline into their consumers;
//   2. infer each stage's root domain, consumers first: root stages cover their whole tensor; a
//      stage computed at (S, X) covers what its consumers read during one iteration of S's loop X;
//   3. derive leaf extents and root values (root = min + f(leaves)) through the split/fuse
//      relations;
//   4. build each stage's loop nest from its leaf order, with reduction init placed just outside
//      the first reduction loop, guards where splits do not divide, and attached stages (with
//      their allocations) placed at the top of the loop they are attached to;
//   5. rewrite every access to an intermediate tensor into its (possibly smaller) allocation.
#include <algorithm>
#include <functional>
#include <unordered_map>
#include <unordered_set>

#include "tessel/ir/arith.h"
#include "tessel/ir/error.h"
#include "tessel/ir/functor.h"
#include "tessel/ir/lower.h"
#include "tessel/te/schedule.h"

namespace tessel::te {

namespace {

// A symbolic inclusive interval; `unknown` means nothing could be said.
struct Interval {
  Expr min, max;
  bool unknown = false;
  static Interval point(Expr e) { return {e, e, false}; }
  static Interval none() { return {Expr(), Expr(), true}; }
};

// Interval of e when the variables in `relaxed` range over [0, extent - 1] (their own extents
// may mention other relaxed variables; those are relaxed recursively).
class IntervalEvaluator {
 public:
  explicit IntervalEvaluator(const std::unordered_map<const VarNode*, Expr>& relaxed) : relaxed_(relaxed) {}

  Interval eval(const Expr& e) {
    // A subtree that mentions no relaxed variable is a single value, however it is built.
    if (!mentions_relaxed(e)) return Interval::point(e);
    if (const VarNode* v = e.as<VarNode>()) {
      auto it = relaxed_.find(v);
      if (it == relaxed_.end()) return Interval::point(e);
      Interval ext = eval(it->second);
      if (ext.unknown) return Interval::none();
      return {make_const(e.dtype(), 0), ext.max - make_const(e.dtype(), 1), false};
    }
    if (e.as<IntImmNode>()) return Interval::point(e);
    if (const CastNode* c = e.as<CastNode>()) {
      Interval a = eval(c->value);
      if (a.unknown || !c->dtype.is_int() || !c->value.dtype().is_int() || c->dtype.bits() < c->value.dtype().bits())
        return Interval::none();
      return {make_cast(c->dtype, a.min), make_cast(c->dtype, a.max), false};
    }
    if (const BinaryNode* b = e.as<BinaryNode>()) {
      Interval x = eval(b->a), y = eval(b->b);
      if (x.unknown || y.unknown) return Interval::none();
      switch (b->op) {
        case BinaryOp::kAdd: return {x.min + y.min, x.max + y.max, false};
        case BinaryOp::kSub: return {x.min - y.max, x.max - y.min, false};
        case BinaryOp::kMul: {
          const int64_t* c = as_const_int(b->b);
          Interval v = x;
          if (!c) {
            c = as_const_int(b->a);
            v = y;
          }
          if (!c) {
            if (x.min.same_as(x.max) && y.min.same_as(y.max)) return Interval::point(e);
            return Interval::none();
          }
          Expr k = make_const(e.dtype(), static_cast<double>(*c));
          return *c >= 0 ? Interval{v.min * k, v.max * k, false} : Interval{v.max * k, v.min * k, false};
        }
        case BinaryOp::kDiv: {
          const int64_t* c = as_const_int(b->b);
          if (!c || *c <= 0) return Interval::none();
          return {x.min / b->b, x.max / b->b, false};  // floor division is monotonic
        }
        case BinaryOp::kMod: {
          const int64_t* c = as_const_int(b->b);
          if (!c || *c <= 0) return Interval::none();
          if (x.min.same_as(x.max)) return Interval::point(e);
          return {make_const(e.dtype(), 0), make_const(e.dtype(), static_cast<double>(*c - 1)), false};
        }
        case BinaryOp::kMin: return {tessel::min(x.min, y.min), tessel::min(x.max, y.max), false};
        case BinaryOp::kMax: return {tessel::max(x.min, y.min), tessel::max(x.max, y.max), false};
        default: return Interval::none();
      }
    }
    if (const SelectNode* s = e.as<SelectNode>()) {
      Interval x = eval(s->true_value), y = eval(s->false_value);
      if (x.unknown || y.unknown) return Interval::none();
      return {tessel::min(x.min, y.min), tessel::max(x.max, y.max), false};
    }
    if (const LetNode* l = e.as<LetNode>()) return eval(substitute(l->body, {{l->var, l->value}}));
    return Interval::none();
  }

 private:
  bool mentions_relaxed(const Expr& e) {
    bool found = false;
    pre_order_visit(make_evaluate(e), [&](const Expr* x, const Stmt*) {
      if (const VarNode* v = x ? x->as<VarNode>() : nullptr) found |= relaxed_.count(v) > 0;
    });
    return found;
  }
  const std::unordered_map<const VarNode*, Expr>& relaxed_;
};

// Per-stage facts computed during lowering.
struct StageInfo {
  Operation op;                                     // after inlining
  std::vector<Range> root_dom;                      // one per root iter var (axis then reduce)
  std::unordered_map<const IterVarNode*, Expr> extent;  // every iter var's extent
  std::unordered_map<const IterVarNode*, Expr> value;   // every iter var's value from leaves (0-based)
  std::vector<Expr> region_min;                     // data-parallel dims: offset of the allocation
  std::vector<Expr> alloc_extent;                   // data-parallel dims: allocated extent
  bool needs_allocation = false;
  Buffer storage;                                   // the allocation (or the tensor's own buffer)
  int64_t pack = 0;                                 // storage_pack block size (0: row-major storage)
  std::vector<Var> fixed_vars;                      // loop vars enclosing this stage's loops
};

Expr simplify_expr(const Expr& e) { return simplify(e); }

// Substitutes inlined tensors' bodies into e.
class Inliner : public IRMutator {
 public:
  struct Body {
    std::vector<Var> axis;
    Expr value;
  };
  std::unordered_map<const BufferNode*, Body> bodies;
  Expr mutate_Load(const LoadNode* op, const Expr& self) override {
    Expr e = IRMutator::mutate_Load(op, self);
    const LoadNode* load = e.as<LoadNode>();
    auto it = bodies.find(load->buffer.get());
    if (it == bodies.end()) return e;
    std::vector<std::pair<Var, Expr>> map;
    for (size_t d = 0; d < it->second.axis.size(); ++d) {
      Expr index = load->indices[d];
      if (index.dtype() != it->second.axis[d].dtype()) index = make_cast(it->second.axis[d].dtype(), index);
      map.push_back({it->second.axis[d], index});
    }
    return substitute(it->second.value, map);
  }
};

Operation inline_op(const Operation& op, Inliner& inliner) {
  if (op->kind != OpKind::kCompute) return op;
  if (op->has_reduction) {
    Reduction r = op->reduction;
    r.source = inliner.mutate(r.source);
    r.condition = inliner.mutate(r.condition);
    if (r.source.same_as(op->reduction.source) && r.condition.same_as(op->reduction.condition)) return op;
    return std::make_shared<const OperationNode>(op->kind, op->name, op->shape, op->dtype, op->axis, Expr(), true, r, op->tag);
  }
  Expr body = inliner.mutate(op->body);
  if (body.same_as(op->body)) return op;
  return std::make_shared<const OperationNode>(op->kind, op->name, op->shape, op->dtype, op->axis, body, false,
                                               Reduction{}, op->tag);
}

bool op_reads(const Operation& op, const BufferNode* buffer) {
  for (const Tensor& t : op->inputs()) {
    if (t.buffer().get() == buffer) return true;
  }
  return false;
}

void collect_accesses(const Expr& e, const BufferNode* buffer, std::vector<std::vector<Expr>>* out) {
  if (!e.defined()) return;
  pre_order_visit(make_evaluate(e), [&](const Expr* x, const Stmt*) {
    if (!x) return;
    if (const LoadNode* load = x->as<LoadNode>(); load && load->buffer.get() == buffer) out->push_back(load->indices);
  });
}

class ScheduleLowering {
 public:
  ScheduleLowering(Schedule& schedule, const std::vector<Tensor>& args) : schedule_(schedule), args_(args) {}

  Stmt run() {
    int n = schedule_.num_stages();
    infos_.resize(n);
    inline_stages();
    // Domains, consumers first.
    for (int s = n - 1; s >= 0; --s) {
      const StageNode& stage = schedule_.stage_node(s);
      if (stage.is_placeholder || stage.attach == AttachKind::kInline) continue;
      infer_root_domain(s);
      derive_iter_vars(s);
    }
    // Storage for every computed stage.
    for (int s = 0; s < n; ++s) make_storage(s);
    // Root-attached stages in order, each wrapped by the allocations of root intermediates.
    std::vector<Stmt> body;
    for (int s = 0; s < n; ++s) {
      const StageNode& stage = schedule_.stage_node(s);
      if (stage.is_placeholder || stage.attach != AttachKind::kRoot) continue;
      body.push_back(build_stage(s));
    }
    Stmt result = make_seq(body);
    for (int s = n - 1; s >= 0; --s) {
      const StageNode& stage = schedule_.stage_node(s);
      if (stage.attach == AttachKind::kRoot && infos_[s].needs_allocation) result = make_allocate(infos_[s].storage, result);
    }
    return rewrite_accesses(result);
  }

 private:
  bool is_arg(const Tensor& t) const {
    for (const Tensor& a : args_) {
      if (a.buffer().same_as(t.buffer())) return true;
    }
    return false;
  }

  void inline_stages() {
    Inliner inliner;
    for (int s = 0; s < schedule_.num_stages(); ++s) {
      const StageNode& stage = schedule_.stage_node(s);
      infos_[s].op = stage.is_placeholder ? stage.op : inline_op(stage.op, inliner);
      if (stage.attach == AttachKind::kInline) {
        user_check(!is_arg(stage.output)) << "compute_inline: " << stage.op->name
                                          << " is a function argument and must be computed";
        Inliner::Body body;
        for (const IterVar& iv : infos_[s].op->axis) body.axis.push_back(iv.var());
        body.value = infos_[s].op->body;
        inliner.bodies[stage.output.buffer().get()] = body;
      }
    }
  }

  // The loop vars fixed at position `pos` of stage s's leaves (inclusive), plus those of its
  // attach ancestors.
  std::vector<Var> fixed_through(int s, int pos) {
    std::vector<Var> fixed = infos_[s].fixed_vars;
    const auto& leaves = schedule_.stage_node(s).leaf_iter_vars;
    for (int i = 0; i <= pos; ++i) fixed.push_back(leaves[i].var());
    return fixed;
  }

  void infer_root_domain(int s) {
    const StageNode& stage = schedule_.stage_node(s);
    StageInfo& info = infos_[s];
    const Operation& op = info.op;
    info.root_dom.clear();
    for (const IterVar& iv : op->root_iter_vars()) info.root_dom.push_back(iv->dom);
    info.region_min.assign(op->axis.size(), Expr());
    info.alloc_extent.clear();
    for (const IterVar& iv : op->axis) {
      info.alloc_extent.push_back(iv->dom.extent);
    }
    for (size_t d = 0; d < op->axis.size(); ++d) info.region_min[d] = make_const(op->axis[d]->dom.extent.dtype(), 0);
    if (stage.attach != AttachKind::kScope) return;

    int parent = stage.attach_stage;
    int pos = schedule_.stage(parent).leaf_position(stage.attach_iter_var, "compute_at");
    info.fixed_vars = fixed_through(parent, pos);
    std::unordered_set<const VarNode*> fixed;
    for (const Var& v : info.fixed_vars) fixed.insert(v.get());
    // A shared-memory stage serves the whole thread block: its region covers every value of the
    // enclosing loops bound to threadIdx.* (the block's threads fill it cooperatively).
    if (stage.scope == MemoryScope::kShared) {
      for (int c = 0; c < schedule_.num_stages(); ++c) {
        for (const auto& [iv, attr] : schedule_.stage_node(c).attrs) {
          if (attr.thread_tag.rfind("threadIdx.", 0) == 0) fixed.erase(iv->var.get());
        }
      }
    }

    // Every leaf var of every computed stage that is not fixed here is relaxed over its extent.
    std::unordered_map<const VarNode*, Expr> relaxed;
    for (int c = 0; c < schedule_.num_stages(); ++c) {
      for (const auto& [iv, extent] : infos_[c].extent) {
        if (!fixed.count(iv->var.get())) relaxed[iv->var.get()] = extent;
      }
    }
    IntervalEvaluator evaluator(relaxed);
    const BufferNode* buffer = stage.output.buffer().get();
    std::vector<Interval> region(op->axis.size());
    bool any = false;
    for (int c = s + 1; c < schedule_.num_stages(); ++c) {
      const StageNode& consumer = schedule_.stage_node(c);
      if (consumer.attach == AttachKind::kInline || consumer.is_placeholder) continue;
      const Operation& cop = infos_[c].op;
      if (!op_reads(cop, buffer)) continue;
      std::vector<std::vector<Expr>> accesses;
      if (cop->has_reduction) {
        collect_accesses(cop->reduction.source, buffer, &accesses);
        collect_accesses(cop->reduction.condition, buffer, &accesses);
      } else {
        collect_accesses(cop->body, buffer, &accesses);
      }
      // Root vars of the consumer in terms of its leaves (and its own enclosing loops).
      std::vector<std::pair<Var, Expr>> root_values;
      std::vector<IterVar> roots = cop->root_iter_vars();
      for (size_t r = 0; r < roots.size(); ++r) {
        const Expr& min = infos_[c].root_dom[r].min;
        const Expr& local = infos_[c].value.at(roots[r].get());
        root_values.push_back({roots[r].var(), is_zero(min) ? local : min + local});
      }
      for (const auto& indices : accesses) {
        for (size_t d = 0; d < indices.size(); ++d) {
          Interval iv = evaluator.eval(simplify_expr(substitute(indices[d], root_values)));
          if (iv.unknown || region[d].unknown) {
            region[d] = Interval::none();
          } else if (!region[d].min.defined()) {
            region[d] = iv;
          } else {
            region[d] = {tessel::min(region[d].min, iv.min), tessel::max(region[d].max, iv.max), false};
          }
        }
        any = true;
      }
    }
    user_check(any) << "compute_at: no stage consumes " << op->name << " inside its attach point";

    Analyzer analyzer;
    bind_fixed_ranges(analyzer, info.fixed_vars);
    for (size_t d = 0; d < op->axis.size(); ++d) {
      const Expr& full = op->axis[d]->dom.extent;
      DataType t = full.dtype();
      if (region[d].unknown || !region[d].min.defined()) {
        info.region_min[d] = make_const(t, 0);
        info.alloc_extent[d] = full;
        continue;
      }
      Expr min = analyzer.simplify(region[d].min);
      Expr extent = analyzer.simplify(region[d].max - region[d].min + make_const(t, 1));
      ConstIntBound bound = analyzer.const_int_bound(extent);
      int64_t cap = as_const_int(full) ? *as_const_int(full) : ConstIntBound::kPosInf;
      if (bound.max == ConstIntBound::kPosInf || bound.max >= cap) {
        // Unbounded, or as large as the tensor: compute the whole dimension.
        info.region_min[d] = make_const(t, 0);
        info.alloc_extent[d] = full;
      } else {
        info.region_min[d] = min;
        info.alloc_extent[d] = make_const(t, static_cast<double>(bound.max));
      }
      info.root_dom[d] = {info.region_min[d], info.alloc_extent[d]};
    }
  }

  void bind_fixed_ranges(Analyzer& analyzer, const std::vector<Var>& vars) {
    for (const Var& v : vars) {
      for (const StageInfo& info : infos_) {
        for (const auto& [iv, extent] : info.extent) {
          if (iv->var.same_as(v)) analyzer.bind_range(v, make_const(v.dtype(), 0), extent);
        }
      }
    }
  }

  void derive_iter_vars(int s) {
    const StageNode& stage = schedule_.stage_node(s);
    StageInfo& info = infos_[s];
    std::vector<IterVar> roots = info.op->root_iter_vars();
    for (size_t r = 0; r < roots.size(); ++r) info.extent[roots[r].get()] = simplify_expr(info.root_dom[r].extent);
    for (const IterRelation& rel : stage.relations) {
      if (rel.kind == IterRelation::kSplit) {
        Expr parent = info.extent.at(rel.parent.get());
        DataType t = parent.dtype();
        Expr factor = make_const(t, static_cast<double>(rel.factor));
        Expr ceil = simplify_expr((parent + factor - make_const(t, 1)) / factor);
        info.extent[rel.outer.get()] = rel.by_nparts ? factor : ceil;
        info.extent[rel.inner.get()] = rel.by_nparts ? ceil : factor;
      } else {
        info.extent[rel.parent.get()] = simplify_expr(info.extent.at(rel.outer.get()) * info.extent.at(rel.inner.get()));
      }
    }
    for (const IterVar& leaf : stage.leaf_iter_vars) info.value[leaf.get()] = leaf.var();
    for (auto it = stage.relations.rbegin(); it != stage.relations.rend(); ++it) {
      const IterRelation& rel = *it;
      if (rel.kind == IterRelation::kSplit) {
        info.value[rel.parent.get()] = info.value.at(rel.outer.get()) * info.extent.at(rel.inner.get()) +
                                       info.value.at(rel.inner.get());
      } else {
        Expr inner_extent = info.extent.at(rel.inner.get());
        info.value[rel.outer.get()] = info.value.at(rel.parent.get()) / inner_extent;
        info.value[rel.inner.get()] = info.value.at(rel.parent.get()) % inner_extent;
      }
    }
  }

  void make_storage(int s) {
    const StageNode& stage = schedule_.stage_node(s);
    StageInfo& info = infos_[s];
    if (stage.is_placeholder || stage.attach == AttachKind::kInline) return;
    if (stage.is_output || is_arg(stage.output)) {
      user_check(stage.storage_pack == 0) << "storage_pack on " << stage.op->name
                                          << ": an output or argument keeps the layout its callers see";
      info.storage = stage.output.buffer();
      // Arguments are written at their global coordinates.
      for (auto& m : info.region_min) m = make_const(m.dtype(), 0);
      return;
    }
    std::vector<Expr> strides;
    if (!stage.storage_align.empty()) {
      int nd = static_cast<int>(info.alloc_extent.size());
      strides.assign(nd, Expr());
      int64_t running = 1;
      for (int d = nd - 1; d >= 0; --d) {
        for (const auto& [dim, fo] : stage.storage_align) {
          if (dim == d) running += ((fo.second - running % fo.first) % fo.first + fo.first) % fo.first;
        }
        strides[d] = make_int(DataType::Int(64), running);
        const int64_t* e = as_const_int(info.alloc_extent[d]);
        user_check(e) << "storage_align on " << stage.op->name << " needs constant extents";
        running *= *e;
      }
    }
    if (stage.storage_pack > 0) {
      user_check(stage.storage_align.empty()) << "storage_pack on " << stage.op->name << ": not with storage_align";
      // [E0, ..., En] stored as [ceil(En / f), E0, ..., En-1, f]; rewrite_accesses maps the indices.
      info.pack = stage.storage_pack;
      std::vector<Expr> shape;
      Expr last = info.alloc_extent.back();
      Expr f = make_const(last.dtype(), static_cast<double>(info.pack));
      shape.push_back(simplify_expr((last + f - make_const(last.dtype(), 1)) / f));
      shape.insert(shape.end(), info.alloc_extent.begin(), info.alloc_extent.end() - 1);
      shape.push_back(f);
      info.storage = make_buffer(stage.op->name, stage.op->dtype, shape, {}, stage.scope);
    } else {
      info.storage = make_buffer(stage.op->name, stage.op->dtype, info.alloc_extent, strides, stage.scope);
    }
    info.needs_allocation = true;
  }

  // Builds stage s's loop nest, with the stages attached to its loops inside.
  Stmt build_stage(int s) {
    const StageNode& stage = schedule_.stage_node(s);
    StageInfo& info = infos_[s];
    const Operation& op = info.op;
    std::vector<IterVar> roots = op->root_iter_vars();
    std::vector<std::pair<Var, Expr>> root_values;
    std::vector<Expr> guards;     // all guards of the update
    std::vector<Expr> dp_guards;  // those on data-parallel dimensions (they also guard the init)
    std::vector<Expr> indices;
    Analyzer analyzer;
    bind_fixed_ranges(analyzer, info.fixed_vars);
    for (const IterVar& leaf : stage.leaf_iter_vars) analyzer.bind_range(leaf.var(), make_const(leaf.var().dtype(), 0), info.extent.at(leaf.get()));
    for (size_t r = 0; r < roots.size(); ++r) {
      Expr local = info.value.at(roots[r].get());
      Expr global = is_zero(info.root_dom[r].min) ? local : info.root_dom[r].min + local;
      root_values.push_back({roots[r].var(), global});
      // Guard when the leaves can overshoot the domain (non-dividing split) or the tensor.
      Expr in_domain = local < info.root_dom[r].extent;
      if (!analyzer.can_prove(in_domain)) {
        guards.push_back(in_domain);
        if (r < op->axis.size()) dp_guards.push_back(in_domain);
      }
      if (r < op->axis.size() && stage.attach == AttachKind::kScope) {
        Expr full = op->axis[r]->dom.extent;
        Expr in_tensor = global < full;
        Expr non_negative = global >= make_const(global.dtype(), 0);
        for (const Expr& g : {in_tensor, non_negative}) {
          if (analyzer.can_prove(g)) continue;
          guards.push_back(g);
          dp_guards.push_back(g);
        }
      }
      if (r < op->axis.size()) indices.push_back(global);
    }
    auto guarded = [&](Stmt body, const std::vector<Expr>& conditions) {
      Expr all;
      for (const Expr& c : conditions) all = all.defined() ? (all && c) : c;
      return all.defined() ? make_if(all, body) : body;
    };
    Buffer out = stage.output.buffer();

    Stmt body;
    Stmt init;
    int first_reduce = -1;
    if (op->has_reduction) {
      const Reduction& red = op->reduction;
      Expr source = substitute(red.source, root_values);
      Expr old = make_load(out, indices);
      Expr combined = substitute(red.combiner->result, {{red.combiner->lhs, old}, {red.combiner->rhs, source}});
      std::vector<Expr> conditions = guards;
      if (red.condition.defined()) conditions.push_back(substitute(red.condition, root_values));
      body = guarded(make_store(out, combined, indices), conditions);
      for (size_t i = 0; i < stage.leaf_iter_vars.size(); ++i) {
        if (stage.leaf_iter_vars[i]->kind == IterVarKind::kReduce) {
          first_reduce = static_cast<int>(i);
          break;
        }
      }
      internal_check(first_reduce >= 0) << "reduction stage " << op->name << " without reduce leaves";
      // Init: loops over the data-parallel leaves inside the first reduce loop, with fresh vars.
      std::vector<std::pair<Var, Expr>> fresh;
      std::vector<Var> init_vars;
      std::vector<const IterVar*> init_loops;
      for (size_t i = first_reduce + 1; i < stage.leaf_iter_vars.size(); ++i) {
        const IterVar& leaf = stage.leaf_iter_vars[i];
        if (leaf->kind == IterVarKind::kReduce) continue;
        init_loops.push_back(&leaf);
        init_vars.push_back(Var(leaf->var->name + ".init", leaf->var->dtype));
        fresh.push_back({leaf.var(), init_vars.back()});
      }
      std::vector<Expr> init_indices;
      for (const Expr& index : indices) init_indices.push_back(substitute(index, fresh));
      std::vector<Expr> init_guards;
      for (const Expr& g : dp_guards) init_guards.push_back(substitute(g, fresh));
      init = guarded(make_store(out, red.combiner->identity, init_indices), init_guards);
      for (int i = static_cast<int>(init_loops.size()) - 1; i >= 0; --i) {
        const IterVar& leaf = *init_loops[i];
        const Var& v = init_vars[i];
        init = make_for(v, make_const(v.dtype(), 0), info.extent.at(leaf.get()), loop_kind(stage, leaf), init, loop_tag(stage, leaf));
      }
    } else {
      Expr value = substitute(op->body, root_values);
      body = guarded(make_store(out, value, indices), guards);
    }

    // Loops, innermost first, with attached stages at the top of each loop's body.
    for (int i = static_cast<int>(stage.leaf_iter_vars.size()) - 1; i >= 0; --i) {
      const IterVar& leaf = stage.leaf_iter_vars[i];
      std::vector<Stmt> parts = attached_stages(s, leaf);
      if (op->has_reduction && i == first_reduce - 1) parts.push_back(init);
      parts.push_back(body);
      Stmt inner = make_seq(parts);
      inner = wrap_allocations(s, leaf, inner);
      body = make_for(leaf.var(), make_const(leaf.var().dtype(), 0), info.extent.at(leaf.get()), loop_kind(stage, leaf),
                      inner, loop_tag(stage, leaf));
      auto attr = stage.attrs.find(leaf.get());
      if (attr != stage.attrs.end() && attr->second.auto_unroll_max_step >= 0) {
        body = auto_unroll(body, attr->second.auto_unroll_max_step);
      }
    }
    if (op->has_reduction && first_reduce == 0) body = make_seq({init, body});
    return body;
  }

  // A loop bound to "vthread" (a virtual thread, as in TVM) runs inside each real thread: its
  // iterations are interleaved in one thread, here as a serial loop at the bound position (the
  // virtual threads are data-parallel, so any order gives the same result; barriers inside stay
  // uniform across the block because every thread runs all iterations).
  static bool is_virtual_thread(const StageNode& stage, const IterVar& leaf) {
    auto it = stage.attrs.find(leaf.get());
    return it != stage.attrs.end() && it->second.for_kind == ForKind::kThreadBound && it->second.thread_tag == "vthread";
  }
  static ForKind loop_kind(const StageNode& stage, const IterVar& leaf) {
    auto it = stage.attrs.find(leaf.get());
    if (it == stage.attrs.end() || is_virtual_thread(stage, leaf)) return ForKind::kSerial;
    return it->second.for_kind;
  }
  static std::string loop_tag(const StageNode& stage, const IterVar& leaf) {
    auto it = stage.attrs.find(leaf.get());
    if (it == stage.attrs.end() || is_virtual_thread(stage, leaf)) return std::string();
    return it->second.thread_tag;
  }

  std::vector<Stmt> attached_stages(int s, const IterVar& leaf) {
    std::vector<Stmt> result;
    for (int p = 0; p < schedule_.num_stages(); ++p) {
      const StageNode& stage = schedule_.stage_node(p);
      if (stage.attach == AttachKind::kScope && stage.attach_stage == s && stage.attach_iter_var.same_as(leaf)) {
        result.push_back(build_stage(p));
      }
    }
    return result;
  }

  Stmt wrap_allocations(int s, const IterVar& leaf, Stmt body) {
    for (int p = schedule_.num_stages() - 1; p >= 0; --p) {
      const StageNode& stage = schedule_.stage_node(p);
      if (stage.attach == AttachKind::kScope && stage.attach_stage == s && stage.attach_iter_var.same_as(leaf) &&
          infos_[p].needs_allocation) {
        body = make_allocate(infos_[p].storage, body);
      }
    }
    return body;
  }

  // Marks serial loops of constant extent inside `loop` as unrolled while the number of unrolled
  // statement instances stays within max_step (TVM's auto_unroll_max_step).
  static Stmt auto_unroll(const Stmt& loop, int64_t max_step) {
    struct Unroller : IRMutator {
      int64_t max_step;
      int64_t count = 0;  // statement instances in the last mutated subtree
      Stmt mutate_For(const ForNode* op, const Stmt& self) override {
        Stmt body = mutate(op->body);
        int64_t inner = count;
        const int64_t* extent = as_const_int(op->extent);
        ForKind kind = op->for_kind;
        if (extent && kind == ForKind::kSerial && *extent * inner <= max_step) kind = ForKind::kUnrolled;
        count = extent ? *extent * inner : max_step + 1;
        if (body.same_as(op->body) && kind == op->for_kind) return self;
        return make_for(op->loop_var, op->min, op->extent, kind, body, op->thread_tag);
      }
      Stmt mutate_Seq(const SeqNode* op, const Stmt& self) override {
        int64_t total = 0;
        std::vector<Stmt> stmts;
        bool changed = false;
        for (const Stmt& s : op->stmts) {
          stmts.push_back(mutate(s));
          changed |= !stmts.back().same_as(s);
          total += count;
        }
        count = total;
        return changed ? make_seq(stmts) : self;
      }
      Stmt mutate_Store(const StoreNode*, const Stmt& self) override {
        count = 1;
        return self;
      }
    } unroller;
    unroller.max_step = max_step;
    const ForNode* outer = loop.as<ForNode>();
    return make_for(outer->loop_var, outer->min, outer->extent, outer->for_kind, unroller.mutate(outer->body),
                    outer->thread_tag);
  }

  // Intermediate tensors live in their allocation, offset by the region they cover.
  Stmt rewrite_accesses(const Stmt& body) {
    struct Storage {
      Buffer buffer;
      std::vector<Expr> mins;
      int64_t pack = 0;
    };
    struct Rewriter : IRMutator {
      std::unordered_map<const BufferNode*, Storage> map;
      // Tensor indices -> storage indices: minus the region's offset, then the packed layout's
      // [x_last / f, x_0, ..., x_last % f] (the simplifier later folds the division and modulo
      // of a loop that walks whole blocks into its block and lane loops).
      static std::vector<Expr> locate(const std::vector<Expr>& indices, const Storage& storage) {
        std::vector<Expr> result;
        for (size_t d = 0; d < indices.size(); ++d) {
          Expr m = storage.mins[d];
          if (m.dtype() != indices[d].dtype()) m = make_cast(indices[d].dtype(), m);
          result.push_back(is_zero(m) ? indices[d] : indices[d] - m);
        }
        if (storage.pack > 0) {
          Expr last = result.back();
          Expr f = make_const(last.dtype(), static_cast<double>(storage.pack));
          result.back() = last % f;
          result.insert(result.begin(), last / f);
        }
        return result;
      }
      Expr mutate_Load(const LoadNode* op, const Expr& self) override {
        Expr e = IRMutator::mutate_Load(op, self);
        const LoadNode* load = e.as<LoadNode>();
        auto it = map.find(load->buffer.get());
        if (it == map.end()) return e;
        return make_load(it->second.buffer, locate(load->indices, it->second));
      }
      Stmt mutate_Store(const StoreNode* op, const Stmt& self) override {
        Stmt s = IRMutator::mutate_Store(op, self);
        const StoreNode* store = s.as<StoreNode>();
        auto it = map.find(store->buffer.get());
        if (it == map.end()) return s;
        return make_store(it->second.buffer, store->value, locate(store->indices, it->second));
      }
    } rewriter;
    for (int s = 0; s < schedule_.num_stages(); ++s) {
      const StageInfo& info = infos_[s];
      if (!info.needs_allocation) continue;
      rewriter.map[schedule_.stage_node(s).output.buffer().get()] = {info.storage, info.region_min, info.pack};
    }
    return rewriter.mutate(body);
  }

  Schedule& schedule_;
  const std::vector<Tensor>& args_;
  std::vector<StageInfo> infos_;
};

}  // namespace

PrimFunc lower_schedule(Schedule& schedule, const std::vector<Tensor>& args, const std::string& name,
                        bool run_pipeline) {
  user_check(!args.empty()) << "lower " << name << ": no arguments given";
  for (const Tensor& t : schedule.outputs()) {
    bool listed = false;
    for (const Tensor& a : args) listed |= a.buffer().same_as(t.buffer());
    user_check(listed) << "lower " << name << ": output " << t.name() << " is not among the arguments";
  }
  for (int s = 0; s < schedule.num_stages(); ++s) {
    const StageNode& stage = schedule.stage_node(s);
    if (!stage.is_placeholder) continue;
    bool listed = false;
    for (const Tensor& a : args) listed |= a.buffer().same_as(stage.output.buffer());
    user_check(listed) << "lower " << name << ": input " << stage.op->name << " is not among the arguments";
  }
  Stmt body = ScheduleLowering(schedule, args).run();
  std::vector<Param> params;
  for (const Tensor& a : args) params.push_back(Param::of(a.buffer()));
  PrimFunc f = make_prim_func(name, params, body);
  return run_pipeline ? lower(f) : f;
}

}  // namespace tessel::te
