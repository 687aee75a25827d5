// CPU sketch rules and the application of an annotated sketch (a Candidate) to a fresh schedule.
// Structure decisions live here; the numbers come from annotation.cc.
#include <algorithm>
#include <functional>
#include <set>
#include <sstream>

#include "tessel/autotune/sketch.h"
#include "tessel/ir/error.h"
#include "tessel/ir/functor.h"
#include "sketch_internal.h"

namespace tessel::autotune {

int64_t constant_extent(const IterVar& iv) {
  const int64_t* v = as_const_int(iv->dom.extent);
  return v ? *v : -1;
}

namespace {

// Every Load in an expression, in visiting order.
struct LoadCollector : IRVisitor {
  std::vector<const LoadNode*> loads;
  void visit_Load(const LoadNode* load) override {
    loads.push_back(load);
    IRVisitor::visit_Load(load);
  }
};

// Whether a reduction reads some input with a subset of its spatial axes (so a tile of outputs
// reuses input elements: matmul, conv), rather than once per output element.
bool has_data_reuse(const te::Operation& op) {
  if (!op->has_reduction) return false;
  LoadCollector collector;
  collector.visit(op->reduction.source);
  for (const LoadNode* load : collector.loads) {
    for (const IterVar& axis : op->axis) {
      bool used = false;
      for (const Expr& index : load->indices) used |= uses_var(index, axis->var);
      if (!used) return true;
    }
  }
  return false;
}

// Whether an elementwise stage's value is conditional (padding: a Select on the indices).
bool has_select(const te::Operation& op) {
  struct SelectFinder : IRVisitor {
    bool found = false;
    void visit_Select(const SelectNode* select) override {
      found = true;
      IRVisitor::visit_Select(select);
    }
  } finder;
  if (op->kind == te::OpKind::kCompute && !op->has_reduction) finder.visit(op->body);
  return finder.found;
}

bool constant_shape(const te::Operation& op) {
  for (const IterVar& iv : op->root_iter_vars()) {
    if (constant_extent(iv) < 0) return false;
  }
  return true;
}

}  // namespace

StageFacts analyze_stages(const SearchTask& task) {
  te::Schedule s = task.fresh_schedule();
  StageFacts facts;
  int n = s.num_stages();
  facts.consumers.resize(n);
  for (int i = 0; i < n; ++i) {
    for (const te::Tensor& input : s.stage_node(i).op->inputs()) {
      int producer = s.stage_index_of(input);
      if (producer >= 0) facts.consumers[producer].push_back(i);
    }
  }
  for (int i = 0; i < n; ++i) {
    const te::StageNode& node = s.stage_node(i);
    StageFacts::Stage st;
    st.compute = !node.is_placeholder;
    st.reduction = node.op->has_reduction;
    st.output = node.is_output;
    st.reuse = has_data_reuse(node.op);
    st.constant = constant_shape(node.op);
    st.conditional = !node.is_placeholder && has_select(node.op);
    st.spatial_size = 1;
    for (const IterVar& iv : node.op->axis) st.spatial_size *= std::max<int64_t>(1, constant_extent(iv));
    st.reduce_size = 1;
    if (st.reduction) {
      for (const IterVar& iv : node.op->reduction.axes) st.reduce_size *= std::max<int64_t>(1, constant_extent(iv));
    }
    facts.stages.push_back(st);
  }
  return facts;
}

int fusable_consumer(const SearchTask& task, const StageFacts& facts, int stage) {
  te::Schedule s = task.fresh_schedule();
  int found = -1;
  bool ok = true;
  std::function<void(int)> walk = [&](int i) {
    for (int c : facts.consumers[i]) {
      const auto& f = facts.stages[c];
      if (f.output) {
        if (f.reduction || (found >= 0 && found != c)) ok = false;
        found = c;
      } else if (!f.reduction) {
        walk(c);
      } else {
        ok = false;
      }
    }
  };
  walk(stage);
  if (!ok || found < 0) return -1;
  const auto& a = s.stage_node(stage).op->shape;
  const auto& b = s.stage_node(found).op->shape;
  if (a.size() != b.size()) return -1;
  for (size_t d = 0; d < a.size(); ++d) {
    const int64_t* x = as_const_int(a[d]);
    const int64_t* y = as_const_int(b[d]);
    if (!x || !y || *x != *y) return -1;
  }
  return found;
}

namespace {

StagePlan stage_plan(int stage, StageRule rule, int consumer, std::vector<int> packed = {}) {
  return StagePlan{stage, rule, consumer, std::move(packed)};
}

// The inputs of a tiled reduction worth copying into a tile-local panel: placeholders whose last
// index is the innermost spatial axis itself (the vectorised operand, B[k, j] of a matmul), with
// a reduce axis in an earlier index (so consecutive reduction steps jump a whole row) and rows of
// at least four vectors (shorter rows are nearly contiguous already, as in NCHWc conv weights).
std::vector<int> packable_inputs(const SearchTask& task, int stage) {
  te::Schedule s = task.fresh_schedule();
  const te::Operation& op = s.stage_node(stage).op;
  if (op->axis.empty() || !op->has_reduction) return {};
  const VarNode* innermost = op->axis.back()->var.get();
  const int64_t lanes = std::max(1, task.hardware().vector_bits / 32);
  LoadCollector collector;
  collector.visit(op->reduction.source);
  std::vector<int> packed;
  for (const LoadNode* load : collector.loads) {
    te::Tensor input = te::tensor_of_buffer(load->buffer.get());
    int index = input.defined() ? s.stage_index_of(input) : -1;
    if (index < 0 || !s.stage_node(index).is_placeholder || load->indices.empty()) continue;
    if (load->indices.back().as<VarNode>() != innermost) continue;
    bool strided = false;
    for (size_t d = 0; d + 1 < load->indices.size(); ++d) {
      for (const IterVar& r : op->reduction.axes) strided |= uses_var(load->indices[d], r->var);
    }
    const int64_t* row = as_const_int(input.shape().back());
    if (strided && row && *row >= 4 * lanes && std::find(packed.begin(), packed.end(), index) == packed.end()) {
      packed.push_back(index);
    }
  }
  return packed;
}

}  // namespace

std::vector<Sketch> generate_sketches(const SearchTask& task) {
  StageFacts facts = analyze_stages(task);
  int n = static_cast<int>(facts.stages.size());
  // Alternatives per compute stage.
  std::vector<std::vector<StagePlan>> options(n);
  std::set<int> fused_consumers;
  for (int i = 0; i < n; ++i) {
    const auto& f = facts.stages[i];
    if (!f.compute) continue;
    if (!f.reduction && !f.output) {
      // A padding stage read by a tiled reduction is either inlined (a select per read inside
      // the reduction) or computed once at the root, as the default schedules do.
      bool feeds_tile = false;
      for (int c : facts.consumers[i]) {
        const auto& g = facts.stages[c];
        feeds_tile |= g.reduction && g.reuse && g.constant;
      }
      if (f.conditional && f.constant && feeds_tile) {
        options[i] = {stage_plan(i, StageRule::kInline, -1), stage_plan(i, StageRule::kSimple, -1)};
      } else {
        options[i] = {stage_plan(i, StageRule::kInline, -1)};
      }
    } else if (f.reduction && f.reuse && f.constant) {
      int consumer = f.output ? -1 : fusable_consumer(task, facts, i);
      if (f.output || consumer >= 0) {
        options[i] = {stage_plan(i, StageRule::kTile, consumer), stage_plan(i, StageRule::kSimple, -1)};
        std::vector<int> packed = packable_inputs(task, i);
        if (!packed.empty()) options[i].insert(options[i].begin() + 1, stage_plan(i, StageRule::kTile, consumer, packed));
        if (consumer >= 0) fused_consumers.insert(consumer);
      } else {
        options[i] = {stage_plan(i, StageRule::kSimple, -1)};
      }
    } else if (f.reduction && f.constant && f.spatial_size < 4 * task.hardware().num_cores && f.reduce_size >= 64) {
      options[i] = {stage_plan(i, StageRule::kRfactor, -1), stage_plan(i, StageRule::kSimple, -1)};
    } else {
      options[i] = {stage_plan(i, StageRule::kSimple, -1)};
    }
  }
  return combine_stage_plans<Sketch>(options, StageRule::kTile, StageRule::kFusedInto);
}

std::string Sketch::to_string() const {
  static const char* names[] = {"inline", "tile", "rfactor", "simple", "fused"};
  std::ostringstream os;
  for (size_t i = 0; i < plans.size(); ++i) {
    os << (i ? " " : "") << plans[i].stage << ":" << names[static_cast<int>(plans[i].rule)];
    if (plans[i].rule == StageRule::kTile) os << (plans[i].consumer >= 0 ? "+fuse" : "+cache");
    if (!plans[i].packed.empty()) os << "+pack";
  }
  return os.str();
}

// ---- applying a candidate ----------------------------------------------------------------------

namespace {

// Fuses the first `count` axes (adjacent leaves, outermost first) into one loop and returns it.
IterVar fuse_prefix(te::Stage& stage, const std::vector<IterVar>& axes, int count) {
  IterVar fused = axes[0];
  for (int i = 1; i < count; ++i) fused = stage.fuse(fused, axes[i]);
  return fused;
}

void apply_tile(te::Schedule& s, const std::vector<te::Tensor>& tensors, const StagePlan& plan,
                const StageAnnotation& a, int lanes) {
  te::Tensor inner = tensors[plan.stage];
  te::Tensor outer;
  if (plan.consumer >= 0) {
    outer = tensors[plan.consumer];
  } else {
    outer = inner;
    inner = s.cache_write(outer, "local");
  }
  te::Stage o = s[outer];
  std::vector<IterVar> oaxes = o.axis();
  size_t nd = oaxes.size();
  internal_check(a.spatial.size() == nd) << "tile annotation has " << a.spatial.size() << " levels for " << nd << " axes";
  std::vector<IterVar> l0, l1, l2;
  for (size_t d = 0; d < nd; ++d) {
    const auto& t = a.spatial[d];
    auto [x0, rest] = o.split(oaxes[d], t[0] * t[1] * t[2]);
    auto [x1, x2] = o.split(rest, t[1] * t[2]);
    l0.push_back(x0);
    l1.push_back(x1);
    l2.push_back(x2);
  }
  std::vector<IterVar> order = l0;
  order.insert(order.end(), l1.begin(), l1.end());
  order.insert(order.end(), l2.begin(), l2.end());
  o.reorder(order);
  int depth = std::clamp(a.parallel_depth, 0, static_cast<int>(nd));
  IterVar attach = a.compute_at_level == 0 ? l0.back() : l1.back();
  if (depth > 0) {
    IterVar fused = fuse_prefix(o, l0, depth);
    o.parallel(fused);
    if (a.compute_at_level == 0 && depth == static_cast<int>(nd)) attach = fused;
  }
  if (a.vectorize) o.vectorize(l2.back());

  te::Stage in = s[inner];
  std::vector<IterVar> iaxes = in.axis(), raxes = in.reduce_axis();
  internal_check(a.reduce.size() == raxes.size()) << "tile annotation: wrong number of reduce factors";
  std::vector<IterVar> r0, s2, r1, s3;
  for (size_t d = 0; d < nd; ++d) {
    auto [x2, x3] = in.split(iaxes[d], a.spatial[d][2]);
    s2.push_back(x2);
    s3.push_back(x3);
  }
  for (size_t r = 0; r < raxes.size(); ++r) {
    auto [y0, y1] = in.split(raxes[r], a.reduce[r]);
    r0.push_back(y0);
    r1.push_back(y1);
  }
  std::vector<IterVar> inner_order = r0;
  inner_order.insert(inner_order.end(), s2.begin(), s2.end());
  inner_order.insert(inner_order.end(), r1.begin(), r1.end());
  inner_order.insert(inner_order.end(), s3.begin(), s3.end());
  in.reorder(inner_order);
  in.compute_at(o, attach);
  if (a.vectorize) in.vectorize(s3.back());
  if (a.unroll > 0) in.pragma(in.leaf_iter_vars()[0], "auto_unroll_max_step", a.unroll);
  // Panels: one copy of the tile's slice of the input per outer reduction step, stored packed
  // (GotoBLAS's layout): the slice's columns in blocks as wide as the register tile, each block
  // [k][block] contiguous, so that a register tile's whole k-sweep reads one contiguous stretch
  // instead of one short piece per panel row. The copy walks the packed layout in order.
  internal_check(plan.packed.empty() || !r0.empty()) << "packed panel of a tile without reduce axes";
  const int64_t block = a.spatial.back()[2];
  for (int input : plan.packed) {
    te::Tensor panel = s.cache_read(tensors[input], "local", {inner});
    te::Stage p = s[panel];
    p.compute_at(s[inner], r0.back());  // cache_read renumbered the stages: a fresh handle
    p.storage_pack(block);
    std::vector<IterVar> axes = p.axis();
    auto [column_block, column] = p.split(axes.back(), block);
    std::vector<IterVar> copy_order{column_block};
    copy_order.insert(copy_order.end(), axes.begin(), axes.end() - 1);
    copy_order.push_back(column);
    p.reorder(copy_order);
    if (a.vectorize) p.vectorize(p.split(column, lanes).second);
  }
}

void apply_simple(te::Schedule& s, const te::Tensor& tensor, const StageAnnotation& a) {
  te::Stage st = s[tensor];
  std::vector<IterVar> axes = st.axis();
  std::vector<IterVar> raxes = st.reduce_axis();
  if (axes.empty()) {
    if (a.unroll > 0) st.pragma(st.leaf_iter_vars()[0], "auto_unroll_max_step", a.unroll);
    return;
  }
  if (a.vector_factor > 1) {
    auto [vo, vi] = st.split(axes.back(), a.vector_factor);
    axes.back() = vo;
    if (!raxes.empty()) {
      std::vector<IterVar> order = raxes;
      order.push_back(vi);
      st.reorder(order);
    }
    st.vectorize(vi);
  }
  int depth = std::clamp(a.parallel_depth, 0, static_cast<int>(axes.size()));
  if (depth > 0) st.parallel(fuse_prefix(st, axes, depth));
  if (a.unroll > 0) st.pragma(st.leaf_iter_vars()[0], "auto_unroll_max_step", a.unroll);
}

void apply_rfactor(te::Schedule& s, const te::Tensor& tensor, const StageAnnotation& a) {
  te::Stage st = s[tensor];
  IterVar k = st.reduce_axis().back();
  auto [ko, ki] = st.split_nparts(k, std::max<int64_t>(1, a.rfactor_parts));
  (void)ki;
  te::Tensor rf = s.rfactor(tensor, ko);
  te::Stage rs = s[rf];
  rs.parallel(rs.axis()[0]);
  if (a.unroll > 0) rs.pragma(rs.leaf_iter_vars()[0], "auto_unroll_max_step", a.unroll);
  te::Stage fin = s[tensor];
  std::vector<IterVar> axes = fin.axis();
  int depth = std::clamp(a.parallel_depth, 0, static_cast<int>(axes.size()));
  if (depth > 0) fin.parallel(fuse_prefix(fin, axes, depth));
}

}  // namespace

te::Schedule apply_candidate(const SearchTask& task, const std::vector<Sketch>& sketches, const Candidate& c) {
  user_check(c.sketch >= 0 && c.sketch < static_cast<int>(sketches.size())) << "candidate: sketch index out of range";
  const Sketch& sketch = sketches[c.sketch];
  user_check(c.stages.size() == sketch.plans.size()) << "candidate: annotation does not match its sketch";
  te::Schedule s = task.fresh_schedule();
  const int lanes = std::max(1, task.hardware().vector_bits / 32);
  std::vector<te::Tensor> tensors;
  for (int i = 0; i < s.num_stages(); ++i) tensors.push_back(s.stage_node(i).output);
  for (const StagePlan& p : sketch.plans) {
    if (p.rule == StageRule::kInline) s[tensors[p.stage]].compute_inline();
  }
  for (size_t i = 0; i < sketch.plans.size(); ++i) {
    const StagePlan& p = sketch.plans[i];
    const StageAnnotation& a = c.stages[i];
    switch (p.rule) {
      case StageRule::kTile: apply_tile(s, tensors, p, a, lanes); break;
      case StageRule::kSimple: apply_simple(s, tensors[p.stage], a); break;
      case StageRule::kRfactor: apply_rfactor(s, tensors[p.stage], a); break;
      case StageRule::kInline:
      case StageRule::kFusedInto: break;
    }
  }
  return s;
}

}  // namespace tessel::autotune

// ---- reading a candidate back from its steps ---------------------------------------------------

namespace tessel::autotune {

namespace {

// Walks a step list in the order apply_candidate writes it, replaying each step it consumes (so
// that stage indices stay right when cache_write or rfactor add stages).
class StepReader {
 public:
  StepReader(const SearchTask& task, const std::vector<te::Step>& steps)
      : steps_(steps), schedule_(task.fresh_schedule()) {
    for (int i = 0; i < schedule_.num_stages(); ++i) tensors_.push_back(schedule_.stage_node(i).output);
  }
  // Current index of a stage of the fresh schedule.
  int index_of(int fresh_stage) const { return schedule_.stage_index_of(tensors_.at(fresh_stage)); }
  int index_of(const te::Tensor& tensor) const { return schedule_.stage_index_of(tensor); }
  // The next step if it is `kind` on `stage` (consumed and replayed), else null.
  const te::Step* take(const char* kind, int stage, te::Tensor* created = nullptr) {
    if (pos_ >= steps_.size() || steps_[pos_].kind != kind || steps_[pos_].stage != stage) return nullptr;
    te::Tensor t = schedule_.apply(steps_[pos_]);
    if (created) *created = t;
    return &steps_[pos_++];
  }
  bool done() const { return pos_ == steps_.size(); }

 private:
  const std::vector<te::Step>& steps_;
  te::Schedule schedule_;
  std::vector<te::Tensor> tensors_;
  size_t pos_ = 0;
};

int64_t first_int(const te::Step* step) { return step && step->ints.size() == 1 ? step->ints[0] : -1; }

// fuse_prefix + parallel on `stage`: the number of fused loops, 0 when there is no parallel loop,
// -1 when the steps are not of that form.
int read_parallel(StepReader& r, int stage) {
  int fused = 0;
  while (r.take("fuse", stage)) ++fused;
  if (r.take("parallel", stage)) return fused + 1;
  return fused == 0 ? 0 : -1;
}

bool read_tile(StepReader& r, const te::StageNode& fresh, const StagePlan& plan, StageAnnotation& a) {
  size_t nd = fresh.op->axis.size(), nr = fresh.op->reduction.axes.size();
  int outer = -1;
  te::Tensor cache;
  if (plan.consumer >= 0) {
    outer = r.index_of(plan.consumer);
  } else {
    if (!r.take("cache_write", r.index_of(plan.stage), &cache)) return false;
    outer = r.index_of(plan.stage);
  }
  std::vector<int64_t> all(nd), inner_two(nd);
  for (size_t d = 0; d < nd; ++d) {
    all[d] = first_int(r.take("split", outer));
    inner_two[d] = first_int(r.take("split", outer));
    if (all[d] <= 0 || inner_two[d] <= 0 || all[d] % inner_two[d] != 0) return false;
  }
  if (!r.take("reorder", outer)) return false;
  int depth = read_parallel(r, outer);
  if (depth < 0) return false;
  a.parallel_depth = depth;
  a.vectorize = r.take("vectorize", outer) != nullptr;
  int inner = plan.consumer >= 0 ? r.index_of(plan.stage) : r.index_of(cache);
  a.spatial.assign(nd, {1, 1, 1});
  for (size_t d = 0; d < nd; ++d) {
    int64_t s3 = first_int(r.take("split", inner));
    if (s3 <= 0 || inner_two[d] % s3 != 0) return false;
    a.spatial[d] = {all[d] / inner_two[d], inner_two[d] / s3, s3};
  }
  a.reduce.assign(nr, 1);
  for (size_t k = 0; k < nr; ++k) {
    a.reduce[k] = first_int(r.take("split", inner));
    if (a.reduce[k] <= 0) return false;
  }
  if (!r.take("reorder", inner)) return false;
  const te::Step* at = r.take("compute_at", inner);
  if (!at || at->axes.size() != 1) return false;
  // Leaves of the outer stage: the fused parallel loop (if any), the rest of S0, then S1, S2.
  int level0 = (depth > 0 ? static_cast<int>(nd) - depth + 1 : static_cast<int>(nd)) - 1;
  a.compute_at_level = at->axes[0] == level0 ? 0 : 1;
  if (a.vectorize != (r.take("vectorize", inner) != nullptr)) return false;
  a.unroll = std::max<int64_t>(0, first_int(r.take("pragma", inner)));
  for (int input : plan.packed) {
    te::Tensor panel;
    if (!r.take("cache_read", r.index_of(input), &panel)) return false;
    int p = r.index_of(panel);
    if (!r.take("compute_at", p) || !r.take("storage_pack", p) || !r.take("split", p) || !r.take("reorder", p)) {
      return false;
    }
    if (a.vectorize && (!r.take("split", p) || !r.take("vectorize", p))) return false;
  }
  return true;
}

bool read_simple(StepReader& r, const te::StageNode& fresh, const StagePlan& plan, StageAnnotation& a) {
  int stage = r.index_of(plan.stage);
  if (!fresh.op->axis.empty()) {
    if (const te::Step* split = r.take("split", stage)) {
      a.vector_factor = first_int(split);
      r.take("reorder", stage);
      if (!r.take("vectorize", stage)) return false;
    }
    a.parallel_depth = read_parallel(r, stage);
    if (a.parallel_depth < 0) return false;
  }
  a.unroll = std::max<int64_t>(0, first_int(r.take("pragma", stage)));
  return true;
}

bool read_rfactor(StepReader& r, const StagePlan& plan, StageAnnotation& a) {
  int stage = r.index_of(plan.stage);
  a.rfactor_parts = first_int(r.take("split_nparts", stage));
  te::Tensor rf;
  if (a.rfactor_parts <= 0 || !r.take("rfactor", stage, &rf)) return false;
  int rf_stage = r.index_of(rf);
  if (!r.take("parallel", rf_stage)) return false;
  a.unroll = std::max<int64_t>(0, first_int(r.take("pragma", rf_stage)));
  a.parallel_depth = read_parallel(r, r.index_of(plan.stage));
  return a.parallel_depth >= 0;
}

std::optional<Candidate> read_candidate(const SearchTask& task, const std::vector<Sketch>& sketches, int sketch,
                                        const std::vector<te::Step>& steps) {
  const Sketch& sk = sketches[sketch];
  te::Schedule fresh = task.fresh_schedule();
  StepReader r(task, steps);
  Candidate c;
  c.sketch = sketch;
  c.stages.assign(sk.plans.size(), StageAnnotation{});
  for (const StagePlan& p : sk.plans) {
    if (p.rule == StageRule::kInline && !r.take("compute_inline", r.index_of(p.stage))) return std::nullopt;
  }
  for (size_t i = 0; i < sk.plans.size(); ++i) {
    const StagePlan& p = sk.plans[i];
    const te::StageNode& node = fresh.stage_node(p.stage);
    bool ok = true;
    switch (p.rule) {
      case StageRule::kTile: ok = read_tile(r, node, p, c.stages[i]); break;
      case StageRule::kSimple: ok = read_simple(r, node, p, c.stages[i]); break;
      case StageRule::kRfactor: ok = read_rfactor(r, p, c.stages[i]); break;
      case StageRule::kInline:
      case StageRule::kFusedInto: break;
    }
    if (!ok) return std::nullopt;
  }
  if (!r.done()) return std::nullopt;
  return c;
}

}  // namespace

std::optional<Candidate> candidate_from_steps(const SearchTask& task, const std::vector<Sketch>& sketches,
                                              const std::vector<te::Step>& steps) {
  for (int s = 0; s < static_cast<int>(sketches.size()); ++s) {
    try {
      std::optional<Candidate> c = read_candidate(task, sketches, s, steps);
      if (c && apply_candidate(task, sketches, *c).steps() == steps) return c;
    } catch (const std::exception&) {
      // Steps that do not replay, or a reading that does not apply: not this sketch.
    }
  }
  return std::nullopt;
}

}  // namespace tessel::autotune
