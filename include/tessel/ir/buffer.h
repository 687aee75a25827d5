// Buffers: a typed, shaped view of memory addressed through a handle variable (`data`).
// Several Buffer objects may share one `data` variable (storage flattening makes a 1-D view of a
// multi-dimensional buffer); the memory belongs to whoever binds `data`: a function parameter
// or an Allocate statement.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "tessel/ir/expr.h"

namespace tessel {

enum class MemoryScope : uint8_t { kGlobal, kLocal, kShared };
const char* memory_scope_name(MemoryScope scope);  // "global", "local", "shared"

struct BufferNode {
  const std::string name;
  const Var data;                   // handle-typed variable holding the base address
  const DataType dtype;             // element type (scalar)
  const std::vector<Expr> shape;    // extents, outermost first (int32 or int64 expressions)
  const std::vector<Expr> strides;  // in elements; empty means compact row-major
  const int alignment;              // guaranteed byte alignment of data (power of two)
  const MemoryScope scope;

  BufferNode(std::string n, Var d, DataType t, std::vector<Expr> sh, std::vector<Expr> st, int align,
             MemoryScope sc)
      : name(std::move(n)), data(std::move(d)), dtype(t), shape(std::move(sh)), strides(std::move(st)),
        alignment(align), scope(sc) {}
};

class Buffer {
 public:
  Buffer() = default;
  explicit Buffer(std::shared_ptr<const BufferNode> node) : node_(std::move(node)) {}

  bool defined() const { return node_ != nullptr; }
  const BufferNode* get() const { return node_.get(); }
  const BufferNode* operator->() const { return node_.get(); }
  const std::shared_ptr<const BufferNode>& node_ptr() const { return node_; }
  bool same_as(const Buffer& other) const { return node_ == other.node_; }

  int ndim() const { return static_cast<int>(node_->shape.size()); }
  // Reads/vector-reads with one index per dimension (see LoadNode).
  Expr operator()(std::vector<Expr> indices) const;
  // Strides of each dimension in elements: the explicit ones, or compact row-major.
  std::vector<Expr> effective_strides() const;
  // Product of the shape (elements), as an int64 expression.
  Expr num_elements() const;

 private:
  std::shared_ptr<const BufferNode> node_;
};

// Makes a buffer with a fresh data variable named after it. Default alignment is 64 bytes.
Buffer make_buffer(std::string name, DataType dtype, std::vector<Expr> shape,
                   std::vector<Expr> strides = {}, MemoryScope scope = MemoryScope::kGlobal,
                   int alignment = 64);

// A buffer sharing `base`'s data variable but with another shape and strides (a view).
Buffer make_buffer_view(const Buffer& base, std::string name, std::vector<Expr> shape,
                        std::vector<Expr> strides = {});

}  // namespace tessel
