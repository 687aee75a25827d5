// Structural equality and hashing of loop IR (structural.h).
// Binders (loop variables, Let/LetStmt variables, allocated and parameter buffers' data
// variables, scalar parameters) are matched up to consistent renaming with scoped maps; the hash
// numbers binders in traversal order, which is the same for any two terms the equality accepts.
#include "tessel/ir/structural.h"

#include <cstring>
#include <optional>
#include <unordered_map>

#include "tessel/ir/error.h"

namespace tessel {
namespace {

uint64_t float_bits(double value) {
  uint64_t bits;
  std::memcpy(&bits, &value, sizeof(bits));
  return bits;
}

uint64_t type_bits(DataType t) {
  return static_cast<uint64_t>(t.code()) | static_cast<uint64_t>(t.bits()) << 8 |
         static_cast<uint64_t>(t.lanes()) << 16;
}

// ---- equality ------------------------------------------------------------------------------

class EqualityChecker {
 public:
  bool expr(const Expr& a, const Expr& b) {
    if (a.same_as(b) && !a.defined()) return true;
    if (!a.defined() || !b.defined()) return false;
    if (a.kind() != b.kind() || a.dtype() != b.dtype()) return false;
    switch (a.kind()) {
      case ExprKind::kIntImm: return a.as<IntImmNode>()->value == b.as<IntImmNode>()->value;
      case ExprKind::kFloatImm:
        return float_bits(a.as<FloatImmNode>()->value) == float_bits(b.as<FloatImmNode>()->value);
      case ExprKind::kVar: return var_use(a.as<VarNode>(), b.as<VarNode>());
      case ExprKind::kBinary: {
        const auto *x = a.as<BinaryNode>(), *y = b.as<BinaryNode>();
        return x->op == y->op && expr(x->a, y->a) && expr(x->b, y->b);
      }
      case ExprKind::kNot: return expr(a.as<NotNode>()->a, b.as<NotNode>()->a);
      case ExprKind::kSelect: {
        const auto *x = a.as<SelectNode>(), *y = b.as<SelectNode>();
        return expr(x->condition, y->condition) && expr(x->true_value, y->true_value) &&
               expr(x->false_value, y->false_value);
      }
      case ExprKind::kCast: return expr(a.as<CastNode>()->value, b.as<CastNode>()->value);
      case ExprKind::kLoad: {
        const auto *x = a.as<LoadNode>(), *y = b.as<LoadNode>();
        return buffer_use(x->buffer.get(), y->buffer.get()) && exprs(x->indices, y->indices);
      }
      case ExprKind::kRamp: {
        const auto *x = a.as<RampNode>(), *y = b.as<RampNode>();
        return x->lanes == y->lanes && expr(x->base, y->base) && expr(x->stride, y->stride);
      }
      case ExprKind::kBroadcast: {
        const auto *x = a.as<BroadcastNode>(), *y = b.as<BroadcastNode>();
        return x->lanes == y->lanes && expr(x->value, y->value);
      }
      case ExprKind::kLet: {
        const auto *x = a.as<LetNode>(), *y = b.as<LetNode>();
        if (!expr(x->value, y->value)) return false;
        Scope scope(this);
        return scope.bind(x->var.get(), y->var.get()) && expr(x->body, y->body);
      }
      case ExprKind::kCall: {
        const auto *x = a.as<CallNode>(), *y = b.as<CallNode>();
        return x->op == y->op && exprs(x->args, y->args);
      }
    }
    return false;
  }

  bool stmt(const Stmt& a, const Stmt& b) {
    if (!a.defined() && !b.defined()) return true;
    if (!a.defined() || !b.defined()) return false;
    if (a.kind() != b.kind()) return false;
    switch (a.kind()) {
      case StmtKind::kFor: {
        const auto *x = a.as<ForNode>(), *y = b.as<ForNode>();
        if (x->for_kind != y->for_kind || x->thread_tag != y->thread_tag) return false;
        if (!expr(x->min, y->min) || !expr(x->extent, y->extent)) return false;
        Scope scope(this);
        return scope.bind(x->loop_var.get(), y->loop_var.get()) && stmt(x->body, y->body);
      }
      case StmtKind::kStore: {
        const auto *x = a.as<StoreNode>(), *y = b.as<StoreNode>();
        return buffer_use(x->buffer.get(), y->buffer.get()) && expr(x->value, y->value) &&
               exprs(x->indices, y->indices);
      }
      case StmtKind::kAllocate: {
        const auto *x = a.as<AllocateNode>(), *y = b.as<AllocateNode>();
        // The shape is evaluated outside the allocation's scope; the data variable is bound inside.
        if (!buffer_fields(x->buffer.get(), y->buffer.get())) return false;
        Scope scope(this);
        return scope.bind(x->buffer->data.get(), y->buffer->data.get()) && stmt(x->body, y->body);
      }
      case StmtKind::kSeq: {
        const auto &x = a.as<SeqNode>()->stmts, &y = b.as<SeqNode>()->stmts;
        if (x.size() != y.size()) return false;
        for (size_t k = 0; k < x.size(); ++k)
          if (!stmt(x[k], y[k])) return false;
        return true;
      }
      case StmtKind::kIfThenElse: {
        const auto *x = a.as<IfThenElseNode>(), *y = b.as<IfThenElseNode>();
        return expr(x->condition, y->condition) && stmt(x->then_case, y->then_case) &&
               stmt(x->else_case, y->else_case);
      }
      case StmtKind::kLetStmt: {
        const auto *x = a.as<LetStmtNode>(), *y = b.as<LetStmtNode>();
        if (!expr(x->value, y->value)) return false;
        Scope scope(this);
        return scope.bind(x->var.get(), y->var.get()) && stmt(x->body, y->body);
      }
      case StmtKind::kEvaluate: return expr(a.as<EvaluateNode>()->value, b.as<EvaluateNode>()->value);
      case StmtKind::kAssert: {
        const auto *x = a.as<AssertNode>(), *y = b.as<AssertNode>();
        return x->message == y->message && expr(x->condition, y->condition);
      }
    }
    return false;
  }

  // The function name is a label, not structure, and is ignored like other names. Scalar
  // parameters and buffer data variables are bound first, so buffer shapes may mention any
  // scalar parameter.
  bool func(const PrimFunc& a, const PrimFunc& b) {
    if (!a.defined() || !b.defined()) return a.defined() == b.defined();
    const auto &x = a->params, &y = b->params;
    if (x.size() != y.size()) return false;
    Scope scope(this);
    for (size_t k = 0; k < x.size(); ++k) {
      if (x[k].is_buffer() != y[k].is_buffer()) return false;
      const VarNode* vx = x[k].is_buffer() ? x[k].buffer->data.get() : x[k].scalar.get();
      const VarNode* vy = y[k].is_buffer() ? y[k].buffer->data.get() : y[k].scalar.get();
      if (!scope.bind(vx, vy)) return false;
    }
    for (size_t k = 0; k < x.size(); ++k)
      if (x[k].is_buffer() && !buffer_fields(x[k].buffer.get(), y[k].buffer.get())) return false;
    return stmt(a->body, b->body);
  }

 private:
  // Binds pairs of variables for the lifetime of the scope, restoring any shadowed pairs after.
  class Scope {
   public:
    explicit Scope(EqualityChecker* checker) : checker_(checker) {}
    ~Scope() {
      for (auto it = saved_.rbegin(); it != saved_.rend(); ++it) {
        restore(checker_->forward_, it->a, it->old_forward);
        restore(checker_->backward_, it->b, it->old_backward);
      }
    }
    bool bind(const VarNode* a, const VarNode* b) {
      if (a->dtype != b->dtype) return false;
      saved_.push_back({a, b, lookup(checker_->forward_, a), lookup(checker_->backward_, b)});
      checker_->forward_[a] = b;
      checker_->backward_[b] = a;
      return true;
    }

   private:
    using Map = std::unordered_map<const VarNode*, const VarNode*>;
    struct Saved {
      const VarNode *a, *b, *old_forward, *old_backward;
    };
    static const VarNode* lookup(const Map& map, const VarNode* key) {
      auto it = map.find(key);
      return it == map.end() ? nullptr : it->second;
    }
    static void restore(Map& map, const VarNode* key, const VarNode* old) {
      if (old) map[key] = old;
      else map.erase(key);
    }
    EqualityChecker* checker_;
    std::vector<Saved> saved_;
  };

  // A bound variable must meet its partner under the innermost binding on both sides (checking
  // both directions catches a binder that shadows on one side only); a free variable must meet
  // itself, and never a bound one.
  bool var_use(const VarNode* a, const VarNode* b) {
    auto forward = forward_.find(a);
    auto backward = backward_.find(b);
    if (forward != forward_.end() || backward != backward_.end()) {
      return forward != forward_.end() && backward != backward_.end() && forward->second == b &&
             backward->second == a;
    }
    return a == b;
  }

  // Everything a buffer is except its name and data variable.
  bool buffer_fields(const BufferNode* a, const BufferNode* b) {
    return a->dtype == b->dtype && a->scope == b->scope && a->alignment == b->alignment &&
           exprs(a->shape, b->shape) && exprs(a->strides, b->strides);
  }

  bool buffer_use(const BufferNode* a, const BufferNode* b) {
    return var_use(a->data.get(), b->data.get()) && buffer_fields(a, b);
  }

  bool exprs(const std::vector<Expr>& a, const std::vector<Expr>& b) {
    if (a.size() != b.size()) return false;
    for (size_t k = 0; k < a.size(); ++k)
      if (!expr(a[k], b[k])) return false;
    return true;
  }

  std::unordered_map<const VarNode*, const VarNode*> forward_, backward_;
};

// ---- hashing -------------------------------------------------------------------------------

uint64_t mix(uint64_t x) {
  x ^= x >> 30;
  x *= 0xbf58476d1ce4e5b9ULL;
  x ^= x >> 27;
  x *= 0x94d049bb133111ebULL;
  x ^= x >> 31;
  return x;
}

class Hasher {
 public:
  uint64_t value() const { return hash_; }

  void expr(const Expr& e) {
    if (!e.defined()) {
      add(0x6e756c6c);
      return;
    }
    add(100 + static_cast<uint64_t>(e.kind()));
    add(type_bits(e.dtype()));
    switch (e.kind()) {
      case ExprKind::kIntImm: add(static_cast<uint64_t>(e.as<IntImmNode>()->value)); break;
      case ExprKind::kFloatImm: add(float_bits(e.as<FloatImmNode>()->value)); break;
      case ExprKind::kVar: var_use(e.as<VarNode>()); break;
      case ExprKind::kBinary: {
        const auto* op = e.as<BinaryNode>();
        add(static_cast<uint64_t>(op->op));
        expr(op->a);
        expr(op->b);
        break;
      }
      case ExprKind::kNot: expr(e.as<NotNode>()->a); break;
      case ExprKind::kSelect: {
        const auto* op = e.as<SelectNode>();
        expr(op->condition);
        expr(op->true_value);
        expr(op->false_value);
        break;
      }
      case ExprKind::kCast: expr(e.as<CastNode>()->value); break;
      case ExprKind::kLoad: {
        const auto* op = e.as<LoadNode>();
        buffer_use(op->buffer.get());
        exprs(op->indices);
        break;
      }
      case ExprKind::kRamp: {
        const auto* op = e.as<RampNode>();
        add(op->lanes);
        expr(op->base);
        expr(op->stride);
        break;
      }
      case ExprKind::kBroadcast: {
        const auto* op = e.as<BroadcastNode>();
        add(op->lanes);
        expr(op->value);
        break;
      }
      case ExprKind::kLet: {
        const auto* op = e.as<LetNode>();
        expr(op->value);
        Scope scope(this);
        scope.bind(op->var.get());
        expr(op->body);
        break;
      }
      case ExprKind::kCall: {
        const auto* op = e.as<CallNode>();
        add(static_cast<uint64_t>(op->op));
        exprs(op->args);
        break;
      }
    }
  }

  void stmt(const Stmt& s) {
    if (!s.defined()) {
      add(0x6e756c6c);
      return;
    }
    add(200 + static_cast<uint64_t>(s.kind()));
    switch (s.kind()) {
      case StmtKind::kFor: {
        const auto* op = s.as<ForNode>();
        add(static_cast<uint64_t>(op->for_kind));
        add(std::hash<std::string>()(op->thread_tag));
        expr(op->min);
        expr(op->extent);
        Scope scope(this);
        scope.bind(op->loop_var.get());
        stmt(op->body);
        break;
      }
      case StmtKind::kStore: {
        const auto* op = s.as<StoreNode>();
        buffer_use(op->buffer.get());
        expr(op->value);
        exprs(op->indices);
        break;
      }
      case StmtKind::kAllocate: {
        const auto* op = s.as<AllocateNode>();
        buffer_fields(op->buffer.get());
        Scope scope(this);
        scope.bind(op->buffer->data.get());
        stmt(op->body);
        break;
      }
      case StmtKind::kSeq: {
        const auto& stmts = s.as<SeqNode>()->stmts;
        add(stmts.size());
        for (const Stmt& child : stmts) stmt(child);
        break;
      }
      case StmtKind::kIfThenElse: {
        const auto* op = s.as<IfThenElseNode>();
        expr(op->condition);
        stmt(op->then_case);
        stmt(op->else_case);
        break;
      }
      case StmtKind::kLetStmt: {
        const auto* op = s.as<LetStmtNode>();
        expr(op->value);
        Scope scope(this);
        scope.bind(op->var.get());
        stmt(op->body);
        break;
      }
      case StmtKind::kEvaluate: expr(s.as<EvaluateNode>()->value); break;
      case StmtKind::kAssert: {
        const auto* op = s.as<AssertNode>();
        add(std::hash<std::string>()(op->message));
        expr(op->condition);
        break;
      }
    }
  }

  void func(const PrimFunc& f) {
    if (!f.defined()) {
      add(0x6e756c6c);
      return;
    }
    add(f->params.size());
    Scope scope(this);
    for (const Param& p : f->params) {
      add(p.is_buffer() ? 1 : 2);
      scope.bind(p.is_buffer() ? p.buffer->data.get() : p.scalar.get());
    }
    for (const Param& p : f->params)
      if (p.is_buffer()) buffer_fields(p.buffer.get());
    stmt(f->body);
  }

 private:
  class Scope {
   public:
    explicit Scope(Hasher* hasher) : hasher_(hasher) {}
    ~Scope() {
      for (auto it = saved_.rbegin(); it != saved_.rend(); ++it) {
        if (it->second) hasher_->bound_[it->first] = *it->second;
        else hasher_->bound_.erase(it->first);
      }
    }
    void bind(const VarNode* v) {
      auto it = hasher_->bound_.find(v);
      saved_.emplace_back(v, it == hasher_->bound_.end() ? std::nullopt : std::optional<uint64_t>(it->second));
      hasher_->bound_[v] = ++hasher_->binder_count_;
      hasher_->add(type_bits(v->dtype));
    }

   private:
    Hasher* hasher_;
    std::vector<std::pair<const VarNode*, std::optional<uint64_t>>> saved_;
  };

  void add(uint64_t value) { hash_ = mix(hash_ * 0x9e3779b97f4a7c15ULL + value + 0x632be59bd9b4e019ULL); }

  // Bound variables hash by binder number, free ones by identity.
  void var_use(const VarNode* v) {
    auto it = bound_.find(v);
    if (it != bound_.end()) {
      add(1);
      add(it->second);
    } else {
      add(2);
      add(reinterpret_cast<uintptr_t>(v));
    }
  }

  void buffer_fields(const BufferNode* b) {
    add(type_bits(b->dtype));
    add(static_cast<uint64_t>(b->scope));
    add(static_cast<uint64_t>(b->alignment));
    add(b->shape.size());
    exprs(b->shape);
    add(b->strides.size());
    exprs(b->strides);
  }

  void buffer_use(const BufferNode* b) {
    var_use(b->data.get());
    buffer_fields(b);
  }

  void exprs(const std::vector<Expr>& list) {
    add(list.size());
    for (const Expr& e : list) expr(e);
  }

  uint64_t hash_ = 0x74657373656c;
  uint64_t binder_count_ = 0;
  std::unordered_map<const VarNode*, uint64_t> bound_;
};

}  // namespace

bool structural_equal(const Expr& a, const Expr& b) { return EqualityChecker().expr(a, b); }
bool structural_equal(const Stmt& a, const Stmt& b) { return EqualityChecker().stmt(a, b); }
bool structural_equal(const PrimFunc& a, const PrimFunc& b) { return EqualityChecker().func(a, b); }

size_t structural_hash(const Expr& e) {
  Hasher h;
  h.expr(e);
  return static_cast<size_t>(h.value());
}

size_t structural_hash(const Stmt& s) {
  Hasher h;
  h.stmt(s);
  return static_cast<size_t>(h.value());
}

size_t structural_hash(const PrimFunc& f) {
  Hasher h;
  h.func(f);
  return static_cast<size_t>(h.value());
}

}  // namespace tessel
