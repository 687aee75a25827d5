// storage_flatten: multi-dimensional buffer accesses become one flat element index on a 1-D view
// of the same memory (same data variable), and multi-dimensional allocations become 1-D ones.
// Example: B[i, j, ramp(k, 1, 8)] on B(4, 5, 16) becomes B_flat[ramp(i * 80 + j * 16 + k, 1, 8)].
#include <unordered_map>

#include "index_math.h"
#include "tessel/ir/error.h"
#include "tessel/ir/functor.h"
#include "tessel/ir/transforms.h"

namespace tessel {

namespace {

using transforms::cast_index;
using transforms::index_add;
using transforms::index_mul;
using transforms::index_sub;

// A buffer is already flat when it has one dimension and compact (unit) stride.
bool is_flat(const BufferNode* buffer) { return buffer->shape.size() == 1 && buffer->strides.empty(); }

// The integer type of flat indices into `buffer` accessed with `indices`: the common element type,
// widened to int64 when the indices or the strides disagree.
DataType flat_index_type(const std::vector<Expr>& indices, const std::vector<Expr>& strides) {
  DataType t = indices.empty() ? DataType::Int(32) : indices[0].dtype().element_of();
  bool wide = false, mixed = false;
  auto note = [&](DataType d) {
    d = d.element_of();
    wide |= d.bits() > 32;
    mixed |= d != t;
  };
  for (const Expr& index : indices) note(index.dtype());
  for (const Expr& stride : strides) {
    if (!as_const_int(stride)) note(stride.dtype());  // constants are re-typed, they never force a cast
  }
  if (!mixed && t.is_int()) return t;
  return wide ? DataType::Int(64) : DataType::Int(32);
}

class StorageFlattener : public IRMutator {
 public:
  Expr mutate_Load(const LoadNode* op, const Expr& self) override {
    std::vector<Expr> indices;
    bool changed = mutate_all(op->indices, &indices);
    if (is_flat(op->buffer.get())) return changed ? make_load(Buffer(op->buffer), std::move(indices)) : self;
    return make_load(flat_view(op->buffer), {flat_index(op->buffer, indices)});
  }

  Stmt mutate_Store(const StoreNode* op, const Stmt& self) override {
    Expr value = mutate(op->value);
    std::vector<Expr> indices;
    bool changed = mutate_all(op->indices, &indices);
    if (is_flat(op->buffer.get())) {
      if (!changed && value.same_as(op->value)) return self;
      return make_store(Buffer(op->buffer), std::move(value), std::move(indices));
    }
    return make_store(flat_view(op->buffer), std::move(value), {flat_index(op->buffer, indices)});
  }

  Stmt mutate_Allocate(const AllocateNode* op, const Stmt& self) override {
    Stmt body = mutate(op->body);
    if (is_flat(op->buffer.get())) return body.same_as(op->body) ? self : make_allocate(Buffer(op->buffer), body);
    return make_allocate(flat_view(op->buffer), std::move(body));
  }

 private:
  // One 1-D view per original buffer, so every access of a buffer names the same view.
  Buffer flat_view(const std::shared_ptr<const BufferNode>& node) {
    auto it = views_.find(node.get());
    if (it != views_.end()) return it->second;
    Buffer buffer(node);
    Buffer view = make_buffer_view(buffer, node->name, {flat_extent(buffer)});
    views_.emplace(node.get(), view);
    keep_alive_.push_back(node);
    return view;
  }

  // Elements spanned by the buffer: the product of the shape when compact, else
  // 1 + sum((shape_k - 1) * stride_k) (strides are assumed non-negative).
  static Expr flat_extent(const Buffer& buffer) {
    const BufferNode* node = buffer.get();
    if (node->shape.empty()) return make_int(DataType::Int(32), 1);
    if (node->strides.empty()) {
      // Keep the shape's own type when every extent is a constant of one type and the product fits.
      DataType t = node->shape[0].dtype();
      int64_t product = 1;
      bool constant = true;
      for (const Expr& extent : node->shape) {
        const int64_t* v = as_const_int(extent);
        if (!v || extent.dtype() != t) {
          constant = false;
          break;
        }
        product *= *v;
      }
      if (constant && (t.bits() >= 64 || product <= INT32_MAX)) return make_int(t, product);
      Expr total = make_int(DataType::Int(64), 1);
      for (const Expr& extent : node->shape) total = index_mul(total, cast_index(DataType::Int(64), extent));
      return total;
    }
    DataType t = DataType::Int(64);
    Expr span = make_int(t, 1);
    for (size_t d = 0; d < node->shape.size(); ++d) {
      Expr extent_minus_one = index_sub(cast_index(t, node->shape[d]), make_int(t, 1));
      span = index_add(span, index_mul(extent_minus_one, cast_index(t, node->strides[d])));
    }
    return span;
  }

  // sum(index_k * stride_k), outermost dimension first, so that a vector (Ramp) index in the
  // innermost dimension ends up as one Ramp over the scalar offset of the outer dimensions.
  static Expr flat_index(const std::shared_ptr<const BufferNode>& node, const std::vector<Expr>& indices) {
    internal_check(indices.size() == node->shape.size())
        << "buffer " << node->name << " has " << node->shape.size() << " dimensions, accessed with "
        << indices.size() << " indices";
    // Compact strides are products of the shape, so the shape's types matter then.
    DataType t = flat_index_type(indices, node->strides.empty() ? node->shape : node->strides);
    std::vector<Expr> strides = node->strides;
    if (strides.empty()) {
      // Compact row-major, built with folding arithmetic (no `1 * n` factors).
      strides.resize(node->shape.size());
      Expr running = make_int(t, 1);
      for (size_t d = node->shape.size(); d-- > 0;) {
        strides[d] = running;
        running = index_mul(running, cast_index(t, node->shape[d]));
      }
    }
    Expr flat;
    for (size_t d = 0; d < indices.size(); ++d) {
      Expr term = index_mul(cast_index(t, indices[d]), cast_index(t, strides[d]));
      flat = flat.defined() ? index_add(flat, term) : term;
    }
    return flat;
  }

  std::unordered_map<const BufferNode*, Buffer> views_;
  std::vector<std::shared_ptr<const BufferNode>> keep_alive_;  // so that the map's keys stay unique
};

}  // namespace

Stmt storage_flatten(const Stmt& s) { return StorageFlattener().mutate(s); }

}  // namespace tessel
