// unroll_loops: a kUnrolled loop of constant extent becomes one copy of its body per iteration,
// in order, with the loop variable replaced by the iteration's value. Inner loops are unrolled
// first, so nested unrolled loops multiply out. Variables bound inside the body (inner loops, lets,
// allocations) are shared by the copies; each copy binds them independently in sequence.
#include "tessel/ir/error.h"
#include "tessel/ir/functor.h"
#include "tessel/ir/transforms.h"

namespace tessel {

namespace {

class LoopUnroller : public IRMutator {
 public:
  Stmt mutate_For(const ForNode* op, const Stmt& self) override {
    Stmt body = mutate(op->body);
    if (op->for_kind != ForKind::kUnrolled) {
      return body.same_as(op->body) ? self
                                    : make_for(op->loop_var, op->min, op->extent, op->for_kind, body, op->thread_tag);
    }
    const int64_t* extent = as_const_int(op->extent);
    if (!extent) return make_for(op->loop_var, op->min, op->extent, ForKind::kSerial, body);
    if (*extent <= 0) return make_no_op();
    DataType t = op->loop_var.dtype();
    const int64_t* min = as_const_int(op->min);
    std::vector<Stmt> copies;
    copies.reserve(static_cast<size_t>(*extent));
    for (int64_t i = 0; i < *extent; ++i) {
      // A constant min gives constant indices; otherwise min + i, left to the simplifier.
      Expr value = min ? make_int(t, *min + i) : (i == 0 ? op->min : make_binary(BinaryOp::kAdd, op->min, make_int(t, i)));
      copies.push_back(substitute(body, {{op->loop_var, value}}));
    }
    return make_seq(std::move(copies));
  }
};

}  // namespace

Stmt unroll_loops(const Stmt& s) { return LoopUnroller().mutate(s); }

}  // namespace tessel
