// Schedule construction and the primitives. Every primitive builds a Step and applies it through
// Schedule::apply, so that replaying the recorded steps on a fresh schedule performs exactly the
// same transformations.
#include "tessel/te/schedule.h"

#include <functional>
#include <unordered_map>

#include "tessel/ir/error.h"
#include "tessel/ir/functor.h"

namespace tessel::te {

namespace {

MemoryScope parse_scope(const std::string& scope) {
  if (scope == "global") return MemoryScope::kGlobal;
  if (scope == "local") return MemoryScope::kLocal;
  if (scope == "shared") return MemoryScope::kShared;
  user_error() << "unknown memory scope '" << scope << "' (expected global, local or shared)";
  return MemoryScope::kGlobal;
}

std::shared_ptr<StageNode> make_stage(const Tensor& tensor) {
  auto stage = std::make_shared<StageNode>();
  stage->output = tensor;
  stage->op = tensor.op();
  stage->is_placeholder = tensor.op()->kind == OpKind::kPlaceholder;
  stage->leaf_iter_vars = tensor.op()->root_iter_vars();
  stage->all_iter_vars = stage->leaf_iter_vars;
  return stage;
}

// Replaces reads of `from`'s buffer by reads of `to` (same indices) in an op; returns the op
// itself when it does not read `from`.
Operation replace_reads(const Operation& op, const Tensor& from, const Tensor& to) {
  struct Replacer : IRMutator {
    const BufferNode* from;
    Buffer to;
    Expr mutate_Load(const LoadNode* load, const Expr& self) override {
      Expr e = IRMutator::mutate_Load(load, self);
      const LoadNode* l = e.as<LoadNode>();
      if (l->buffer.get() != from) return e;
      return make_load(to, l->indices);
    }
  } replacer;
  replacer.from = from.buffer().get();
  replacer.to = to.buffer();
  if (op->kind != OpKind::kCompute) return op;
  if (op->has_reduction) {
    Reduction r = op->reduction;
    Expr source = replacer.mutate(r.source);
    Expr condition = replacer.mutate(r.condition);
    if (source.same_as(r.source) && condition.same_as(r.condition)) return op;
    r.source = source;
    r.condition = condition;
    return std::make_shared<const OperationNode>(op->kind, op->name, op->shape, op->dtype, op->axis, Expr(), true, r, op->tag);
  }
  Expr body = replacer.mutate(op->body);
  if (body.same_as(op->body)) return op;
  return std::make_shared<const OperationNode>(op->kind, op->name, op->shape, op->dtype, op->axis, body, false,
                                               Reduction{}, op->tag);
}

bool reads(const Operation& op, const Tensor& tensor) {
  for (const Tensor& t : op->inputs()) {
    if (t.buffer().same_as(tensor.buffer())) return true;
  }
  return false;
}

}  // namespace

// ---- Schedule ----------------------------------------------------------------------------------

Schedule::Schedule(std::vector<Tensor> outputs) : outputs_(std::move(outputs)) {
  user_check(!outputs_.empty()) << "create_schedule needs at least one output tensor";
  for (const Tensor& t : post_dfs_tensors(outputs_)) {
    auto stage = make_stage(t);
    for (const Tensor& out : outputs_) stage->is_output |= out.same_as(t);
    stages_.push_back(stage);
  }
}

Schedule create_schedule(std::vector<Tensor> outputs) { return Schedule(std::move(outputs)); }

int Schedule::stage_index_of(const Tensor& tensor) const {
  for (int i = 0; i < num_stages(); ++i) {
    if (stages_[i]->output.buffer().same_as(tensor.buffer())) return i;
  }
  return -1;
}

Stage Schedule::operator[](const Tensor& tensor) {
  int index = stage_index_of(tensor);
  user_check(index >= 0) << "tensor " << tensor.name() << " is not part of this schedule";
  return Stage(this, index);
}

Stage Schedule::stage(int index) {
  user_check(index >= 0 && index < num_stages()) << "stage index " << index << " out of range";
  return Stage(this, index);
}

void Schedule::replay(const std::vector<Step>& steps) {
  for (const Step& step : steps) apply(step);
}

Tensor Schedule::cache_read(const Tensor& tensor, const std::string& scope, const std::vector<Tensor>& readers) {
  int index = stage_index_of(tensor);
  user_check(index >= 0) << "cache_read: tensor " << tensor.name() << " is not part of this schedule";
  Step step{"cache_read", index, {}, {}, scope};
  for (const Tensor& reader : readers) {
    int r = stage_index_of(reader);
    user_check(r >= 0) << "cache_read: reader " << reader.name() << " is not part of this schedule";
    step.ints.push_back(r);
  }
  return apply(step);
}

Tensor Schedule::cache_write(const Tensor& tensor, const std::string& scope) {
  int index = stage_index_of(tensor);
  user_check(index >= 0) << "cache_write: tensor " << tensor.name() << " is not part of this schedule";
  return apply(Step{"cache_write", index, {}, {}, scope});
}

Tensor Schedule::rfactor(const Tensor& tensor, const IterVar& axis) {
  int index = stage_index_of(tensor);
  user_check(index >= 0) << "rfactor: tensor " << tensor.name() << " is not part of this schedule";
  Stage s(this, index);
  return apply(Step{"rfactor", index, {s.leaf_position(axis, "rfactor")}, {}, ""});
}

// ---- Stage handle ------------------------------------------------------------------------------

const StageNode& Stage::node() const { return schedule_->stage_node(index_); }
const std::string& Stage::name() const { return node().op->name; }

std::vector<IterVar> Stage::axis() const { return node().op->axis; }
std::vector<IterVar> Stage::reduce_axis() const {
  return node().op->has_reduction ? node().op->reduction.axes : std::vector<IterVar>{};
}

int Stage::leaf_position(const IterVar& axis, const char* primitive) const {
  const auto& leaves = node().leaf_iter_vars;
  for (size_t i = 0; i < leaves.size(); ++i) {
    if (leaves[i].same_as(axis)) return static_cast<int>(i);
  }
  bool elsewhere = false;
  for (const IterVar& iv : node().all_iter_vars) elsewhere |= iv.same_as(axis);
  user_check(false) << primitive << " on stage " << name() << ": axis "
                    << (axis.defined() ? axis->var->name : std::string("<undefined>"))
                    << (elsewhere ? " was already transformed (it is not a leaf axis any more)"
                                  : " does not belong to this stage");
  return -1;
}

std::pair<IterVar, IterVar> Stage::split(const IterVar& axis, int64_t factor) {
  schedule_->apply(Step{"split", index_, {leaf_position(axis, "split")}, {factor}, ""});
  const IterRelation& rel = node().relations.back();
  return {rel.outer, rel.inner};
}

std::pair<IterVar, IterVar> Stage::split_nparts(const IterVar& axis, int64_t nparts) {
  schedule_->apply(Step{"split_nparts", index_, {leaf_position(axis, "split")}, {nparts}, ""});
  const IterRelation& rel = node().relations.back();
  return {rel.outer, rel.inner};
}

std::vector<IterVar> Stage::tile(const IterVar& x, const IterVar& y, int64_t x_factor, int64_t y_factor) {
  auto [xo, xi] = split(x, x_factor);
  auto [yo, yi] = split(y, y_factor);
  reorder({xo, yo, xi, yi});
  return {xo, yo, xi, yi};
}

IterVar Stage::fuse(const IterVar& outer, const IterVar& inner) {
  schedule_->apply(Step{"fuse", index_, {leaf_position(outer, "fuse"), leaf_position(inner, "fuse")}, {}, ""});
  return node().relations.back().parent;
}

void Stage::reorder(const std::vector<IterVar>& order) {
  Step step{"reorder", index_, {}, {}, ""};
  for (const IterVar& iv : order) step.axes.push_back(leaf_position(iv, "reorder"));
  schedule_->apply(step);
}

void Stage::compute_at(const Stage& parent, const IterVar& axis) {
  user_check(parent.schedule_ == schedule_) << "compute_at: stage " << parent.name() << " belongs to another schedule";
  schedule_->apply(Step{"compute_at", index_, {parent.leaf_position(axis, "compute_at")}, {parent.index_}, ""});
}

void Stage::compute_inline() { schedule_->apply(Step{"compute_inline", index_, {}, {}, ""}); }
void Stage::compute_root() { schedule_->apply(Step{"compute_root", index_, {}, {}, ""}); }
void Stage::vectorize(const IterVar& axis) { schedule_->apply(Step{"vectorize", index_, {leaf_position(axis, "vectorize")}, {}, ""}); }
void Stage::unroll(const IterVar& axis) { schedule_->apply(Step{"unroll", index_, {leaf_position(axis, "unroll")}, {}, ""}); }
void Stage::parallel(const IterVar& axis) { schedule_->apply(Step{"parallel", index_, {leaf_position(axis, "parallel")}, {}, ""}); }
void Stage::bind(const IterVar& axis, const std::string& thread_tag) {
  schedule_->apply(Step{"bind", index_, {leaf_position(axis, "bind")}, {}, thread_tag});
}
void Stage::pragma(const IterVar& axis, const std::string& key, int64_t value) {
  schedule_->apply(Step{"pragma", index_, {leaf_position(axis, "pragma")}, {value}, key});
}
void Stage::storage_align(const IterVar& axis, int64_t factor, int64_t offset) {
  // Refers to a root axis of the op (a buffer dimension), not a leaf.
  const auto& root = node().op->axis;
  int dim = -1;
  for (size_t i = 0; i < root.size(); ++i) {
    if (root[i].same_as(axis)) dim = static_cast<int>(i);
  }
  user_check(dim >= 0) << "storage_align on stage " << name() << ": " << (axis.defined() ? axis->var->name : "axis")
                       << " is not a data-parallel root axis of this stage";
  schedule_->apply(Step{"storage_align", index_, {dim}, {factor, offset}, ""});
}

void Stage::storage_pack(int64_t factor) { schedule_->apply(Step{"storage_pack", index_, {}, {factor}, ""}); }

// ---- applying steps ------------------------------------------------------------------------------

namespace {

const IterVar& leaf_at(const StageNode& stage, const Step& step, size_t which) {
  user_check(which < step.axes.size()) << step.kind << " on stage " << stage.op->name << ": missing axis";
  int pos = step.axes[which];
  user_check(pos >= 0 && pos < static_cast<int>(stage.leaf_iter_vars.size()))
      << step.kind << " on stage " << stage.op->name << ": axis position " << pos << " out of range";
  return stage.leaf_iter_vars[pos];
}

// Whether iv is (derived from) a reduce axis.
bool is_reduce(const IterVar& iv) { return iv->kind == IterVarKind::kReduce; }

void set_kind(StageNode& stage, const Step& step, ForKind kind, const std::string& tag = "") {
  const IterVar& iv = leaf_at(stage, step, 0);
  const std::string& axis_name = iv->var->name;
  // A reduce axis may be bound to threadIdx.*: a cross-thread reduction (the GPU code generator
  // combines the threads' contributions); every other parallel kind needs a data-parallel axis.
  bool cross_thread = kind == ForKind::kThreadBound && tag.rfind("threadIdx.", 0) == 0;
  if (kind == ForKind::kVectorized || kind == ForKind::kParallel || (kind == ForKind::kThreadBound && !cross_thread)) {
    user_check(!is_reduce(iv)) << step.kind << " on stage " << stage.op->name << ": axis " << axis_name
                               << " is a reduction axis and cannot be " << step.kind << "d";
  }
  IterVarAttr& attr = stage.attrs[iv.get()];
  attr.for_kind = kind;
  attr.thread_tag = tag;
}

}  // namespace

Tensor Schedule::apply(const Step& step) {
  user_check(step.stage >= 0 && step.stage < num_stages()) << step.kind << ": stage index " << step.stage
                                                            << " out of range";
  StageNode& stage = *stages_[step.stage];
  const std::string& stage_name = stage.op->name;
  user_check(!stage.is_placeholder || step.kind == "cache_read")
      << step.kind << ": " << stage_name << " is a placeholder (an input) and has no loops to schedule";
  Tensor created;

  if (step.kind == "split" || step.kind == "split_nparts") {
    IterVar parent = leaf_at(stage, step, 0);
    user_check(step.ints.size() == 1 && step.ints[0] >= 1) << step.kind << " on stage " << stage_name << ", axis "
                                                           << parent->var->name << ": factor must be a positive integer";
    bool nparts = step.kind == "split_nparts";
    int64_t factor = step.ints[0];
    DataType t = parent->dom.extent.dtype();
    Expr zero = make_const(t, 0);
    // The domains here describe the parent's full extent; lowering recomputes them from the
    // region a stage actually covers (which compute_at may shrink).
    const int64_t* parent_extent = as_const_int(parent->dom.extent);
    int64_t rest = parent_extent ? (*parent_extent + factor - 1) / factor : 1;
    IterVar outer = make_iter_var({zero, make_const(t, static_cast<double>(nparts ? factor : rest))},
                                  parent->var->name + ".outer", parent->kind);
    IterVar inner = make_iter_var({zero, make_const(t, static_cast<double>(nparts ? rest : factor))},
                                  parent->var->name + ".inner", parent->kind);
    stage.relations.push_back(IterRelation{IterRelation::kSplit, parent, outer, inner, factor, nparts});
    auto& leaves = stage.leaf_iter_vars;
    auto it = leaves.begin() + step.axes[0];
    it = leaves.erase(it);
    leaves.insert(it, {outer, inner});
    stage.all_iter_vars.push_back(outer);
    stage.all_iter_vars.push_back(inner);
  } else if (step.kind == "fuse") {
    IterVar outer = leaf_at(stage, step, 0), inner = leaf_at(stage, step, 1);
    user_check(step.axes[1] == step.axes[0] + 1) << "fuse on stage " << stage_name << ": " << outer->var->name
                                                 << " must directly enclose " << inner->var->name;
    user_check(is_reduce(outer) == is_reduce(inner)) << "fuse on stage " << stage_name
                                                     << ": cannot fuse a reduction axis with a data-parallel axis";
    DataType t = outer->dom.extent.dtype();
    const int64_t* outer_extent = as_const_int(outer->dom.extent);
    const int64_t* inner_extent = as_const_int(inner->dom.extent);
    Expr extent = outer_extent && inner_extent ? make_const(t, static_cast<double>(*outer_extent * *inner_extent))
                                               : outer->dom.extent * inner->dom.extent;
    IterVar fused = make_iter_var({make_const(t, 0), extent}, outer->var->name + "." + inner->var->name + ".fused",
                                  outer->kind);
    stage.relations.push_back(IterRelation{IterRelation::kFuse, fused, outer, inner, 0, false});
    auto& leaves = stage.leaf_iter_vars;
    leaves.erase(leaves.begin() + step.axes[0], leaves.begin() + step.axes[0] + 2);
    leaves.insert(leaves.begin() + step.axes[0], fused);
    stage.all_iter_vars.push_back(fused);
  } else if (step.kind == "reorder") {
    std::vector<int> positions = step.axes;
    for (size_t i = 0; i < positions.size(); ++i) leaf_at(stage, step, i);
    std::vector<int> sorted = positions;
    std::sort(sorted.begin(), sorted.end());
    user_check(std::adjacent_find(sorted.begin(), sorted.end()) == sorted.end())
        << "reorder on stage " << stage_name << ": an axis is listed twice";
    // The listed axes take the listed order within the slots they occupied.
    std::vector<IterVar> picked;
    for (int p : positions) picked.push_back(stage.leaf_iter_vars[p]);
    for (size_t i = 0; i < sorted.size(); ++i) stage.leaf_iter_vars[sorted[i]] = picked[i];
  } else if (step.kind == "compute_at") {
    user_check(step.ints.size() == 1) << "compute_at: missing target stage";
    int target = static_cast<int>(step.ints[0]);
    user_check(target >= 0 && target < num_stages() && target != step.stage) << "compute_at on stage " << stage_name
                                                                             << ": invalid target stage";
    StageNode& parent = *stages_[target];
    user_check(!stage.is_output) << "compute_at: " << stage_name << " is an output of the schedule and must stay at root";
    // The target must consume this stage's tensor: directly, through stages inlined into it, or
    // through stages attached inside it.
    std::function<bool(const Operation&)> reads_through_inlined = [&](const Operation& op) {
      for (const Tensor& input : op->inputs()) {
        if (input.buffer().same_as(stage.output.buffer())) return true;
        int index = stage_index_of(input);
        if (index >= 0 && stages_[index]->attach == AttachKind::kInline && reads_through_inlined(stages_[index]->op)) {
          return true;
        }
      }
      return false;
    };
    bool consumes = reads_through_inlined(parent.op);
    for (const auto& other : stages_) {
      if (other->attach == AttachKind::kScope && other->attach_stage == target && reads_through_inlined(other->op)) {
        consumes = true;
      }
    }
    user_check(consumes) << "compute_at: stage " << parent.op->name << " does not consume " << stage_name;
    stage.attach = AttachKind::kScope;
    stage.attach_stage = target;
    stage.attach_iter_var = leaf_at(parent, step, 0);
  } else if (step.kind == "compute_inline") {
    user_check(!stage.op->has_reduction) << "compute_inline: " << stage_name << " is a reduction and cannot be inlined";
    user_check(!stage.is_output) << "compute_inline: " << stage_name << " is an output of the schedule";
    stage.attach = AttachKind::kInline;
  } else if (step.kind == "compute_root") {
    stage.attach = AttachKind::kRoot;
    stage.attach_stage = -1;
    stage.attach_iter_var = IterVar();
  } else if (step.kind == "vectorize") {
    set_kind(stage, step, ForKind::kVectorized);
  } else if (step.kind == "unroll") {
    set_kind(stage, step, ForKind::kUnrolled);
  } else if (step.kind == "parallel") {
    set_kind(stage, step, ForKind::kParallel);
  } else if (step.kind == "bind") {
    static const char* tags[] = {"blockIdx.x", "blockIdx.y", "blockIdx.z", "threadIdx.x", "threadIdx.y", "threadIdx.z", "vthread"};
    user_check(std::find(std::begin(tags), std::end(tags), step.text) != std::end(tags))
        << "bind on stage " << stage_name << ": unknown thread axis '" << step.text << "'";
    set_kind(stage, step, ForKind::kThreadBound, step.text);
  } else if (step.kind == "pragma") {
    const IterVar& iv = leaf_at(stage, step, 0);
    user_check(step.text == "auto_unroll_max_step") << "pragma on stage " << stage_name << ": unknown pragma '"
                                                   << step.text << "' (supported: auto_unroll_max_step)";
    user_check(step.ints.size() == 1 && step.ints[0] >= 0) << "pragma auto_unroll_max_step needs a non-negative value";
    stage.attrs[iv.get()].auto_unroll_max_step = step.ints[0];
  } else if (step.kind == "storage_align") {
    user_check(step.axes.size() == 1 && step.ints.size() == 2 && step.ints[0] > 0 && step.ints[1] >= 0 &&
               step.ints[1] < step.ints[0])
        << "storage_align on stage " << stage_name << ": needs factor > 0 and 0 <= offset < factor";
    user_check(step.axes[0] >= 0 && step.axes[0] < static_cast<int>(stage.op->axis.size()))
        << "storage_align on stage " << stage_name << ": dimension out of range";
    stage.storage_align.push_back({step.axes[0], {step.ints[0], step.ints[1]}});
  } else if (step.kind == "storage_pack") {
    user_check(step.ints.size() == 1 && step.ints[0] > 0) << "storage_pack on stage " << stage_name
                                                          << ": needs a block size > 0";
    user_check(!stage.op->axis.empty()) << "storage_pack on stage " << stage_name << ": a scalar has no last dimension";
    stage.storage_pack = step.ints[0];
  } else if (step.kind == "cache_read") {
    MemoryScope scope = parse_scope(step.text);
    const Tensor source = stage.output;
    std::vector<int> readers(step.ints.begin(), step.ints.end());
    user_check(!readers.empty()) << "cache_read of " << source.name() << ": no readers given";
    for (int r : readers) {
      user_check(r >= 0 && r < num_stages()) << "cache_read of " << source.name() << ": reader index out of range";
      user_check(reads(stages_[r]->op, source)) << "cache_read: stage " << stages_[r]->op->name << " does not read "
                                                << source.name();
    }
    std::vector<IterVar> axis;
    std::vector<Expr> indices;
    for (size_t d = 0; d < source.shape().size(); ++d) {
      const Expr& extent = source.shape()[d];
      axis.push_back(make_iter_var({make_const(extent.dtype(), 0), extent}, "ax" + std::to_string(d), IterVarKind::kDataParallel));
      indices.push_back(axis.back().var());
    }
    created = make_compute_tensor(source.name() + "." + step.text, axis, source.dtype(), source(indices));
    for (int r : readers) {
      StageNode& reader = *stages_[r];
      reader.op = replace_reads(reader.op, source, created);
    }
    auto cache = make_stage(created);
    cache->scope = scope;
    // Insert right after the source so producers still come first.
    int at = step.stage + 1;
    stages_.insert(stages_.begin() + at, cache);
    for (auto& s : stages_) {
      if (s->attach == AttachKind::kScope && s->attach_stage >= at) ++s->attach_stage;
    }
  } else if (step.kind == "cache_write") {
    MemoryScope scope = parse_scope(step.text);
    user_check(stage.relations.empty() && stage.attrs.empty())
        << "cache_write on " << stage_name << " must come before any other primitive on its stage";
    Operation original = stage.op;
    // The cache computes what the stage computed, with the original axes (so existing handles to
    // C.op.axis now refer to the cache stage's axes, as in TVM).
    Tensor cache = make_tensor(std::make_shared<const OperationNode>(
        original->kind, original->name + "." + step.text, original->shape, original->dtype, original->axis,
        original->body, original->has_reduction, original->reduction, original->tag));
    std::vector<IterVar> axis;
    std::vector<Expr> indices;
    for (const IterVar& iv : original->axis) {
      axis.push_back(make_iter_var(iv->dom, iv->var->name, IterVarKind::kDataParallel));
      indices.push_back(axis.back().var());
    }
    Operation copy = std::make_shared<const OperationNode>(OpKind::kCompute, original->name, original->shape,
                                                           original->dtype, axis, cache(indices), false, Reduction{});
    stage.op = copy;
    stage.leaf_iter_vars = copy->root_iter_vars();
    stage.all_iter_vars = stage.leaf_iter_vars;
    auto cache_stage = make_stage(cache);
    cache_stage->scope = scope;
    int at = step.stage;
    stages_.insert(stages_.begin() + at, cache_stage);
    for (auto& s : stages_) {
      if (s->attach == AttachKind::kScope && s->attach_stage >= at && s != cache_stage) ++s->attach_stage;
    }
    created = cache;
  } else if (step.kind == "rfactor") {
    created = apply_rfactor(step);
  } else {
    user_error() << "unknown schedule primitive '" << step.kind << "'";
  }
  steps_.push_back(step);
  return created;
}

// rfactor: the chosen leaf must be one half of a single split of a reduce root axis k (extent K,
// factor f). With k = ko * f + ki, the new stage T.rf[kf, i...] reduces over the other half (and
// every other reduce axis) and keeps the chosen half as its first, data-parallel dimension; T then
// reduces T.rf over that dimension.
Tensor Schedule::apply_rfactor(const Step& step) {
  StageNode& stage = *stages_[step.stage];
  const std::string& stage_name = stage.op->name;
  user_check(stage.op->has_reduction) << "rfactor: " << stage_name << " is not a reduction";
  const IterVar& chosen = leaf_at(stage, step, 0);
  user_check(is_reduce(chosen)) << "rfactor on stage " << stage_name << ": axis " << chosen->var->name
                                << " is not a reduction axis";
  const IterRelation* split = nullptr;
  for (const IterRelation& rel : stage.relations) {
    if (rel.kind == IterRelation::kSplit && (rel.outer.same_as(chosen) || rel.inner.same_as(chosen))) split = &rel;
  }
  const Reduction& red = stage.op->reduction;
  int root_index = -1;
  if (split) {
    for (size_t i = 0; i < red.axes.size(); ++i) {
      if (red.axes[i].same_as(split->parent)) root_index = static_cast<int>(i);
    }
  }
  user_check(split && root_index >= 0)
      << "rfactor on stage " << stage_name << ": axis " << chosen->var->name
      << " must come from one split of a reduce axis of the stage";
  const IterVar& k = split->parent;
  const int64_t* extent_ptr = as_const_int(k->dom.extent);
  user_check(extent_ptr) << "rfactor on stage " << stage_name << ": reduce axis " << k->var->name
                         << " needs a constant extent";
  int64_t extent = *extent_ptr;
  int64_t inner_extent = split->by_nparts ? (extent + split->factor - 1) / split->factor : split->factor;
  int64_t outer_extent = (extent + inner_extent - 1) / inner_extent;
  bool chosen_inner = split->inner.same_as(chosen);
  DataType t = k->dom.extent.dtype();
  Expr zero = make_const(t, 0);
  IterVar kf = make_iter_var({zero, make_const(t, chosen_inner ? inner_extent : outer_extent)},
                             chosen->var->name, IterVarKind::kDataParallel);
  IterVar kr = make_iter_var({zero, make_const(t, chosen_inner ? outer_extent : inner_extent)},
                             (chosen_inner ? split->outer : split->inner)->var->name, IterVarKind::kReduce);
  Expr outer_value = chosen_inner ? Expr(kr.var()) : Expr(kf.var());
  Expr inner_value = chosen_inner ? Expr(kf.var()) : Expr(kr.var());
  Expr k_value = k->dom.min + outer_value * make_const(t, inner_extent) + inner_value;
  std::vector<std::pair<Var, Expr>> subst = {{k->var, k_value}};

  // T.rf: axes [kf, dp axes of T], reduce axes: T's others plus kr.
  std::vector<IterVar> rf_axis = {kf};
  std::vector<Expr> dp_indices;
  for (const IterVar& iv : stage.op->axis) {
    rf_axis.push_back(make_iter_var(iv->dom, iv->var->name, IterVarKind::kDataParallel));
    subst.push_back({iv->var, rf_axis.back().var()});
    dp_indices.push_back(rf_axis.back().var());
  }
  Reduction rf_red;
  rf_red.combiner = red.combiner;
  for (size_t i = 0; i < red.axes.size(); ++i) {
    if (static_cast<int>(i) == root_index) {
      rf_red.axes.push_back(kr);
    } else {
      IterVar copy = make_iter_var(red.axes[i]->dom, red.axes[i]->var->name, IterVarKind::kReduce);
      subst.push_back({red.axes[i]->var, copy.var()});
      rf_red.axes.push_back(copy);
    }
  }
  rf_red.source = substitute(red.source, subst);
  Expr in_range = k_value < k->dom.min + k->dom.extent;
  bool divisible = extent % inner_extent == 0;
  Expr condition = red.condition.defined() ? substitute(red.condition, subst) : Expr();
  if (!divisible) condition = condition.defined() ? (condition && in_range) : in_range;
  rf_red.condition = condition;
  Tensor rf = make_reduce_tensor(stage_name + ".rf", rf_axis, rf_red);

  // T = reduce over kf' of T.rf[kf', i...].
  std::vector<IterVar> axis;
  std::vector<Expr> rf_indices;
  IterVar kk = make_iter_var(kf->dom, kf->var->name, IterVarKind::kReduce);
  rf_indices.push_back(kk.var());
  for (const IterVar& iv : stage.op->axis) {
    axis.push_back(make_iter_var(iv->dom, iv->var->name, IterVarKind::kDataParallel));
    rf_indices.push_back(axis.back().var());
  }
  Reduction final_red;
  final_red.combiner = red.combiner;
  final_red.axes = {kk};
  final_red.source = rf(rf_indices);
  stage.op = std::make_shared<const OperationNode>(OpKind::kCompute, stage_name, stage.op->shape, stage.op->dtype,
                                                   axis, Expr(), true, final_red);
  stage.leaf_iter_vars = stage.op->root_iter_vars();
  stage.all_iter_vars = stage.leaf_iter_vars;
  stage.relations.clear();
  stage.attrs.clear();

  int at = step.stage;
  auto rf_stage = make_stage(rf);
  stages_.insert(stages_.begin() + at, rf_stage);
  for (auto& s : stages_) {
    if (s->attach == AttachKind::kScope && s->attach_stage >= at && s != rf_stage) ++s->attach_stage;
  }
  return rf;
}

}  // namespace tessel::te
