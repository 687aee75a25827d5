// Schedules: the *how* half of tensor expressions. A Schedule holds one Stage per compute op
// (producers first). Every primitive is recorded as a Step; a step list is plain data that
// serialises to JSON and replays onto a freshly built identical compute DAG, in any process, to
// the identical loop IR. Manual, default and tuned schedules are all step lists.
//
// Axes are referred to by IterVar handles in the API and by their position in the stage's current
// leaf list inside steps, so steps never depend on names or object identity.
#pragma once

#include <map>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "tessel/ir/stmt.h"
#include "tessel/te/tensor.h"

namespace tessel::te {

class Schedule;

// One recorded primitive. `stage` indexes the schedule's stage list as it was when the step ran;
// `axes` index that stage's leaf iter vars at that time.
struct Step {
  std::string kind;             // "split", "fuse", "reorder", "compute_at", ...
  int stage = -1;
  std::vector<int> axes;
  std::vector<int64_t> ints;    // factors, target stage, alignment, ...
  std::string text;             // scope, thread tag, pragma key
  bool operator==(const Step&) const = default;
};

std::string steps_to_json(const std::vector<Step>& steps);
// Throws CompileError on malformed JSON or unknown step kinds.
std::vector<Step> steps_from_json(const std::string& json);

// Where a stage's loops live.
enum class AttachKind : uint8_t { kRoot, kInline, kScope };

struct IterVarAttr {
  ForKind for_kind = ForKind::kSerial;
  std::string thread_tag;
  int64_t auto_unroll_max_step = -1;  // pragma auto_unroll_max_step; -1: none
};

// How leaf iter vars derive from root iter vars.
struct IterRelation {
  enum Kind : uint8_t { kSplit, kFuse } kind;
  IterVar parent, outer, inner;  // split: parent -> (outer, inner); fuse: (outer, inner) -> parent
  int64_t factor = 0;            // split: inner extent (or the outer extent when by_nparts)
  bool by_nparts = false;
};

struct StageNode {
  Tensor output;       // the tensor this stage writes (its buffer is what consumers read)
  Operation op;        // the op computed here (differs from output.op() after cache_write)
  std::vector<IterVar> leaf_iter_vars;
  std::vector<IterVar> all_iter_vars;  // roots and every derived var
  std::vector<IterRelation> relations;
  std::map<const IterVarNode*, IterVarAttr> attrs;
  AttachKind attach = AttachKind::kRoot;
  int attach_stage = -1;          // for kScope: index of the stage whose loop we sit in
  IterVar attach_iter_var;        // for kScope: that loop
  MemoryScope scope = MemoryScope::kGlobal;
  bool is_output = false;
  bool is_placeholder = false;
  std::vector<std::pair<int, std::pair<int64_t, int64_t>>> storage_align;  // (dim, (factor, offset))
  int64_t storage_pack = 0;  // > 0: the last dimension is stored in blocks of this many, block index first
};

// A handle to one stage of a schedule; primitives on it are recorded as steps of the schedule.
class Stage {
 public:
  Stage(Schedule* schedule, int index) : schedule_(schedule), index_(index) {}
  int index() const { return index_; }
  const StageNode& node() const;
  const std::string& name() const;
  const Operation& op() const { return node().op; }
  const std::vector<IterVar>& leaf_iter_vars() const { return node().leaf_iter_vars; }
  // The op's data-parallel root axes and its reduce axes.
  std::vector<IterVar> axis() const;
  std::vector<IterVar> reduce_axis() const;

  std::pair<IterVar, IterVar> split(const IterVar& axis, int64_t factor);        // (outer, inner)
  std::pair<IterVar, IterVar> split_nparts(const IterVar& axis, int64_t nparts);  // (outer, inner)
  // Splits x and y and orders the loops (xo, yo, xi, yi); returns them in that order.
  std::vector<IterVar> tile(const IterVar& x, const IterVar& y, int64_t x_factor, int64_t y_factor);
  IterVar fuse(const IterVar& outer, const IterVar& inner);  // outer must directly enclose inner
  void reorder(const std::vector<IterVar>& order);
  void compute_at(const Stage& parent, const IterVar& axis);
  void compute_inline();
  void compute_root();
  void vectorize(const IterVar& axis);
  void unroll(const IterVar& axis);
  void parallel(const IterVar& axis);
  void bind(const IterVar& axis, const std::string& thread_tag);  // "blockIdx.x", "threadIdx.y", ...
  void pragma(const IterVar& axis, const std::string& key, int64_t value);
  void storage_align(const IterVar& axis, int64_t factor, int64_t offset);
  // Stores this intermediate tensor with its last dimension cut into blocks of `factor` elements,
  // the block index outermost: T[x0, ..., xn] lives at [xn / factor, x0, ..., xn-1, xn % factor].
  // For a matmul's B panel T[k, j] that is GotoBLAS's packed layout: the k-sweep of one register
  // tile's `factor` columns is contiguous. Not for outputs or arguments; not with storage_align.
  void storage_pack(int64_t factor);

  // Position of axis among the current leaf iter vars; CompileError naming the primitive if absent.
  int leaf_position(const IterVar& axis, const char* primitive) const;

 private:
  Schedule* schedule_;
  int index_;
};

class Schedule {
 public:
  explicit Schedule(std::vector<Tensor> outputs);
  Schedule(const Schedule&) = delete;
  Schedule& operator=(const Schedule&) = delete;
  Schedule(Schedule&&) = default;

  Stage operator[](const Tensor& tensor);  // throws CompileError when the tensor has no stage
  Stage stage(int index);
  int num_stages() const { return static_cast<int>(stages_.size()); }
  const StageNode& stage_node(int index) const { return *stages_.at(index); }
  const std::vector<Tensor>& outputs() const { return outputs_; }
  const std::vector<Step>& steps() const { return steps_; }

  // Adds a stage that copies `tensor` into `scope` for the given readers; returns the copy.
  Tensor cache_read(const Tensor& tensor, const std::string& scope, const std::vector<Tensor>& readers);
  // Computes `tensor` into a new `scope` stage and makes `tensor` a copy of it; returns the cache.
  // Must come before any other primitive on the tensor's stage.
  Tensor cache_write(const Tensor& tensor, const std::string& scope);
  // Factors the reduction of `tensor` over the leaf `axis` (a split part of a reduce axis) into a
  // new stage that keeps `axis` as a data-parallel dimension (first); returns that new tensor.
  Tensor rfactor(const Tensor& tensor, const IterVar& axis);

  // Applies one step (used by every primitive and by replay). Returns the tensor the step created,
  // if any.
  Tensor apply(const Step& step);
  // Replays steps onto this (fresh) schedule.
  void replay(const std::vector<Step>& steps);

  // Stage index for a tensor's buffer, or -1.
  int stage_index_of(const Tensor& tensor) const;

 private:
  friend class Stage;
  Tensor apply_rfactor(const Step& step);
  std::vector<Tensor> outputs_;
  std::vector<std::shared_ptr<StageNode>> stages_;
  std::vector<Step> steps_;
};

Schedule create_schedule(std::vector<Tensor> outputs);

// Lowers a schedule to a loop-IR function whose parameters are `args` (inputs and outputs, in
// order). With `run_pipeline`, the loop-IR pass pipeline (lower.h) has run on the result.
PrimFunc lower_schedule(Schedule& schedule, const std::vector<Tensor>& args, const std::string& name,
                        bool run_pipeline = true);

}  // namespace tessel::te
