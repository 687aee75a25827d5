// Workload keys: canonical text of a compute DAG (names replaced by numbers) and its hash.
#include "tessel/te/workload_key.h"

#include <cstdio>
#include <sstream>
#include <unordered_map>

#include "tessel/ir/error.h"

namespace tessel::te {

namespace {

// Writes expressions with variables numbered by first appearance and tensors by their position.
class CanonicalWriter {
 public:
  std::ostringstream out;

  std::string var(const VarNode* v) {
    auto [it, inserted] = vars_.emplace(v, "v" + std::to_string(vars_.size()));
    return it->second;
  }
  void tensor_index(const BufferNode* b, int index) { tensors_[b] = index; }

  void expr(const Expr& e) {
    if (!e.defined()) {
      out << "_";
      return;
    }
    out << e.dtype().to_string() << ":";
    switch (e.kind()) {
      case ExprKind::kIntImm: out << e.as<IntImmNode>()->value; return;
      case ExprKind::kFloatImm: {
        char buffer[64];
        std::snprintf(buffer, sizeof(buffer), "%a", e.as<FloatImmNode>()->value);  // exact, locale-free
        out << buffer;
        return;
      }
      case ExprKind::kVar: out << var(e.as<VarNode>()); return;
      case ExprKind::kBinary: {
        const BinaryNode* b = e.as<BinaryNode>();
        out << "(" << binary_op_name(b->op) << " ";
        expr(b->a);
        out << " ";
        expr(b->b);
        out << ")";
        return;
      }
      case ExprKind::kNot: out << "(! "; expr(e.as<NotNode>()->a); out << ")"; return;
      case ExprKind::kSelect: {
        const SelectNode* s = e.as<SelectNode>();
        out << "(select ";
        expr(s->condition);
        out << " ";
        expr(s->true_value);
        out << " ";
        expr(s->false_value);
        out << ")";
        return;
      }
      case ExprKind::kCast: out << "(cast "; expr(e.as<CastNode>()->value); out << ")"; return;
      case ExprKind::kLoad: {
        const LoadNode* l = e.as<LoadNode>();
        auto it = tensors_.find(l->buffer.get());
        internal_check(it != tensors_.end()) << "workload key: load of a buffer outside the DAG";
        out << "(t" << it->second;
        for (const Expr& i : l->indices) {
          out << " ";
          expr(i);
        }
        out << ")";
        return;
      }
      case ExprKind::kRamp: {
        const RampNode* r = e.as<RampNode>();
        out << "(ramp ";
        expr(r->base);
        out << " ";
        expr(r->stride);
        out << " " << r->lanes << ")";
        return;
      }
      case ExprKind::kBroadcast: {
        const BroadcastNode* b = e.as<BroadcastNode>();
        out << "(broadcast ";
        expr(b->value);
        out << " " << b->lanes << ")";
        return;
      }
      case ExprKind::kLet: {
        const LetNode* l = e.as<LetNode>();
        out << "(let " << var(l->var.get()) << " ";
        expr(l->value);
        out << " ";
        expr(l->body);
        out << ")";
        return;
      }
      case ExprKind::kCall: {
        const CallNode* c = e.as<CallNode>();
        out << "(" << intrinsic_name(c->op);
        for (const Expr& a : c->args) {
          out << " ";
          expr(a);
        }
        out << ")";
        return;
      }
    }
  }

  void iter_vars(const char* label, const std::vector<IterVar>& ivs) {
    out << " " << label << "[";
    for (const IterVar& iv : ivs) {
      out << var(iv->var.get()) << "=";
      expr(iv->dom.min);
      out << "+";
      expr(iv->dom.extent);
      out << ";";
    }
    out << "]";
  }

 private:
  std::unordered_map<const VarNode*, std::string> vars_;
  std::unordered_map<const BufferNode*, int> tensors_;
};

// Two independent 64-bit FNV-1a hashes (different offset bases) make a 128-bit key.
std::string hash_text(const std::string& text) {
  uint64_t h1 = 0xcbf29ce484222325ULL, h2 = 0x84222325cbf29ce4ULL;
  for (unsigned char c : text) {
    h1 = (h1 ^ c) * 0x100000001b3ULL;
    h2 = (h2 ^ c) * 0x100000001b3ULL;
    h2 ^= h2 >> 29;
  }
  char buffer[40];
  std::snprintf(buffer, sizeof(buffer), "%016llx%016llx", static_cast<unsigned long long>(h1),
                static_cast<unsigned long long>(h2));
  return buffer;
}

}  // namespace

std::string workload_text(const std::vector<Tensor>& outputs) {
  CanonicalWriter w;
  std::vector<Tensor> tensors = post_dfs_tensors(outputs);
  for (size_t t = 0; t < tensors.size(); ++t) {
    const Tensor& tensor = tensors[t];
    const Operation& op = tensor.op();
    w.tensor_index(tensor.buffer().get(), static_cast<int>(t));
    w.out << "t" << t << " " << op->dtype.to_string() << "[";
    for (const Expr& extent : op->shape) {
      w.expr(extent);
      w.out << ",";
    }
    w.out << "] ";
    if (op->kind == OpKind::kPlaceholder) {
      w.out << "placeholder\n";
      continue;
    }
    w.out << "compute";
    w.iter_vars("axis", op->axis);
    if (op->has_reduction) {
      const Reduction& r = op->reduction;
      w.iter_vars("reduce", r.axes);
      w.out << " combiner(" << w.var(r.combiner->lhs.get()) << "," << w.var(r.combiner->rhs.get()) << ")=";
      w.expr(r.combiner->result);
      w.out << " identity=";
      w.expr(r.combiner->identity);
      w.out << " where=";
      w.expr(r.condition);
      w.out << " source=";
      w.expr(r.source);
    } else {
      w.out << " body=";
      w.expr(op->body);
    }
    w.out << "\n";
  }
  w.out << "outputs";
  for (const Tensor& out : outputs) {
    for (size_t t = 0; t < tensors.size(); ++t) {
      if (tensors[t].same_as(out)) w.out << " t" << t;
    }
  }
  return w.out.str();
}

std::string workload_key(const std::vector<Tensor>& outputs) { return hash_text(workload_text(outputs)); }

}  // namespace tessel::te
