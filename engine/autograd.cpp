// The backward pass: iterative topological order, the saved tensors' versions checked, gradient
// summation per node, leaf accumulation, graph freeing. Also grad mode, anomaly detection and node
// destruction without deep recursion.
#include "engine/autograd.h"

#include <cmath>
#include <unordered_map>
#include <unordered_set>

#include "engine/error.h"
#include "engine/ops.h"
#include "engine/optimizer_kernels.h"
#include "engine/cpu/elementwise.h"

namespace tg {

namespace {
thread_local bool g_grad_mode = true;
thread_local bool g_detect_anomaly = false;

// Every element finite: sum(x^2) in double is finite iff every x is (a float's square stays far
// below double's range).
bool all_finite(const Tensor& t) {
  return !t.defined() || t.numel() == 0 || std::isfinite(device_sum_squares(t.device(), t.data(), t.numel()));
}
}  // namespace

bool grad_mode_enabled() { return g_grad_mode; }
NoGradGuard::NoGradGuard() : previous_(g_grad_mode) { g_grad_mode = false; }
NoGradGuard::~NoGradGuard() { g_grad_mode = previous_; }

bool anomaly_detection_enabled() { return g_detect_anomaly; }
DetectAnomalyGuard::DetectAnomalyGuard(bool enabled) : previous_(g_detect_anomaly) { g_detect_anomaly = enabled; }
DetectAnomalyGuard::~DetectAnomalyGuard() { g_detect_anomaly = previous_; }

// Destroying the last handle to a long chain would recurse once per node through the
// shared_ptr edges (and through tensors captured by backward closures). Instead, upstream nodes
// are moved onto an explicit stack; each is released only after its own closure and edges are
// cleared, so no destructor ever runs more than one level deep.
Node::~Node() {
  std::vector<std::shared_ptr<Node>> stack;
  for (Edge& e : edges)
    if (e.fn) stack.push_back(std::move(e.fn));
  backward = nullptr;  // captured tensors die while their producers are still held by `stack`
  while (!stack.empty()) {
    std::shared_ptr<Node> n = std::move(stack.back());
    stack.pop_back();
    if (n.use_count() == 1) {
      for (Edge& e : n->edges)
        if (e.fn) stack.push_back(std::move(e.fn));
      n->backward = nullptr;
      n->edges.clear();
    }
  }
}

bool any_requires_grad(std::initializer_list<const Tensor*> inputs) {
  if (!g_grad_mode) return false;
  for (const Tensor* t : inputs)
    if (t && t->defined() && t->requires_grad()) return true;
  return false;
}

namespace {

// Which of the op's tensors `t` is a detached copy of (same storage, offset and shape): the index of
// the input, or -1 for the output.
int saved_role(const Tensor& t, std::initializer_list<const Tensor*> inputs) {
  int i = 0;
  for (const Tensor* in : inputs) {
    if (in && in->defined() && in->storage() == t.storage() && in->storage_offset() == t.storage_offset() &&
        in->shape() == t.shape())
      return i;
    ++i;
  }
  return -1;
}

}  // namespace

Tensor& record_op(Tensor& out, const char* name, std::initializer_list<const Tensor*> inputs, BackwardFn backward,
                  std::initializer_list<const Tensor*> saved) {
  if (!any_requires_grad(inputs)) return out;
  if (g_detect_anomaly && out.dtype() == DType::Float32 && !all_finite(out)) {
    // A non-finite input that a recorded op produced was reported there. One that no op produced is
    // reported here, at its first use: a leaf that requires grad (a parameter) holding NaN or Inf,
    // or an input that requires none (the data) holding NaN; such an input may hold +-Inf on
    // purpose (a -inf mask) and is let through. Else this op made the NaN or Inf. (PyTorch's
    // detect_anomaly checks only the backward; this forward check is ours.)
    bool inputs_finite = true;
    size_t i = 0;
    for (const Tensor* t : inputs) {
      if (t && t->defined() && t->dtype() == DType::Float32 && t->numel() > 0) {
        const double sq = device_sum_squares(t->device(), t->data(), t->numel());  // NaN iff a NaN, Inf iff an Inf
        if (!std::isfinite(sq)) {
          inputs_finite = false;
          const bool leaf = t->grad_fn() == nullptr;
          TG_CHECK(!leaf || !t->requires_grad(), "forward (anomaly detection): '"
                                                     << name << "' was given NaN or Inf in its input " << i << " "
                                                     << shape_str(t->shape())
                                                     << ", a leaf that requires grad (a parameter) no recorded op produced");
          TG_CHECK(!leaf || !std::isnan(sq), "forward (anomaly detection): '"
                                                 << name << "' was given NaN in its input " << i << " "
                                                 << shape_str(t->shape())
                                                 << ", which requires no grad (the data?) and no recorded op produced");
        }
      }
      ++i;
    }
    TG_CHECK(!inputs_finite, "forward (anomaly detection): '" << name << "' produced NaN or Inf in its output "
                                 << shape_str(out.shape()) << " from finite inputs (a log or division at 0, a sum or exp "
                                    "beyond the float range, ...); the values it was given are the place to look");
  }
  auto node = std::make_shared<Node>();
  node->name = name;
  node->out_shape = out.shape();
  node->edges.reserve(inputs.size());
  for (const Tensor* t : inputs) {
    Edge e;
    if (t && t->defined() && t->requires_grad()) {
      if (t->grad_fn()) {
        e.fn = t->grad_fn();
      } else {
        e.leaf = t->impl();
      }
    }
    node->edges.push_back(std::move(e));
  }
  node->backward = std::move(backward);
  for (const Tensor* t : saved) {
    if (t && t->defined() && t->storage())
      node->saved.push_back(SavedVersion{t->storage(), t->version(), saved_role(*t, inputs), t->shape()});
  }
  out.impl()->grad_fn = std::move(node);
  out.impl()->requires_grad = true;
  return out;
}

void accumulate_grad(TensorImpl& leaf, const Tensor& g) {
  TG_CHECK(g.shape() == leaf.shape, "gradient shape " << shape_str(g.shape()) << " does not match the leaf tensor's shape "
                                                       << shape_str(leaf.shape) << " it accumulates into");
  if (!leaf.grad.defined()) {
    leaf.grad = g.clone();  // own the buffer: later accumulations write into it in place
    return;
  }
  TG_CHECK(leaf.grad.shape() == leaf.shape, "existing .grad has shape " << shape_str(leaf.grad.shape())
                                                                        << " but the tensor has shape " << shape_str(leaf.shape));
  if (leaf.grad.device().is_cpu() && g.device().is_cpu()) {
    cpu::add_inplace(leaf.grad.data(), g.data(), leaf.grad.numel());  // grad += g
  } else {
    NoGradGuard guard;
    leaf.grad = add(leaf.grad, g);
  }
}

namespace {

// acc + g for a node's pending gradient. In place when acc's buffer is held by acc alone (a fresh
// gradient some backward returned and nobody kept: a ResNet block's input gets its shortcut's
// gradient, then conv1's added into it, without a third buffer); out of place otherwise, since
// gradients may alias (add_relu hands both inputs one tensor; x + x reaches one node twice).
Tensor sum_gradients(Tensor acc, const Tensor& g) {
  if (acc.device().is_cpu() && g.device().is_cpu() && acc.shape() == g.shape() && acc.impl().use_count() == 1 &&
      acc.storage().use_count() == 1) {
    cpu::add_inplace(acc.data(), g.data(), acc.numel());
    return acc;
  }
  return add(acc, g);
}

// Throws when a tensor `node`'s backward reads was modified in place after the forward.
void check_saved_versions(const Node& node) {
  if (!node.backward) return;  // already freed: the loop below names that
  for (const SavedVersion& s : node.saved) {
    const std::shared_ptr<Storage> storage = s.storage.lock();
    if (!storage || storage->version() == s.version) continue;
    const std::string what = s.input >= 0 ? "input " + std::to_string(s.input) : std::string("output");
    throw Error("backward: '" + node.name + "' needs its " + what + " " + shape_str(s.shape) +
                " as the forward pass saw it, but that tensor was modified in place since (version " +
                std::to_string(storage->version()) + ", was " + std::to_string(s.version) +
                " at the forward: copy_, fill_ or an optimizer step in between); no gradient was computed. "
                "Call backward() before modifying it, or give the op a clone()");
  }
}

}  // namespace

void run_backward(const Tensor& root, const Tensor& dout_in, bool retain_graph) {
  TG_CHECK(root.defined(), "backward: called on an undefined tensor");
  TG_CHECK(root.requires_grad(), "backward: tensor " << shape_str(root.shape())
                                                     << " does not require grad (no input of its graph has requires_grad)");
  Tensor dout = dout_in;
  if (!dout.defined()) {
    TG_CHECK(root.numel() == 1, "backward: without an explicit gradient the tensor must hold one element, but it has shape "
                                    << shape_str(root.shape()) << "; pass dout of the same shape");
    dout = Tensor::ones(root.shape(), root.device());
  }
  TG_CHECK(dout.shape() == root.shape(), "backward: gradient shape " << shape_str(dout.shape())
                                                                     << " does not match the tensor's shape " << shape_str(root.shape()));
  NoGradGuard no_grad;  // backward computations themselves are never recorded
  TG_CHECK(!g_detect_anomaly || all_finite(dout),
           "backward (anomaly detection): the gradient passed to backward() holds NaN or Inf");

  if (!root.grad_fn()) {  // a leaf: its gradient is dout itself
    accumulate_grad(*root.impl(), dout);
    if (root.impl()->post_accumulate_grad_hook) root.impl()->post_accumulate_grad_hook();
    return;
  }

  // Post-order DFS with an explicit stack gives a topological order (inputs before users).
  std::vector<Node*> order;
  std::unordered_set<Node*> visited;
  std::vector<std::pair<Node*, size_t>> stack;
  stack.emplace_back(root.grad_fn().get(), 0);
  visited.insert(root.grad_fn().get());
  while (!stack.empty()) {
    auto& [node, next_edge] = stack.back();
    if (next_edge < node->edges.size()) {
      Node* child = node->edges[next_edge++].fn.get();
      if (child && visited.insert(child).second) stack.emplace_back(child, 0);
    } else {
      order.push_back(node);
      stack.pop_back();
    }
  }

  // Leaves with a post-accumulate hook: how many edges of this graph still lead to each. The hook
  // fires when the last one has delivered its gradient (a node no gradient reaches never counts
  // down; whoever installed the hook handles gradients that never became ready).
  std::unordered_map<TensorImpl*, int> leaf_edges_left;
  for (Node* node : order) {
    for (const Edge& e : node->edges) {
      if (e.leaf && e.leaf->post_accumulate_grad_hook) ++leaf_edges_left[e.leaf.get()];
    }
  }
  auto leaf_edge_done = [&](TensorImpl& leaf) {
    if (!leaf.post_accumulate_grad_hook) return;
    if (--leaf_edges_left[&leaf] == 0) leaf.post_accumulate_grad_hook();
  };

  // Every tensor a closure will read must be as the forward left it. Checked for the whole graph
  // before any gradient is computed, so a refusal leaves every .grad (and every hook) untouched.
  for (Node* node : order) check_saved_versions(*node);

  std::unordered_map<Node*, Tensor> pending;  // summed gradient w.r.t. each node's output
  pending[root.grad_fn().get()] = dout;
  for (auto it = order.rbegin(); it != order.rend(); ++it) {
    Node* node = *it;
    auto found = pending.find(node);
    if (found == pending.end()) continue;  // no gradient flowed here (e.g. a discarded branch)
    Tensor g = std::move(found->second);
    pending.erase(found);
    TG_CHECK(node->backward, "backward: the graph through '" << node->name
                                                             << "' was already freed by an earlier backward(); pass "
                                                                "retain_graph=true to the first call to backward twice");
    TG_CHECK(g.shape() == node->out_shape, "backward: gradient for the output of '"
                                               << node->name << "' has shape " << shape_str(g.shape()) << ", expected "
                                               << shape_str(node->out_shape));
    const bool check = g_detect_anomaly && all_finite(g);  // a non-finite g was reported where it arose
    std::vector<Tensor> grads = node->backward(g);
    TG_CHECK(grads.size() == node->edges.size(), "backward of '" << node->name << "' returned " << grads.size()
                                                                 << " gradients for " << node->edges.size() << " inputs");
    for (size_t i = 0; check && i < grads.size(); ++i) {
      TG_CHECK(!node->edges[i].needs_grad() || all_finite(grads[i]),
               "backward (anomaly detection): '" << node->name << "' returned NaN or Inf in the gradient of its input " << i
                   << " " << shape_str(grads[i].shape()) << " from a finite gradient of its output "
                   << shape_str(node->out_shape) << "; the values its forward saved are the place to look (a log, "
                   "sqrt or division at 0)");
    }
    for (size_t i = 0; i < grads.size(); ++i) {
      const Edge& e = node->edges[i];
      if (!e.needs_grad()) continue;
      if (!grads[i].defined()) {
        if (e.leaf) leaf_edge_done(*e.leaf);
        continue;
      }
      if (e.fn) {
        auto [slot, inserted] = pending.try_emplace(e.fn.get(), grads[i]);
        if (!inserted) slot->second = sum_gradients(std::move(slot->second), grads[i]);
      } else {
        accumulate_grad(*e.leaf, grads[i]);
        leaf_edge_done(*e.leaf);
      }
    }
    if (!retain_graph) {
      node->backward = nullptr;  // frees the tensors the closure saved
      node->saved.clear();
    }
  }
}

}  // namespace tg
