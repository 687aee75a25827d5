// Layout alteration for CPU. conv2d (NCHW, groups 1, float32, constant weight, output channels a
// multiple of the block, in a region whose work pays for its boundary transforms: see
// convs_worth_blocking) becomes a blocked NCHW{ic}c -> NCHW{oc}c conv2d whose weight goes through
// a layout_transform OIHW -> OIHW{ic}i{oc}o that fold_constants turns into a packed constant.
// dense with a constant float weight becomes dense_packed over a pack_dense_weight call (folded
// the same way), so the kernel stops repacking its weight on every run.
//
// Every value of the old graph is tracked in the forms it has been materialised in: its original
// layout (block 0) and NCHW{b}c blocked forms. A consumer asks for the form it needs and a
// layout_transform is emitted at most once per (value, form); explicit layout_transform calls of
// the old graph only record a new form, so inverse pairs (NCHW16c -> NCHW -> NCHW16c) cancel.
// Layout rules: elementwise ops keep their input's blocked form; binary broadcast ops stay blocked
// when one operand is blocked with the output's shape and the others are the same shape, a
// per-channel vector ([C, 1, 1], [1, C, 1, 1]: re-laid out to [1, C / b, 1, 1, b]) or a single
// element. Window and global pooling of a blocked value pool the blocked form (the TE pools take
// NCHW{b}c data), so a ResNet stem (conv, relu, max-pool) and its first stage are one blocked
// region, and a network's final global pool converts C values back instead of C x H x W.
// Everything else (adaptive pooling, reshape, ...) reads the original layout.
#include <algorithm>
#include <map>
#include <regex>

#include "tessel/codegen/llvm.h"
#include "tessel/ir/error.h"
#include "tessel/relay_like/transforms.h"

namespace tessel::relay {

namespace {

std::string blocked_layout(int64_t block) { return "NCHW" + std::to_string(block) + "c"; }

// The block of "NCHW{b}c", or 0.
int64_t parse_blocked(const std::string& layout) {
  static const std::regex pattern("NCHW([0-9]+)c");
  std::smatch match;
  if (!std::regex_match(layout, match, pattern)) return 0;
  return std::stoll(match[1].str());
}

Attrs transform_attrs(const std::string& src, const std::string& dst) {
  return Attrs{{"src_layout", src}, {"dst_layout", dst}};
}

// Whether conv2d node `node` can go to NCHW{block}c (apart from its input's current layout).
bool convertible_conv(const Graph& graph, const Node& node, int64_t block) {
  if (node.kind != NodeKind::kCall || node.op != "conv2d" || node.types.size() != 1) return false;
  const TensorType& data = graph.type_of(node.inputs[0]);
  const TensorType& weight = graph.type_of(node.inputs[1]);
  if (node.attrs.get_string("data_layout", "NCHW") != "NCHW" || node.attrs.get_int("groups", 1) != 1) return false;
  if (data.dtype != DataType::Float(32) || data.shape.size() != 4) return false;
  if (graph.node(node.inputs[1].node).kind != NodeKind::kConstant) return false;
  int64_t in_channels = data.shape[1];
  bool input_block = in_channels % block == 0 || in_channels % 8 == 0 || in_channels < block;
  return weight.shape[0] % block == 0 && input_block;
}

// Whether a call is a pooling that may run on NCHW{b}c data (keeping the block).
bool blockable_pool(const Node& node) {
  static const char* const kPools[] = {"max_pool2d", "avg_pool2d", "global_avg_pool2d", "global_max_pool2d"};
  if (node.kind != NodeKind::kCall || node.types.size() != 1 || node.types[0].shape.size() != 4) return false;
  if (node.inputs.size() != 1 || node.types[0].dtype != DataType::Float(32)) return false;
  return std::find(std::begin(kPools), std::end(kPools), node.op) != std::end(kPools);
}

// Whether an elementwise/broadcast call may keep a blocked operand's layout.
bool layout_preserving(const Node& node) {
  if (node.kind != NodeKind::kCall || node.types.size() != 1 || node.types[0].shape.size() != 4) return false;
  if (node.op == "prelu") return false;  // its slope follows an axis attribute
  OpPattern pattern = get_op(node.op).pattern;
  return pattern == OpPattern::kElemWise || pattern == OpPattern::kBroadcast;
}

// Regions: 4-D values joined by convertible convs (data input with output), layout-preserving
// ops (full-shape operands with the result) and blockable pools (input with output). A region goes blocked as a whole, and only when its
// convs' work pays for the layout_transforms at its boundary: multiply-adds of its convs at least
// min_work_ratio times the elements converted on the way in and out. (MobileNet's blocks, cut by
// depthwise convs that stay NCHW, lose to the transforms; ResNet's stages win.)
std::vector<bool> convs_worth_blocking(const Graph& graph, int64_t block, double min_work_ratio) {
  const auto& nodes = graph.nodes();
  size_t n = nodes.size();
  std::vector<int> parent(n);
  for (size_t i = 0; i < n; ++i) parent[i] = static_cast<int>(i);
  auto find = [&](int v) {
    while (parent[static_cast<size_t>(v)] != v) v = parent[static_cast<size_t>(v)];
    return v;
  };
  auto unite = [&](int a, int b) { parent[static_cast<size_t>(find(a))] = find(b); };
  std::vector<bool> conv(n, false), preserving(n, false);
  for (size_t i = 0; i < n; ++i) {
    const Node& node = nodes[i];
    int id = static_cast<int>(i);
    if (convertible_conv(graph, node, block)) {
      conv[i] = true;
      unite(node.inputs[0].node, id);
    } else if (layout_preserving(node)) {
      preserving[i] = true;
      for (const Value& input : node.inputs) {
        if (graph.type_of(input).shape == node.types[0].shape) unite(input.node, id);
      }
    } else if (blockable_pool(node)) {
      preserving[i] = true;  // inside the region: its input is not converted on the way in
      unite(node.inputs[0].node, id);
    }
  }
  // (user, operand index) of every use; -1 for a graph output.
  std::vector<std::vector<std::pair<int, size_t>>> users(n);
  for (size_t i = 0; i < n; ++i) {
    for (size_t k = 0; k < nodes[i].inputs.size(); ++k) {
      users[static_cast<size_t>(nodes[i].inputs[k].node)].push_back({static_cast<int>(i), k});
    }
  }
  for (const Value& output : graph.outputs()) users[static_cast<size_t>(output.node)].push_back({-1, 0});
  std::vector<bool> has_conv(n, false);
  for (size_t i = 0; i < n; ++i) {
    if (conv[i]) has_conv[static_cast<size_t>(find(static_cast<int>(i)))] = true;
  }
  std::vector<double> work(n, 0.0), boundary(n, 0.0);
  for (size_t i = 0; i < n; ++i) {
    const Node& node = nodes[i];
    int root = find(static_cast<int>(i));
    if (!has_conv[static_cast<size_t>(root)] || node.types.size() != 1) continue;
    double elements = static_cast<double>(node.types[0].num_elements());
    if (conv[i]) {
      const TensorType& data = graph.type_of(node.inputs[0]);
      const TensorType& weight = graph.type_of(node.inputs[1]);
      work[static_cast<size_t>(root)] += elements * static_cast<double>(data.shape[1] * weight.shape[2] * weight.shape[3]);
    } else if (!preserving[i] && node.kind != NodeKind::kConstant) {
      // Produced outside the region: converted on the way in (constants are folded instead).
      boundary[static_cast<size_t>(root)] += elements;
    }
    // Read in the original layout by some user (or returned): converted on the way out.
    bool leaves = false;
    for (const auto& [user, k] : users[i]) {
      if (user < 0) {
        leaves = true;
        continue;
      }
      const Node& u = nodes[static_cast<size_t>(user)];
      bool conv_data = conv[static_cast<size_t>(user)] && k == 0;
      bool same_region = preserving[static_cast<size_t>(user)] && find(user) == root;
      bool operand_of_blocked = preserving[static_cast<size_t>(user)] && u.types[0].shape != node.types[0].shape;
      leaves |= !conv_data && !same_region && !operand_of_blocked && !conv[static_cast<size_t>(user)];
    }
    if (leaves) boundary[static_cast<size_t>(root)] += elements;
  }
  std::vector<bool> worth(n, false);
  for (size_t i = 0; i < n; ++i) {
    if (!conv[i]) continue;
    int root = find(static_cast<int>(i));
    worth[i] = work[static_cast<size_t>(root)] >= min_work_ratio * boundary[static_cast<size_t>(root)];
  }
  return worth;
}

class LayoutRewriter {
 public:
  LayoutRewriter(const Graph& old, int64_t block, double min_work_ratio)
      : old_(old), block_(block), worth_(convs_worth_blocking(old, block, min_work_ratio)) {}

  Graph run() {
    for (size_t i = 0; i < old_.nodes().size(); ++i) rewrite(static_cast<int>(i));
    for (const Value& output : old_.outputs()) graph_.add_output(original(output));
    return std::move(graph_);
  }

 private:
  // The forms one old value has in the new graph: block 0 is its original layout.
  struct Forms {
    int64_t primary = 0;
    std::map<int64_t, Value> by_block;
  };

  void set_original(Value old_value, Value value) { forms_[old_value] = Forms{0, {{0, value}}}; }
  void set_blocked(Value old_value, int64_t block, Value value) { forms_[old_value] = Forms{block, {{block, value}}}; }
  int64_t block_of(Value old_value) const { return forms_.at(old_value).primary; }
  const TensorType& old_type(Value old_value) const { return old_.type_of(old_value); }

  // The value in its original layout (converting a blocked form back once).
  Value original(Value old_value) {
    Forms& forms = forms_.at(old_value);
    auto it = forms.by_block.find(0);
    if (it != forms.by_block.end()) return it->second;
    Value blocked = forms.by_block.at(forms.primary);
    Value plain = add(
        "layout_transform", {blocked}, transform_attrs(blocked_layout(forms.primary), "NCHW"));
    forms.by_block[0] = plain;
    plain_of_blocked_[blocked] = plain;
    return plain;
  }

  // The value (4-D NCHW in the old graph) in NCHW{block}c, converting once.
  Value blocked(Value old_value, int64_t block) {
    Forms& forms = forms_.at(old_value);
    auto it = forms.by_block.find(block);
    if (it != forms.by_block.end()) return it->second;
    Value value;
    if (forms.primary != 0) {
      // Straight from the other blocked form (NCHW8c -> NCHW16c), no detour through NCHW.
      value = add("layout_transform", {forms.by_block.at(forms.primary)},
                  transform_attrs(blocked_layout(forms.primary), blocked_layout(block)));
    } else {
      Value plain = original(old_value);
      value = add("layout_transform", {plain}, transform_attrs("NCHW", blocked_layout(block)));
      plain_of_blocked_[value] = plain;
    }
    forms_.at(old_value).by_block[block] = value;
    return value;
  }

  Value add(const std::string& op, std::vector<Value> inputs, Attrs attrs) {
    return graph_.add_call(op, std::move(inputs), std::move(attrs))[0];
  }

  bool is_constant(Value new_value) const { return graph_.node(new_value.node).kind == NodeKind::kConstant; }

  void rewrite(int id) {
    const Node& node = old_.node(id);
    Value out{id, 0};
    if (node.kind == NodeKind::kInput) return set_original(out, graph_.add_input(node.name, node.types[0]));
    if (node.kind == NodeKind::kConstant) return set_original(out, graph_.add_constant(node.value, node.name));
    if (node.types.size() == 1) {
      if (node.op == "layout_transform" && rewrite_layout_transform(node, out)) return;
      if (node.op == "conv2d" && rewrite_conv2d(node, out)) return;
      if (node.op == "dense" && rewrite_dense(node, out)) return;
      OpPattern pattern = get_op(node.op).pattern;
      if ((pattern == OpPattern::kElemWise || pattern == OpPattern::kBroadcast) && rewrite_elementwise(node, out)) return;
      if (blockable_pool(node) && block_of(node.inputs[0]) != 0) {
        int64_t block = block_of(node.inputs[0]);
        return set_blocked(out, block, add(node.op, {blocked(node.inputs[0], block)}, node.attrs));
      }
    }
    // Generic: every input in its original layout.
    std::vector<Value> inputs;
    for (const Value& input : node.inputs) inputs.push_back(original(input));
    std::vector<Value> values = graph_.add_call(node.op, std::move(inputs), node.attrs);
    for (size_t k = 0; k < values.size(); ++k) set_original(Value{id, static_cast<int>(k)}, values[k]);
  }

  // NCHW <-> NCHW{b}c in the old graph only records forms (no new call when the other form is
  // known): a blocked value is its own original (it is 5-D in the old graph too), and the 4-D
  // value it came from, when known, is the original of its inverse.
  bool rewrite_layout_transform(const Node& node, Value out) {
    std::string src = node.attrs.get_string("src_layout", ""), dst = node.attrs.get_string("dst_layout", "");
    Value in = node.inputs[0];
    int64_t src_block = parse_blocked(src), dst_block = parse_blocked(dst);
    if (src == "NCHW" && dst_block > 0 && old_type(in).shape.size() == 4 && old_type(in).shape[1] % dst_block == 0) {
      set_original(out, blocked(in, dst_block));
      return true;
    }
    if (src_block > 0 && dst == "NCHW" && old_type(in).shape.size() == 5) {
      Value value = original(in);
      Forms forms{src_block, {{src_block, value}}};
      auto known = plain_of_blocked_.find(value);
      if (known != plain_of_blocked_.end()) {
        // Both forms exist already: consumers keep the layout the graph had (no transform at all).
        forms.by_block[0] = known->second;
        forms.primary = 0;
      }
      forms_[out] = forms;
      return true;
    }
    return false;
  }

  bool rewrite_conv2d(const Node& node, Value out) {
    // worth_ implies convertible_conv: NCHW, groups 1, float32, constant weight, blockable channels.
    if (!worth_[static_cast<size_t>(out.node)]) return false;
    const TensorType& data = old_type(node.inputs[0]);
    Value new_weight = original(node.inputs[1]);
    int64_t in_channels = data.shape[1];
    int64_t oc = block_;
    // The input block: the one the data already has, else the vector block, else 8, else (a
    // stem with 3 channels) all channels in one block.
    int64_t ic = block_of(node.inputs[0]);
    if (ic == 0) {
      if (in_channels % block_ == 0) ic = block_;
      else if (in_channels % 8 == 0) ic = 8;
      else if (in_channels < block_) ic = in_channels;
      else return false;
    }
    Value packed = add("layout_transform", {new_weight},
                       transform_attrs("OIHW", "OIHW" + std::to_string(ic) + "i" + std::to_string(oc) + "o"));
    std::vector<Value> inputs{blocked(node.inputs[0], ic), packed};
    if (node.inputs.size() == 3) inputs.push_back(original(node.inputs[2]));
    Attrs attrs = node.attrs;
    attrs.set("data_layout", blocked_layout(ic));
    set_blocked(out, oc, add("conv2d", std::move(inputs), std::move(attrs)));
    return true;
  }

  bool rewrite_dense(const Node& node, Value out) {
    Value weight = original(node.inputs[1]);
    if (!is_constant(weight) || !old_type(node.inputs[1]).dtype.is_float()) return false;
    int64_t out_features = old_type(node.inputs[1]).shape[0];
    Value packed = add("pack_dense_weight", {weight}, {});
    std::vector<Value> inputs{original(node.inputs[0]), packed};
    if (node.inputs.size() == 3) inputs.push_back(original(node.inputs[2]));
    set_original(out, add("dense_packed", std::move(inputs), Attrs{{"out_features", out_features}}));
    return true;
  }

  // Elementwise and broadcast ops keep a blocked operand's layout (see the file comment).
  bool rewrite_elementwise(const Node& node, Value out) {
    const std::vector<int64_t>& shape = node.types[0].shape;
    // prelu's slope follows an axis attribute: it keeps the original layout.
    if (shape.size() != 4 || node.op == "prelu") return false;
    int64_t block = 0;
    for (const Value& input : node.inputs) {
      if (block_of(input) != 0 && old_type(input).shape == shape) block = block_of(input);
    }
    if (block == 0) return false;
    int64_t channels = shape[1];
    std::vector<Value> inputs;
    for (const Value& input : node.inputs) {
      const std::vector<int64_t>& s = old_type(input).shape;
      if (s == shape) {
        inputs.push_back(blocked(input, block));
        continue;
      }
      int64_t elements = old_type(input).num_elements();
      if (elements == 1 && s.size() <= 4) {
        inputs.push_back(original(input));  // broadcasts against any rank
        continue;
      }
      // Per channel: [C, 1, 1] or [1, C, 1, 1] (right-aligned to NCHW, channel axis C, rest 1).
      bool per_channel = elements == channels && s.size() >= 3 && s[s.size() - 3] == channels;
      if (!per_channel) return false;
      Value value = original(input);
      if (s.size() != 4) value = add("reshape", {value}, Attrs{{"shape", std::vector<int64_t>{1, channels, 1, 1}}});
      inputs.push_back(add("layout_transform", {value}, transform_attrs("NCHW", blocked_layout(block))));
    }
    set_blocked(out, block, add(node.op, std::move(inputs), node.attrs));
    return true;
  }

  const Graph& old_;
  int64_t block_;
  std::vector<bool> worth_;  // by node id: convs in regions worth blocking
  Graph graph_;
  std::map<Value, Forms> forms_;
  // New-graph NCHW{b}c values and the new-graph NCHW value they convert (either direction).
  std::map<Value, Value> plain_of_blocked_;
};

}  // namespace

int64_t channel_block(const codegen::Target& target) { return std::max(4, target.vector_bits / 32); }

Graph alter_layout(const Graph& graph, int64_t block, double min_work_ratio) {
  if (block <= 0) block = channel_block(codegen::Target::host());
  return LayoutRewriter(graph, block, min_work_ratio).run();
}

}  // namespace tessel::relay
