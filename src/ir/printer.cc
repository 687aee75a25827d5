// Text form of the loop IR (printer.h). One Printer object prints one top-level node; it names
// variables and buffers in order of first appearance, so equal IR always prints the same text.
// Expressions are parenthesised by precedence only where the tree shape requires it.
#include "tessel/ir/printer.h"

#include <charconv>
#include <cmath>
#include <cstring>
#include <sstream>
#include <unordered_map>
#include <unordered_set>

#include "tessel/ir/error.h"

namespace tessel {
namespace {

// Binding strength, loosest first. A child is parenthesised when it binds more loosely than its
// position demands (and, on the right of a binary operator, also when it binds equally, so that
// `a - (b - c)` keeps its parentheses while `a - b - c` means `(a - b) - c`).
enum Precedence : int {
  kPrecLet = 0,
  kPrecOr = 1,
  kPrecAnd = 2,
  kPrecCompare = 3,
  kPrecAdd = 4,
  kPrecMul = 5,
  kPrecUnary = 6,
  kPrecAtom = 7,
};

int binary_precedence(BinaryOp op) {
  switch (op) {
    case BinaryOp::kAdd:
    case BinaryOp::kSub: return kPrecAdd;
    case BinaryOp::kMul:
    case BinaryOp::kDiv:
    case BinaryOp::kMod: return kPrecMul;
    case BinaryOp::kMin:
    case BinaryOp::kMax: return kPrecAtom;  // printed as calls
    case BinaryOp::kEQ:
    case BinaryOp::kNE:
    case BinaryOp::kLT:
    case BinaryOp::kLE:
    case BinaryOp::kGT:
    case BinaryOp::kGE: return kPrecCompare;
    case BinaryOp::kAnd: return kPrecAnd;
    case BinaryOp::kOr: return kPrecOr;
  }
  return kPrecAtom;
}


const char* intrinsic_text(Intrinsic op) {
  switch (op) {
#define TESSEL_X(name, arity) \
  case Intrinsic::k_##name: return #name;
    TESSEL_INTRINSICS(TESSEL_X)
#undef TESSEL_X
  }
  return "?";
}

const char* scope_text(MemoryScope scope) {
  switch (scope) {
    case MemoryScope::kGlobal: return "global";
    case MemoryScope::kLocal: return "local";
    case MemoryScope::kShared: return "shared";
  }
  return "?";
}

// "float32", "int32x8", "bool", ... Spelled here rather than through DataType::to_string so the
// printed form does not depend on another file's choices.
std::string type_text(DataType t) {
  std::ostringstream os;
  switch (t.code()) {
    case TypeCode::kInt: os << "int" << t.bits(); break;
    case TypeCode::kUInt:
      if (t.bits() == 1) os << "bool";
      else os << "uint" << t.bits();
      break;
    case TypeCode::kFloat: os << "float" << t.bits(); break;
    case TypeCode::kBFloat: os << "bfloat" << t.bits(); break;
    case TypeCode::kHandle: os << "handle"; break;
  }
  if (t.lanes() != 1) os << "x" << t.lanes();
  return os.str();
}

// Integer immediates carry a suffix unless they are int32: 5, 5i64, 5u8, true.
std::string int_text(DataType t, int64_t value) {
  if (t.is_bool()) return value ? "true" : "false";
  std::ostringstream os;
  if (t.code() == TypeCode::kUInt) {
    uint64_t u = static_cast<uint64_t>(value);
    if (t.bits() < 64) u &= (uint64_t{1} << t.bits()) - 1;
    os << u << "u" << t.bits();
    return os.str();
  }
  os << value;
  if (t.bits() != 32) os << "i" << t.bits();
  return os.str();
}

// Float immediates always carry a suffix so they never read as integers: 0f, 1.5f (float32),
// 1.5f64, 1.5f16, 1.5bf16. The digits are the shortest that read back to the same value.
std::string float_text(DataType t, double value) {
  std::ostringstream suffix_stream;
  if (t.is_bfloat16()) suffix_stream << "bf16";
  else if (t.bits() == 32) suffix_stream << "f";
  else suffix_stream << "f" << t.bits();
  const std::string suffix = suffix_stream.str();
  if (std::isnan(value)) return std::string("nan").append(suffix);
  if (std::isinf(value)) return std::string(value < 0 ? "-inf" : "inf").append(suffix);
  char buffer[64];
  std::to_chars_result r;
  float narrow = static_cast<float>(value);
  if (t.bits() <= 32 && static_cast<double>(narrow) == value) {
    r = std::to_chars(buffer, buffer + sizeof(buffer), narrow);
  } else {
    r = std::to_chars(buffer, buffer + sizeof(buffer), value);
  }
  return std::string(buffer, r.ptr) + suffix;
}

std::string quoted(const std::string& text) {
  std::string s = "\"";
  for (char c : text) {
    if (c == '"' || c == '\\') {
      s += '\\';
      s += c;
    } else if (c == '\n') {
      s += "\\n";
    } else {
      s += c;
    }
  }
  return s + "\"";
}

class Printer {
 public:
  explicit Printer(std::ostream& os) : os_(os) {}

  void print_expr(const Expr& e) { print(e, kPrecLet); }
  void print_stmt(const Stmt& s) { stmt(s, /*tail=*/true); }

  void print_func(const PrimFunc& f) {
    os_ << "func " << f->name << "(";
    for (size_t k = 0; k < f->params.size(); ++k) {
      if (k) os_ << ", ";
      const Param& p = f->params[k];
      if (p.is_buffer()) {
        os_ << buffer_name(p.buffer.get()) << ": ";
        buffer_type(p.buffer.get());
        if (p.buffer->scope != MemoryScope::kGlobal) os_ << " " << scope_text(p.buffer->scope);
      } else {
        os_ << var_name(p.scalar.get()) << ": " << type_text(p.scalar.dtype());
      }
    }
    os_ << ") {\n";
    ++indent_;
    stmt(f->body, true);
    --indent_;
    os_ << "}\n";
  }

 private:
  // ---- names --------------------------------------------------------------------------------

  std::string fresh_name(const std::string& hint) {
    std::string base = hint.empty() ? "v" : hint;
    if (used_names_.insert(base).second) return base;
    int& next = next_suffix_[base];
    std::string candidate;
    do {
      candidate = base + "_" + std::to_string(++next);
    } while (!used_names_.insert(candidate).second);
    return candidate;
  }

  const std::string& var_name(const VarNode* v) {
    auto it = var_names_.find(v);
    if (it != var_names_.end()) return it->second;
    return var_names_.emplace(v, fresh_name(v->name)).first->second;
  }

  // Buffers that share both name and data variable (copies of one view) print alike; any other
  // pair of distinct buffers gets distinct names.
  const std::string& buffer_name(const BufferNode* b) {
    auto it = buffer_names_.find(b);
    if (it != buffer_names_.end()) return it->second;
    std::string key = b->name + '\0' + std::to_string(reinterpret_cast<uintptr_t>(b->data.get()));
    auto shared = buffer_names_by_storage_.find(key);
    std::string name = shared != buffer_names_by_storage_.end() ? shared->second : fresh_name(b->name);
    buffer_names_by_storage_.emplace(key, name);
    return buffer_names_.emplace(b, name).first->second;
  }

  // `float32[64, n]`, with `strides [s0, s1]` when the strides are explicit.
  void buffer_type(const BufferNode* b) {
    os_ << type_text(b->dtype) << "[";
    expr_list(b->shape);
    os_ << "]";
    if (!b->strides.empty()) {
      os_ << " strides [";
      expr_list(b->strides);
      os_ << "]";
    }
  }

  void expr_list(const std::vector<Expr>& list) {
    for (size_t k = 0; k < list.size(); ++k) {
      if (k) os_ << ", ";
      print(list[k], kPrecLet);
    }
  }

  // ---- expressions --------------------------------------------------------------------------

  int precedence(const Expr& e) {
    switch (e.kind()) {
      case ExprKind::kIntImm: {
        const auto* imm = e.as<IntImmNode>();
        return imm->value < 0 && !imm->dtype.is_bool() && imm->dtype.code() == TypeCode::kInt ? kPrecUnary
                                                                                              : kPrecAtom;
      }
      case ExprKind::kFloatImm: return std::signbit(e.as<FloatImmNode>()->value) ? kPrecUnary : kPrecAtom;
      case ExprKind::kBinary: return binary_precedence(e.as<BinaryNode>()->op);
      case ExprKind::kNot: return kPrecUnary;
      case ExprKind::kLet: return kPrecLet;
      default: return kPrecAtom;
    }
  }

  // Prints e, parenthesised when it binds more loosely than `required`.
  void print(const Expr& e, int required) {
    if (!e.defined()) {
      os_ << "<undefined>";
      return;
    }
    bool parens = precedence(e) < required;
    if (parens) os_ << "(";
    node(e);
    if (parens) os_ << ")";
  }

  void node(const Expr& e) {
    switch (e.kind()) {
      case ExprKind::kIntImm: {
        const auto* op = e.as<IntImmNode>();
        os_ << int_text(op->dtype, op->value);
        break;
      }
      case ExprKind::kFloatImm: {
        const auto* op = e.as<FloatImmNode>();
        os_ << float_text(op->dtype, op->value);
        break;
      }
      case ExprKind::kVar: os_ << var_name(e.as<VarNode>()); break;
      case ExprKind::kBinary: {
        const auto* op = e.as<BinaryNode>();
        if (op->op == BinaryOp::kMin || op->op == BinaryOp::kMax) {
          os_ << binary_op_name(op->op) << "(";
          print(op->a, kPrecLet);
          os_ << ", ";
          print(op->b, kPrecLet);
          os_ << ")";
          break;
        }
        int p = binary_precedence(op->op);
        // Comparisons do not chain: parenthesise a comparison on either side.
        print(op->a, is_comparison(op->op) ? p + 1 : p);
        os_ << " " << binary_op_name(op->op) << " ";
        print(op->b, p + 1);
        break;
      }
      case ExprKind::kNot: {
        os_ << "!";
        print(e.as<NotNode>()->a, kPrecUnary);
        break;
      }
      case ExprKind::kSelect: {
        const auto* op = e.as<SelectNode>();
        os_ << "select(";
        print(op->condition, kPrecLet);
        os_ << ", ";
        print(op->true_value, kPrecLet);
        os_ << ", ";
        print(op->false_value, kPrecLet);
        os_ << ")";
        break;
      }
      case ExprKind::kCast: {
        const auto* op = e.as<CastNode>();
        os_ << type_text(op->dtype) << "(";
        print(op->value, kPrecLet);
        os_ << ")";
        break;
      }
      case ExprKind::kLoad: {
        const auto* op = e.as<LoadNode>();
        os_ << buffer_name(op->buffer.get()) << "[";
        expr_list(op->indices);
        os_ << "]";
        break;
      }
      case ExprKind::kRamp: {
        const auto* op = e.as<RampNode>();
        os_ << "ramp(";
        print(op->base, kPrecLet);
        os_ << ", ";
        print(op->stride, kPrecLet);
        os_ << ", " << op->lanes << ")";
        break;
      }
      case ExprKind::kBroadcast: {
        const auto* op = e.as<BroadcastNode>();
        os_ << "x" << op->lanes << "(";
        print(op->value, kPrecLet);
        os_ << ")";
        break;
      }
      case ExprKind::kLet: {
        const auto* op = e.as<LetNode>();
        os_ << "let " << var_name(op->var.get()) << " = ";
        print(op->value, kPrecLet + 1);
        os_ << " in ";
        print(op->body, kPrecLet);
        break;
      }
      case ExprKind::kCall: {
        const auto* op = e.as<CallNode>();
        os_ << intrinsic_text(op->op) << "(";
        expr_list(op->args);
        os_ << ")";
        break;
      }
    }
  }

  // ---- statements ---------------------------------------------------------------------------

  void line_start() {
    for (int k = 0; k < indent_; ++k) os_ << "  ";
  }

  void block(const Stmt& body) {
    os_ << " {\n";
    ++indent_;
    stmt(body, true);
    --indent_;
    line_start();
    os_ << "}\n";
  }

  // `tail` is true when nothing follows s in its enclosing block; a LetStmt there prints its body
  // flat after it, elsewhere in braces so its scope stays visible.
  void stmt(const Stmt& s, bool tail) {
    if (!s.defined()) {
      line_start();
      os_ << "<undefined>\n";
      return;
    }
    switch (s.kind()) {
      case StmtKind::kFor: {
        const auto* op = s.as<ForNode>();
        line_start();
        switch (op->for_kind) {
          case ForKind::kSerial: os_ << "for"; break;
          case ForKind::kParallel: os_ << "parallel"; break;
          case ForKind::kVectorized: os_ << "vectorized"; break;
          case ForKind::kUnrolled: os_ << "unrolled"; break;
          case ForKind::kThreadBound: os_ << "thread_bound"; break;
        }
        os_ << " (" << var_name(op->loop_var.get()) << ", ";
        print(op->min, kPrecLet);
        os_ << ", ";
        print(op->extent, kPrecLet);
        if (op->for_kind == ForKind::kThreadBound || !op->thread_tag.empty()) os_ << ", " << quoted(op->thread_tag);
        os_ << ")";
        block(op->body);
        break;
      }
      case StmtKind::kStore: {
        const auto* op = s.as<StoreNode>();
        line_start();
        os_ << buffer_name(op->buffer.get()) << "[";
        expr_list(op->indices);
        os_ << "] = ";
        print(op->value, kPrecLet);
        os_ << "\n";
        break;
      }
      case StmtKind::kAllocate: {
        const auto* op = s.as<AllocateNode>();
        line_start();
        os_ << "allocate " << buffer_name(op->buffer.get()) << ": ";
        buffer_type(op->buffer.get());
        os_ << " " << scope_text(op->buffer->scope);
        block(op->body);
        break;
      }
      case StmtKind::kSeq: {
        const auto& stmts = s.as<SeqNode>()->stmts;
        for (size_t k = 0; k < stmts.size(); ++k) stmt(stmts[k], tail && k + 1 == stmts.size());
        break;
      }
      case StmtKind::kIfThenElse: {
        line_start();
        if_chain(s.as<IfThenElseNode>());
        break;
      }
      case StmtKind::kLetStmt: {
        const auto* op = s.as<LetStmtNode>();
        line_start();
        os_ << "let " << var_name(op->var.get()) << " = ";
        print(op->value, kPrecLet);
        if (tail) {
          os_ << "\n";
          stmt(op->body, true);
        } else {
          block(op->body);
        }
        break;
      }
      case StmtKind::kEvaluate: {
        line_start();
        os_ << "evaluate(";
        print(s.as<EvaluateNode>()->value, kPrecLet);
        os_ << ")\n";
        break;
      }
      case StmtKind::kAssert: {
        const auto* op = s.as<AssertNode>();
        line_start();
        os_ << "assert(";
        print(op->condition, kPrecLet);
        os_ << ", " << quoted(op->message) << ")\n";
        break;
      }
    }
  }

  // `if (c) { ... } else if (d) { ... } else { ... }`; the caller has indented the first line.
  void if_chain(const IfThenElseNode* op) {
    os_ << "if (";
    print(op->condition, kPrecLet);
    os_ << ") {\n";
    ++indent_;
    stmt(op->then_case, true);
    --indent_;
    line_start();
    os_ << "}";
    if (op->else_case.defined()) {
      if (const auto* chained = op->else_case.as<IfThenElseNode>()) {
        os_ << " else ";
        if_chain(chained);
        return;
      }
      os_ << " else";
      block(op->else_case);
      return;
    }
    os_ << "\n";
  }

  std::ostream& os_;
  int indent_ = 0;
  std::unordered_map<const VarNode*, std::string> var_names_;
  std::unordered_map<const BufferNode*, std::string> buffer_names_;
  std::unordered_map<std::string, std::string> buffer_names_by_storage_;
  std::unordered_set<std::string> used_names_;
  std::unordered_map<std::string, int> next_suffix_;
};

}  // namespace

std::string to_string(const Expr& e) {
  std::ostringstream os;
  Printer(os).print_expr(e);
  return os.str();
}

std::string to_string(const Stmt& s) {
  std::ostringstream os;
  Printer(os).print_stmt(s);
  return os.str();
}

std::string to_string(const PrimFunc& f) {
  std::ostringstream os;
  if (!f.defined()) return "<undefined>\n";
  Printer(os).print_func(f);
  return os.str();
}

std::ostream& operator<<(std::ostream& os, const Expr& e) { return os << to_string(e); }
std::ostream& operator<<(std::ostream& os, const Stmt& s) { return os << to_string(s); }
std::ostream& operator<<(std::ostream& os, const PrimFunc& f) { return os << to_string(f); }
std::ostream& operator<<(std::ostream& os, const DataType& t) { return os << type_text(t); }

}  // namespace tessel
