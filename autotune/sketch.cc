// CPU sketch rules and the application of an annotated sketch (a Candidate) to a fresh schedule.
// Structure decisions live here; the numbers come from annotation.cc.
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

// Whether a reduction reads some input with a subset of its spatial axes (so a tile of outputs
// reuses input elements: matmul, conv), rather than once per output element.
bool has_data_reuse(const te::Operation& op) {
  if (!op->has_reduction) return false;
  struct LoadCollector : IRVisitor {
    std::vector<const LoadNode*> loads;
    void visit_Load(const LoadNode* load) override {
      loads.push_back(load);
      IRVisitor::visit_Load(load);
    }
  } collector;
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

namespace {

// The output stage a reduction's tile can be fused into: the single elementwise output of the
// same shape that reaches it only through stages that get inlined; -1 when there is none.
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
      options[i] = {{i, StageRule::kInline, -1}};
    } else if (f.reduction && f.reuse && f.constant) {
      int consumer = f.output ? -1 : fusable_consumer(task, facts, i);
      if (f.output || consumer >= 0) {
        options[i] = {{i, StageRule::kTile, consumer}, {i, StageRule::kSimple, -1}};
        if (consumer >= 0) fused_consumers.insert(consumer);
      } else {
        options[i] = {{i, StageRule::kSimple, -1}};
      }
    } else if (f.reduction && f.constant && f.spatial_size < 4 * task.hardware().num_cores && f.reduce_size >= 64) {
      options[i] = {{i, StageRule::kRfactor, -1}, {i, StageRule::kSimple, -1}};
    } else {
      options[i] = {{i, StageRule::kSimple, -1}};
    }
  }
  // Cartesian product, at most 8 sketches (the first alternative of each stage is the preferred one).
  std::vector<Sketch> sketches(1);
  for (int i = 0; i < n; ++i) {
    if (options[i].empty()) continue;
    std::vector<Sketch> next;
    for (const Sketch& base : sketches) {
      for (const StagePlan& plan : options[i]) {
        if (next.size() >= 8) break;
        Sketch sk = base;
        sk.plans.push_back(plan);
        next.push_back(std::move(sk));
      }
    }
    sketches = std::move(next);
  }
  // A stage fused into a tile is only fused in the sketches that tile its producer.
  for (Sketch& sk : sketches) {
    std::set<int> fused;
    for (const StagePlan& p : sk.plans) {
      if (p.rule == StageRule::kTile && p.consumer >= 0) fused.insert(p.consumer);
    }
    for (StagePlan& p : sk.plans) {
      if (fused.count(p.stage)) p.rule = StageRule::kFusedInto;
    }
  }
  return sketches;
}

std::string Sketch::to_string() const {
  static const char* names[] = {"inline", "tile", "rfactor", "simple", "fused"};
  std::ostringstream os;
  for (size_t i = 0; i < plans.size(); ++i) {
    os << (i ? " " : "") << plans[i].stage << ":" << names[static_cast<int>(plans[i].rule)];
    if (plans[i].rule == StageRule::kTile) os << (plans[i].consumer >= 0 ? "+fuse" : "+cache");
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
                const StageAnnotation& a) {
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
  std::vector<te::Tensor> tensors;
  for (int i = 0; i < s.num_stages(); ++i) tensors.push_back(s.stage_node(i).output);
  for (const StagePlan& p : sketch.plans) {
    if (p.rule == StageRule::kInline) s[tensors[p.stage]].compute_inline();
  }
  for (size_t i = 0; i < sketch.plans.size(); ++i) {
    const StagePlan& p = sketch.plans[i];
    const StageAnnotation& a = c.stages[i];
    switch (p.rule) {
      case StageRule::kTile: apply_tile(s, tensors, p, a); break;
      case StageRule::kSimple: apply_simple(s, tensors[p.stage], a); break;
      case StageRule::kRfactor: apply_rfactor(s, tensors[p.stage], a); break;
      case StageRule::kInline:
      case StageRule::kFusedInto: break;
    }
  }
  return s;
}

}  // namespace tessel::autotune
