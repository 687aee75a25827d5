// Emits one CUDA kernel from a loop-IR statement: expressions lane by lane (vector IR is
// scalarised, except aligned contiguous 4-float loads and stores, which become float4), thread-bound
// loops as thread indices with guards, shared allocations hoisted to the kernel top, barriers around
// shared-memory writes, and reductions over a loop bound to threadIdx.x as block all-reductions.
#include <cctype>
#include <cmath>
#include <cstdio>
#include <map>
#include <set>
#include <sstream>
#include <unordered_map>

#include "cuda/cuda_internal.h"
#include "tessel/ir/arith.h"
#include "tessel/ir/error.h"
#include "tessel/ir/functor.h"
#include "tessel/ir/structural.h"

namespace tessel::codegen {

std::string cuda_type_name(DataType dtype) {
  DataType t = dtype.element_of();
  if (t.is_bool()) return "bool";
  if (t.is_float() && !t.is_bfloat16()) {
    if (t.bits() == 32) return "float";
    if (t.bits() == 64) return "double";
  }
  if (t.is_int()) {
    switch (t.bits()) {
      case 8: return "signed char";
      case 16: return "short";
      case 32: return "int";
      case 64: return "long long";
      default: break;
    }
  }
  if (t.is_uint()) {
    switch (t.bits()) {
      case 8: return "unsigned char";
      case 16: return "unsigned short";
      case 32: return "unsigned int";
      case 64: return "unsigned long long";
      default: break;
    }
  }
  user_error() << "the CUDA code generator does not support dtype " << dtype.to_string();
  return "";
}

namespace {

// Shared buffers (by data variable) a statement reads and writes.
struct SharedAccesses {
  std::set<const VarNode*> reads, writes;
};
SharedAccesses shared_accesses(const Stmt& s) {
  SharedAccesses result;
  pre_order_visit(s, [&](const Expr* e, const Stmt* st) {
    if (e) {
      if (const LoadNode* load = e->as<LoadNode>()) {
        if (load->buffer->scope == MemoryScope::kShared) result.reads.insert(load->buffer->data.get());
      }
    } else if (const StoreNode* store = st->as<StoreNode>()) {
      if (store->buffer->scope == MemoryScope::kShared) result.writes.insert(store->buffer->data.get());
    }
  });
  return result;
}

bool intersects(const std::set<const VarNode*>& a, const std::set<const VarNode*>& b) {
  for (const VarNode* v : a) {
    if (b.count(v)) return true;
  }
  return false;
}

// True when e is provably a multiple of `factor` (a conservative syntactic check).
bool is_multiple_of(const Expr& e, int64_t factor) {
  if (const int64_t* v = as_const_int(e)) return *v % factor == 0;
  if (const BinaryNode* b = e.as<BinaryNode>()) {
    switch (b->op) {
      case BinaryOp::kAdd:
      case BinaryOp::kSub: return is_multiple_of(b->a, factor) && is_multiple_of(b->b, factor);
      case BinaryOp::kMul: return is_multiple_of(b->a, factor) || is_multiple_of(b->b, factor);
      default: return false;
    }
  }
  if (const CastNode* c = e.as<CastNode>()) return c->value.dtype().is_integral() && is_multiple_of(c->value, factor);
  return false;
}

// A float32x4 access at Ramp(base, 1, 4) of a buffer aligned to 16 bytes, base a multiple of 4.
bool is_float4_access(DataType dtype, const BufferNode* buffer, const std::vector<Expr>& indices) {
  if (dtype != DataType::Float(32, 4) || indices.size() != 1 || buffer->alignment < 16) return false;
  const RampNode* ramp = indices[0].as<RampNode>();
  return ramp && is_const_int(ramp->stride, 1) && is_multiple_of(ramp->base, 4);
}

std::string float_literal(DataType t, double value) {
  bool is_double = t.bits() == 64;
  if (std::isnan(value)) return is_double ? "__longlong_as_double(0x7ff8000000000000LL)" : "__int_as_float(0x7fc00000)";
  if (std::isinf(value)) {
    if (is_double) return value > 0 ? "__longlong_as_double(0x7ff0000000000000LL)" : "__longlong_as_double(0xfff0000000000000ULL)";
    return value > 0 ? "__int_as_float(0x7f800000)" : "__int_as_float(0xff800000)";
  }
  char buffer[64];
  std::snprintf(buffer, sizeof(buffer), is_double ? "%.17g" : "%.9g", value);
  std::string text = buffer;
  if (text.find_first_of(".en") == std::string::npos) text += ".0";
  if (!is_double) text += "f";
  return value < 0 ? "(" + text + ")" : text;
}

class KernelEmitter {
 public:
  KernelEmitter(const std::map<std::string, Expr>& dims, const CudaTarget& target) : dims_(dims), target_(target) {}

  std::string run(const CudaKernelLaunch& launch, const std::vector<Param>& params,
                  const std::vector<Buffer>& workspaces, const Stmt& body, int64_t* shared_bytes) {
    written_ = written_buffers(body);
    std::vector<std::string> args;
    for (const Param& p : params) {
      if (p.is_buffer()) {
        args.push_back(pointer_param(p.buffer));
      } else {
        args.push_back(cuda_type_name(p.scalar.dtype()) + " " + name_of(p.scalar.get()));
      }
    }
    for (const Buffer& w : workspaces) args.push_back(pointer_param(w));
    indent_ = 1;
    note_local_buffers(body);
    emit_stmt(body);
    finish_declarations();
    std::ostringstream out;
    // Launch bounds only when the block size is a constant.
    int64_t threads = 1;
    for (const char* tag : {"threadIdx.x", "threadIdx.y", "threadIdx.z"}) {
      auto it = dims_.find(tag);
      if (it == dims_.end()) continue;
      const int64_t* v = as_const_int(it->second);
      threads = v && threads > 0 ? threads * *v : -1;
    }
    out << "extern \"C\" __global__ void ";
    if (threads > 0) out << "__launch_bounds__(" << threads << ") ";
    out << launch.name << "(";
    for (size_t i = 0; i < args.size(); ++i) out << (i ? ", " : "") << args[i];
    out << ") {\n";
    for (const std::string& decl : shared_decls_) out << "  " << decl << "\n";
    out << body_.str() << "}\n";
    *shared_bytes = shared_bytes_;
    return out.str();
  }

 private:
  // ---- names ----
  std::string name_of(const VarNode* v) {
    auto it = names_.find(v);
    if (it != names_.end()) return it->second;
    std::string base;
    for (char c : v->name) base += (std::isalnum(static_cast<unsigned char>(c)) || c == '_') ? c : '_';
    if (base.empty() || std::isdigit(static_cast<unsigned char>(base[0]))) base = "v_" + base;
    std::string name = base;
    for (int k = 1; used_names_.count(name) || name.rfind("tessel_", 0) == 0 || is_reserved(name); ++k) {
      name = base + "_" + std::to_string(k);
    }
    used_names_.insert(name);
    names_[v] = name;
    return name;
  }
  static bool is_reserved(const std::string& name) {
    static const std::set<std::string> reserved = {"threadIdx", "blockIdx", "blockDim", "gridDim", "int", "float",
                                                   "double", "char", "short", "long", "bool", "void", "const",
                                                   "for", "if", "else", "do", "while", "return", "min", "max",
                                                   "exp", "log", "auto", "signed", "unsigned", "float4", "default"};
    return reserved.count(name) > 0;
  }

  static std::set<const VarNode*> written_buffers(const Stmt& s) {
    std::set<const VarNode*> written;
    pre_order_visit(s, [&](const Expr*, const Stmt* st) {
      if (st) {
        if (const StoreNode* store = st->as<StoreNode>()) written.insert(store->buffer->data.get());
      }
    });
    return written;
  }

  std::string pointer_param(const Buffer& b) {
    bool read_only = !written_.count(b->data.get());
    return std::string(read_only ? "const " : "") + cuda_type_name(b->dtype) + "* __restrict__ " +
           name_of(b->data.get());
  }

  // ---- output ----
  void line(const std::string& text) {
    body_ << std::string(2 * indent_, ' ') << text << "\n";
    just_synced_ = false;
  }
  void barrier() {
    if (just_synced_) {
      pending_reads_.clear();
      pending_writes_.clear();
      return;
    }
    user_check(guard_depth_ == 0)
        << "a __syncthreads() is needed under a guard of a thread-bound loop whose extent is smaller than "
           "the block; give all loops bound to the same thread axis the same extent";
    user_check(divergent_depth_ == 0)
        << "a __syncthreads() is needed inside a condition that depends on the thread index";
    line("__syncthreads();");
    just_synced_ = true;
    pending_reads_.clear();
    pending_writes_.clear();
  }

  // ---- expressions ----
  // The C expression of e, or of lane `lane` of a vector expression.
  std::string expr(const Expr& e, int lane = 0) {
    DataType t = e.dtype();
    switch (e.kind()) {
      case ExprKind::kIntImm: {
        int64_t v = e.as<IntImmNode>()->value;
        if (t.is_bool()) return v ? "true" : "false";
        std::string text = std::to_string(v);
        if (t.bits() == 64) text += t.is_uint() ? "ULL" : "LL";
        else if (t.is_uint()) text += "U";
        if (t.is_int() && t.bits() < 32) text = "((" + cuda_type_name(t) + ")" + text + ")";
        return v < 0 ? "(" + text + ")" : text;
      }
      case ExprKind::kFloatImm: return float_literal(t, e.as<FloatImmNode>()->value);
      case ExprKind::kVar: return name_of(e.as<VarNode>());
      case ExprKind::kBinary: return binary(e.as<BinaryNode>(), lane);
      case ExprKind::kNot: return "(!" + expr(e.as<NotNode>()->a, lane) + ")";
      case ExprKind::kSelect: {
        const SelectNode* op = e.as<SelectNode>();
        return "(" + expr(op->condition, lane) + " ? " + expr(op->true_value, lane) + " : " +
               expr(op->false_value, lane) + ")";
      }
      case ExprKind::kCast: {
        const CastNode* op = e.as<CastNode>();
        return "((" + cuda_type_name(t) + ")(" + expr(op->value, lane) + "))";
      }
      case ExprKind::kLoad: {
        const LoadNode* op = e.as<LoadNode>();
        internal_check(op->indices.size() == 1) << "CUDA codegen needs flattened buffers (" << op->buffer->name << ")";
        auto vec = vector_loads_.find(op);
        if (vec != vector_loads_.end()) return vec->second + "." + "xyzw"[lane];
        return name_of(op->buffer->data.get()) + "[" + expr(op->indices[0], lane) + "]";
      }
      case ExprKind::kRamp: {
        const RampNode* op = e.as<RampNode>();
        if (lane == 0) return expr(op->base);
        return "(" + expr(op->base) + " + " + std::to_string(lane) + " * " + expr(op->stride) + ")";
      }
      case ExprKind::kBroadcast: return expr(e.as<BroadcastNode>()->value);
      case ExprKind::kLet: {
        const LetNode* op = e.as<LetNode>();
        return "([&]() { const " + cuda_type_name(op->value.dtype()) + " " + name_of(op->var.get()) + " = " +
               expr(op->value, lane) + "; return " + expr(op->body, lane) + "; }())";
      }
      case ExprKind::kCall: return call(e.as<CallNode>(), lane);
    }
    internal_error() << "unhandled expression kind";
    return "";
  }

  std::string binary(const BinaryNode* op, int lane) {
    std::string a = expr(op->a, lane), b = expr(op->b, lane);
    DataType t = op->a.dtype();
    bool is_float = t.is_float();
    switch (op->op) {
      case BinaryOp::kDiv:
        if (is_float) return "(" + a + " / " + b + ")";
        if (t.is_uint() || t.is_bool()) return "(" + a + " / " + b + ")";
        return "tessel_floordiv<" + cuda_type_name(t) + ">(" + a + ", " + b + ")";
      case BinaryOp::kMod:
        if (is_float) {
          std::string fl = t.bits() == 64 ? "floor" : "floorf";
          return "([&]() { const " + cuda_type_name(t) + " x_ = " + a + ", y_ = " + b + "; return x_ - " + fl +
                 "(x_ / y_) * y_; }())";
        }
        if (t.is_uint() || t.is_bool()) return "(" + a + " % " + b + ")";
        return "tessel_floormod<" + cuda_type_name(t) + ">(" + a + ", " + b + ")";
      case BinaryOp::kMin: return "tessel_min<" + cuda_type_name(t) + ">(" + a + ", " + b + ")";
      case BinaryOp::kMax: return "tessel_max<" + cuda_type_name(t) + ">(" + a + ", " + b + ")";
      default: return "(" + a + " " + binary_op_name(op->op) + " " + b + ")";
    }
  }

  std::string call(const CallNode* op, int lane) {
    std::vector<std::string> args;
    for (const Expr& a : op->args) args.push_back(expr(a, lane));
    DataType t = op->dtype;
    bool f32 = t.is_float() && t.bits() == 32;
    bool fast = target_.fast_math && f32;
    auto fn = [&](const std::string& name) {
      std::string text = name + (f32 ? "f" : "") + "(";
      for (size_t i = 0; i < args.size(); ++i) text += (i ? ", " : "") + args[i];
      return text + ")";
    };
    std::string one = f32 ? "1.0f" : "1.0";
    switch (op->op) {
      case Intrinsic::k_exp: return fast ? "__expf(" + args[0] + ")" : fn("exp");
      case Intrinsic::k_log: return fast ? "__logf(" + args[0] + ")" : fn("log");
      case Intrinsic::k_sqrt: return fn("sqrt");
      case Intrinsic::k_rsqrt: return fn("rsqrt");
      case Intrinsic::k_tanh: return fn("tanh");
      case Intrinsic::k_erf: return fn("erf");
      case Intrinsic::k_sigmoid: {
        std::string e = fast ? "__expf(-(" + args[0] + "))" : std::string(f32 ? "expf" : "exp") + "(-(" + args[0] + "))";
        return "(" + one + " / (" + one + " + " + e + "))";
      }
      case Intrinsic::k_pow: return fast ? "__powf(" + args[0] + ", " + args[1] + ")" : fn("pow");
      case Intrinsic::k_fabs:
        if (t.is_integral()) return "abs(" + args[0] + ")";
        return fn("fabs");
      case Intrinsic::k_floor: return fn("floor");
      case Intrinsic::k_ceil: return fn("ceil");
      case Intrinsic::k_round: return fn("rint");
      case Intrinsic::k_fma: return fn("fma");
    }
    internal_error() << "unhandled intrinsic";
    return "";
  }

  // ---- statements ----
  void emit_stmt(const Stmt& s) {
    switch (s.kind()) {
      case StmtKind::kFor: emit_for(s.as<ForNode>()); return;
      case StmtKind::kStore: emit_store(s.as<StoreNode>()); return;
      case StmtKind::kAllocate: emit_allocate(s.as<AllocateNode>()); return;
      case StmtKind::kSeq: emit_seq(s.as<SeqNode>()); return;
      case StmtKind::kIfThenElse: {
        const IfThenElseNode* op = s.as<IfThenElseNode>();
        bool divergent = false;
        pre_order_visit(make_evaluate(op->condition), [&](const Expr* e, const Stmt*) {
          if (e && e->as<VarNode>()) divergent |= thread_vars_.count(e->as<VarNode>()) > 0;
        });
        divergent_depth_ += divergent;
        line("if (" + expr(op->condition) + ") {");
        nested(op->then_case);
        if (op->else_case.defined() && !is_no_op(op->else_case)) {
          line("} else {");
          nested(op->else_case);
        }
        line("}");
        divergent_depth_ -= divergent;
        return;
      }
      case StmtKind::kLetStmt: {
        const LetStmtNode* op = s.as<LetStmtNode>();
        if (uses_var(op->body, op->var)) {
          line("const " + cuda_type_name(op->value.dtype()) + " " + name_of(op->var.get()) + " = " + expr(op->value) + ";");
        }
        emit_stmt(op->body);
        return;
      }
      case StmtKind::kEvaluate:
        if (!is_no_op(s)) line("(void)(" + expr(s.as<EvaluateNode>()->value) + ");");
        return;
      case StmtKind::kAssert:
        line("if (!(" + expr(s.as<AssertNode>()->condition) + ")) __trap();");
        return;
    }
  }

  void nested(const Stmt& s) {
    ++indent_;
    emit_stmt(s);
    --indent_;
  }

  // A barrier before a statement that reads shared memory written since the last barrier or
  // writes shared memory read since then (the pending sets are conservative: whole statements).
  void emit_seq(const SeqNode* op) {
    for (const Stmt& s : op->stmts) {
      SharedAccesses a = shared_accesses(s);
      if (intersects(a.reads, pending_writes_) || intersects(a.writes, pending_reads_)) barrier();
      emit_stmt(s);
      pending_writes_.insert(a.writes.begin(), a.writes.end());
      pending_reads_.insert(a.reads.begin(), a.reads.end());
    }
  }

  void emit_allocate(const AllocateNode* op) {
    Buffer buffer(op->buffer);
    Expr size = simplify(buffer.num_elements());
    const int64_t* count = as_const_int(size);
    user_check(count) << "the CUDA code generator needs a constant size for " << memory_scope_name(buffer->scope)
                      << " buffer " << buffer->name;
    std::string decl = std::string("__align__(16) ") + cuda_type_name(buffer->dtype) + " " +
                       name_of(buffer->data.get()) + "[" + std::to_string(*count) + "];";
    if (buffer->scope == MemoryScope::kShared) {
      // Loop partitioning may copy an allocation; the copies share one data variable.
      if (declared_shared_.insert(buffer->data.get()).second) {
        shared_decls_.push_back("__shared__ " + decl);
        shared_bytes_ += *count * buffer->dtype.bytes();
      }
    } else {
      line(decl);
    }
    emit_stmt(op->body);
  }

  void emit_store(const StoreNode* op) {
    internal_check(op->indices.size() == 1) << "CUDA codegen needs flattened buffers (" << op->buffer->name << ")";
    if (op == intercepted_store_) {
      line(intercepted_value_ + " = " + expr(intercepted_contribution_) + ";");
      return;
    }
    std::string buf = name_of(op->buffer->data.get());
    int lanes = op->value.dtype().lanes();
    if (lanes == 1) {
      line(buf + "[" + expr(op->indices[0]) + "] = " + expr(op->value) + ";");
      return;
    }
    // Vector store: contiguous aligned float4 loads of the value become float4 temporaries.
    line("{");
    ++indent_;
    pre_order_visit(make_evaluate(op->value), [&](const Expr* e, const Stmt*) {
      if (!e) return;
      const LoadNode* load = e->as<LoadNode>();
      if (!load || vector_loads_.count(load) || !is_float4_access(load->dtype, load->buffer.get(), load->indices)) {
        return;
      }
      std::string name = "vec" + std::to_string(vector_count_++);
      line("const float4 " + name + " = *reinterpret_cast<const float4*>(" + name_of(load->buffer->data.get()) + " + " +
           expr(load->indices[0].as<RampNode>()->base) + ");");
      vector_loads_[load] = name;
    });
    if (is_float4_access(op->value.dtype(), op->buffer.get(), op->indices)) {
      std::string parts;
      for (int l = 0; l < 4; ++l) parts += (l ? ", " : "") + expr(op->value, l);
      line("*reinterpret_cast<float4*>(" + buf + " + " + expr(op->indices[0].as<RampNode>()->base) +
           ") = make_float4(" + parts + ");");
    } else {
      for (int l = 0; l < lanes; ++l) line(buf + "[" + expr(op->indices[0], l) + "] = " + expr(op->value, l) + ";");
    }
    --indent_;
    line("}");
  }

  // The update `B[i] = B[i] op x` of a reduction whose loop var appears only in x.
  struct Reduction {
    const StoreNode* store = nullptr;
    BinaryOp op;
    Expr contribution;
  };
  // The loop body may compute the thread's contribution first (an rfactored partial computed at
  // the loop): the update is then the last statement, under allocations and sequences.
  static bool as_reduction(const ForNode* loop, Reduction* out) {
    Stmt last = loop->body;
    while (true) {
      if (const AllocateNode* a = last.as<AllocateNode>()) { last = a->body; continue; }
      if (const SeqNode* seq = last.as<SeqNode>()) { last = seq->stmts.back(); continue; }
      break;
    }
    const StoreNode* store = last.as<StoreNode>();
    if (!store || store->value.dtype().lanes() != 1 || store->indices.size() != 1) return false;
    const BinaryNode* b = store->value.as<BinaryNode>();
    if (!b || !(b->op == BinaryOp::kAdd || b->op == BinaryOp::kMul || b->op == BinaryOp::kMin || b->op == BinaryOp::kMax)) {
      return false;
    }
    if (uses_var(store->indices[0], loop->loop_var)) return false;
    auto is_self = [&](const Expr& e) {
      const LoadNode* load = e.as<LoadNode>();
      return load && load->buffer->data.same_as(store->buffer->data) && structural_equal(load->indices[0], store->indices[0]);
    };
    Expr other;
    if (is_self(b->a)) other = b->b; else if (is_self(b->b)) other = b->a; else return false;
    // Only the update may touch the target.
    int writes = 0;
    pre_order_visit(loop->body, [&](const Expr* e, const Stmt* st) {
      if (st && st->as<StoreNode>() && st->as<StoreNode>()->buffer->data.same_as(store->buffer->data)) ++writes;
      if (e && e->as<LoadNode>() && e->as<LoadNode>()->buffer->data.same_as(store->buffer->data) &&
          !structural_equal(*e, b->a) && !structural_equal(*e, b->b)) {
        writes += 2;
      }
    });
    if (writes != 1) return false;
    *out = Reduction{store, b->op, other};
    return true;
  }

  std::string identity(BinaryOp op, DataType t) {
    switch (op) {
      case BinaryOp::kAdd: return t.is_float() ? float_literal(t, 0.0) : "0";
      case BinaryOp::kMul: return t.is_float() ? float_literal(t, 1.0) : "1";
      case BinaryOp::kMin:
        if (t.is_float()) return float_literal(t, INFINITY);
        return "((" + cuda_type_name(t) + ")" + std::to_string(t.bits() == 64 ? INT64_MAX : (int64_t{1} << (t.bits() - 1)) - 1) + ")";
      default:
        if (t.is_float()) return float_literal(t, -INFINITY);
        return "((" + cuda_type_name(t) + ")(" + std::to_string(t.bits() == 64 ? INT64_MIN + 1 : -(int64_t{1} << (t.bits() - 1))) + " ))";
    }
  }

  void emit_cross_thread_reduction(const ForNode* op, const Reduction& r, bool guarded) {
    std::string type = cuda_type_name(r.store->value.dtype());
    const int64_t* block_x = as_const_int(dims_.at("threadIdx.x"));
    user_check(block_x && (*block_x % 32 == 0 || (*block_x & (*block_x - 1)) == 0))
        << "a reduction bound to threadIdx.x needs a constant block width that is a power of two or a multiple of 32";
    // Scratch: one slot per warp of each row of threads (rows = threadIdx.y * threadIdx.z).
    int64_t rows = 1;
    for (const char* tag : {"threadIdx.y", "threadIdx.z"}) {
      auto it = dims_.find(tag);
      if (it == dims_.end()) continue;
      const int64_t* extent = as_const_int(it->second);
      user_check(extent) << "a reduction bound to threadIdx.x needs a constant " << tag << " extent";
      rows *= *extent;
    }
    reduce_scratch_size_ = std::max(reduce_scratch_size_, rows * ((*block_x + 31) / 32));
    user_check(guard_depth_ == 0) << "a reduction bound to threadIdx.x cannot sit under a thread guard";
    std::string red = "red" + std::to_string(vector_count_++);
    line(type + " " + red + " = " + identity(r.op, r.store->value.dtype()) + ";");
    std::string index = "((" + cuda_type_name(op->loop_var.dtype()) + ")threadIdx.x)";
    line(guarded ? "if (threadIdx.x < " + expr(op->extent) + ") {" : "{");
    ++indent_;
    thread_vars_.insert(op->loop_var.get());
    line("const " + cuda_type_name(op->loop_var.dtype()) + " " + name_of(op->loop_var.get()) + " = " +
         (is_zero(op->min) ? index : "(" + expr(op->min) + " + " + index + ")") + ";");
    // The body runs as usual, except that the update stores the contribution into `red`.
    intercepted_store_ = r.store;
    intercepted_value_ = red;
    intercepted_contribution_ = r.contribution;
    emit_stmt(op->body);
    intercepted_store_ = nullptr;
    --indent_;
    line("}");
    const char* fn = r.op == BinaryOp::kAdd ? "tessel_add_op" : r.op == BinaryOp::kMul ? "tessel_mul_op"
                   : r.op == BinaryOp::kMin ? "tessel_min_op" : "tessel_max_op";
    std::string scratch_name = "tessel_reduce_scratch_" + type_suffix(r.store->value.dtype());
    scratch_types_[scratch_name] = r.store->value.dtype();
    line(red + " = tessel_block_allreduce(" + red + ", " + fn + "(), " + scratch_name + ");");
    just_synced_ = true;
    std::string buf = name_of(r.store->buffer->data.get());
    std::string target = buf + "[" + expr(r.store->indices[0]) + "]";
    std::string combined = r.op == BinaryOp::kAdd ? target + " + " + red
                         : r.op == BinaryOp::kMul ? target + " * " + red
                         : std::string(r.op == BinaryOp::kMin ? "tessel_min<" : "tessel_max<") + type + ">(" + target + ", " + red + ")";
    // Per-thread buffers take the result in every thread; shared and global ones once per row.
    bool per_thread = local_buffers_.count(r.store->buffer->data.get()) > 0;
    line(std::string(per_thread ? "" : "if (threadIdx.x == 0) ") + target + " = " + combined + ";");
  }
  static std::string type_suffix(DataType t) { return t.to_string(); }

  void emit_for(const ForNode* op) {
    if (op->for_kind == ForKind::kThreadBound) {
      const std::string& tag = op->thread_tag;
      Expr dim = dims_.at(tag);
      const int64_t* extent = as_const_int(op->extent);
      const int64_t* dim_value = as_const_int(dim);
      bool guarded = !(extent && dim_value ? *extent == *dim_value : structural_equal(make_cast(DataType::Int(64), op->extent), dim));
      Reduction reduction;
      if (tag == "threadIdx.x" && as_reduction(op, &reduction)) {
        emit_cross_thread_reduction(op, reduction, guarded);
        return;
      }
      std::string index = "((" + cuda_type_name(op->loop_var.dtype()) + ")" + tag + ")";
      line(guarded ? "if (" + tag + " < " + expr(op->extent) + ") {" : "{");
      ++indent_;
      if (guarded) ++guard_depth_;
      if (tag.rfind("threadIdx.", 0) == 0) thread_vars_.insert(op->loop_var.get());
      if (uses_var(op->body, op->loop_var)) {
        line("const " + cuda_type_name(op->loop_var.dtype()) + " " + name_of(op->loop_var.get()) + " = " +
             (is_zero(op->min) ? index : "(" + expr(op->min) + " + " + index + ")") + ";");
      }
      emit_stmt(op->body);
      if (guarded) --guard_depth_;
      --indent_;
      line("}");
      return;
    }
    user_check(op->for_kind != ForKind::kParallel)
        << "loop over " << op->loop_var.name() << " is parallel (a CPU thread-pool loop); on a GPU, bind it to "
        << "blockIdx/threadIdx instead";
    std::string type = cuda_type_name(op->loop_var.dtype());
    std::string var = name_of(op->loop_var.get());
    std::string end = is_zero(op->min) ? expr(op->extent) : "(" + expr(op->min) + " + " + expr(op->extent) + ")";
    if (op->for_kind == ForKind::kUnrolled) line("#pragma unroll");
    line("for (" + type + " " + var + " = " + expr(op->min) + "; " + var + " < " + end + "; ++" + var + ") {");
    ++indent_;
    ++serial_depth_;
    // The next iteration's writes must wait for this iteration's reads of the same buffers.
    SharedAccesses body = shared_accesses(op->body);
    if (intersects(body.reads, body.writes)) pending_reads_.insert(body.reads.begin(), body.reads.end());
    emit_stmt(op->body);
    --serial_depth_;
    --indent_;
    line("}");
  }

  // Declarations the kernel body needs beyond the hoisted shared arrays.
  void finish_declarations() {
    for (const auto& [name, dtype] : scratch_types_) {
      shared_decls_.push_back("__shared__ " + cuda_type_name(dtype) + " " + name + "[" +
                              std::to_string(reduce_scratch_size_) + "];");
      shared_bytes_ += reduce_scratch_size_ * dtype.bytes();
    }
  }
  void note_local_buffers(const Stmt& body) {
    local_buffers_.clear();
    pre_order_visit(body, [&](const Expr*, const Stmt* s) {
      if (s) {
        if (const AllocateNode* a = s->as<AllocateNode>()) {
          if (a->buffer->scope != MemoryScope::kShared) local_buffers_.insert(a->buffer->data.get());
        }
      }
    });
  }

  const std::map<std::string, Expr>& dims_;
  const CudaTarget& target_;
  std::ostringstream body_;
  int indent_ = 1;
  std::unordered_map<const VarNode*, std::string> names_;
  std::set<std::string> used_names_;
  std::set<const VarNode*> written_;
  std::set<const VarNode*> local_buffers_;
  std::vector<std::string> shared_decls_;
  std::set<const VarNode*> declared_shared_;
  const StoreNode* intercepted_store_ = nullptr;  // the update of the cross-thread reduction being emitted
  std::string intercepted_value_;
  Expr intercepted_contribution_;
  int64_t shared_bytes_ = 0;
  std::set<const VarNode*> pending_writes_, pending_reads_;
  std::set<const VarNode*> thread_vars_;  // loop vars bound to threadIdx.*
  int divergent_depth_ = 0;               // enclosing conditions that depend on thread_vars_
  bool just_synced_ = false;
  int guard_depth_ = 0;
  int serial_depth_ = 0;
  int vector_count_ = 0;
  std::unordered_map<const LoadNode*, std::string> vector_loads_;
  int64_t reduce_scratch_size_ = 0;
  std::map<std::string, DataType> scratch_types_;  // reduction scratch arrays by name
};

}  // namespace

std::string emit_cuda_kernel(const CudaKernelLaunch& launch, const std::vector<Param>& params,
                             const std::vector<Buffer>& workspaces, const Stmt& body,
                             const std::map<std::string, Expr>& dims, const CudaTarget& target,
                             int64_t* shared_bytes) {
  KernelEmitter emitter(dims, target);
  return emitter.run(launch, params, workspaces, body, shared_bytes);
}

}  // namespace tessel::codegen
