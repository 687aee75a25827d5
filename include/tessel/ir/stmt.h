// Loop-IR statements and functions.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "tessel/ir/buffer.h"
#include "tessel/ir/expr.h"

namespace tessel {

#define TESSEL_STMT_NODES(X) \
  X(For)                     \
  X(Store)                   \
  X(Allocate)                \
  X(Seq)                     \
  X(IfThenElse)              \
  X(LetStmt)                 \
  X(Evaluate)                \
  X(Assert)

enum class StmtKind : uint8_t {
#define TESSEL_X(name) k##name,
  TESSEL_STMT_NODES(TESSEL_X)
#undef TESSEL_X
};

struct StmtNode {
  const StmtKind kind;
  virtual ~StmtNode() = default;

 protected:
  explicit StmtNode(StmtKind k) : kind(k) {}
};

class Stmt {
 public:
  Stmt() = default;
  explicit Stmt(std::shared_ptr<const StmtNode> node) : node_(std::move(node)) {}

  bool defined() const { return node_ != nullptr; }
  const StmtNode* get() const { return node_.get(); }
  const StmtNode* operator->() const { return node_.get(); }
  StmtKind kind() const { return node_->kind; }
  bool same_as(const Stmt& other) const { return node_ == other.node_; }
  template <typename T>
  const T* as() const {
    return node_ && node_->kind == T::kKind ? static_cast<const T*>(node_.get()) : nullptr;
  }
  const std::shared_ptr<const StmtNode>& node_ptr() const { return node_; }

 private:
  std::shared_ptr<const StmtNode> node_;
};

// How a loop runs. kThreadBound loops are bound to a GPU thread axis named by thread_tag.
enum class ForKind : uint8_t { kSerial, kParallel, kVectorized, kUnrolled, kThreadBound };
const char* for_kind_name(ForKind kind);  // "serial", "parallel", ...

// for (loop_var = min; loop_var < min + extent; ++loop_var) body. loop_var is bound in body.
struct ForNode : StmtNode {
  static constexpr StmtKind kKind = StmtKind::kFor;
  const Var loop_var;
  const Expr min, extent;
  const ForKind for_kind;
  const std::string thread_tag;  // only for kThreadBound, e.g. "threadIdx.x"
  const Stmt body;
  ForNode(Var v, Expr mn, Expr ext, ForKind k, std::string tag, Stmt b)
      : StmtNode(kKind), loop_var(std::move(v)), min(std::move(mn)), extent(std::move(ext)), for_kind(k),
        thread_tag(std::move(tag)), body(std::move(b)) {}
};

// buffer[indices] = value (see LoadNode for index conventions; vector stores use vector indices).
struct StoreNode : StmtNode {
  static constexpr StmtKind kKind = StmtKind::kStore;
  const std::shared_ptr<const BufferNode> buffer;
  const Expr value;
  const std::vector<Expr> indices;
  StoreNode(std::shared_ptr<const BufferNode> buf, Expr v, std::vector<Expr> idx)
      : StmtNode(kKind), buffer(std::move(buf)), value(std::move(v)), indices(std::move(idx)) {}
};

// Allocates buffer's storage (num_elements of its dtype, in its scope) for the duration of body.
// Binds buffer->data in body.
struct AllocateNode : StmtNode {
  static constexpr StmtKind kKind = StmtKind::kAllocate;
  const std::shared_ptr<const BufferNode> buffer;
  const Stmt body;
  AllocateNode(std::shared_ptr<const BufferNode> buf, Stmt b) : StmtNode(kKind), buffer(std::move(buf)), body(std::move(b)) {}
};

struct SeqNode : StmtNode {
  static constexpr StmtKind kKind = StmtKind::kSeq;
  const std::vector<Stmt> stmts;
  explicit SeqNode(std::vector<Stmt> s) : StmtNode(kKind), stmts(std::move(s)) {}
};

// else_case may be undefined.
struct IfThenElseNode : StmtNode {
  static constexpr StmtKind kKind = StmtKind::kIfThenElse;
  const Expr condition;
  const Stmt then_case, else_case;
  IfThenElseNode(Expr c, Stmt t, Stmt e) : StmtNode(kKind), condition(std::move(c)), then_case(std::move(t)), else_case(std::move(e)) {}
};

struct LetStmtNode : StmtNode {
  static constexpr StmtKind kKind = StmtKind::kLetStmt;
  const Var var;
  const Expr value;
  const Stmt body;
  LetStmtNode(Var v, Expr val, Stmt b) : StmtNode(kKind), var(std::move(v)), value(std::move(val)), body(std::move(b)) {}
};

// Evaluates an expression for its side effects (or as a no-op placeholder: Evaluate(0)).
struct EvaluateNode : StmtNode {
  static constexpr StmtKind kKind = StmtKind::kEvaluate;
  const Expr value;
  explicit EvaluateNode(Expr v) : StmtNode(kKind), value(std::move(v)) {}
};

// Fails the function with `message` when condition is false.
struct AssertNode : StmtNode {
  static constexpr StmtKind kKind = StmtKind::kAssert;
  const Expr condition;
  const std::string message;
  AssertNode(Expr c, std::string m) : StmtNode(kKind), condition(std::move(c)), message(std::move(m)) {}
};

// ---- validating constructors ---------------------------------------------------------------
Stmt make_for(Var loop_var, Expr min, Expr extent, ForKind kind, Stmt body, std::string thread_tag = "");
Stmt make_store(const Buffer& buffer, Expr value, std::vector<Expr> indices);
Stmt make_allocate(const Buffer& buffer, Stmt body);
Stmt make_seq(std::vector<Stmt> stmts);  // flattens nested Seqs; a single statement is returned as is
Stmt make_if(Expr condition, Stmt then_case, Stmt else_case = Stmt());
Stmt make_let_stmt(Var var, Expr value, Stmt body);
Stmt make_evaluate(Expr value);
Stmt make_no_op();  // Evaluate(0)
bool is_no_op(const Stmt& s);
Stmt make_assert(Expr condition, std::string message);

// ---- functions -----------------------------------------------------------------------------

// A parameter is either a buffer (passed as a pointer to its data) or a scalar variable.
struct Param {
  Buffer buffer;  // defined for buffer parameters
  Var scalar;     // defined for scalar parameters
  static Param of(Buffer b) { return Param{std::move(b), Var()}; }
  static Param of(Var v) { return Param{Buffer(), std::move(v)}; }
  bool is_buffer() const { return buffer.defined(); }
};

struct PrimFuncNode {
  const std::string name;
  const std::vector<Param> params;
  const Stmt body;
  PrimFuncNode(std::string n, std::vector<Param> p, Stmt b) : name(std::move(n)), params(std::move(p)), body(std::move(b)) {}
};

class PrimFunc {
 public:
  PrimFunc() = default;
  explicit PrimFunc(std::shared_ptr<const PrimFuncNode> node) : node_(std::move(node)) {}
  bool defined() const { return node_ != nullptr; }
  const PrimFuncNode* get() const { return node_.get(); }
  const PrimFuncNode* operator->() const { return node_.get(); }
  // Same name and params, another body.
  PrimFunc with_body(Stmt body) const;

 private:
  std::shared_ptr<const PrimFuncNode> node_;
};

PrimFunc make_prim_func(std::string name, std::vector<Param> params, Stmt body);

}  // namespace tessel
