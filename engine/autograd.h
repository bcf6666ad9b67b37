// Reverse-mode autograd: graph nodes, the backward pass, and grad mode (NoGradGuard).
//
// Every differentiable op that runs with grad mode on and at least one input requiring grad
// records a Node on its output. A Node keeps one Edge per input (either the producing Node of
// that input, or the leaf tensor itself, or nothing when that input needs no grad), the tensors
// its backward needs, and a backward function  dout -> (dinput_0, dinput_1, ...).
// backward() orders nodes with an explicit stack (no recursion, so 10^5-op chains are fine),
// sums gradients arriving at each node, accumulates (+=) into leaf .grad, and frees the graph.
// A node remembers the versions of the tensors its backward reads; backward() refuses a graph in
// which one was modified in place since (Tensor::version). DetectAnomalyGuard names the first op
// whose output or gradient turns NaN/Inf.
#pragma once
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "engine/tensor.h"

namespace tg {

struct Edge {
  std::shared_ptr<Node> fn;          // producer of the input (non-leaf), or null
  std::shared_ptr<TensorImpl> leaf;  // the input itself when it is a leaf requiring grad, or null
  bool needs_grad() const { return fn != nullptr || leaf != nullptr; }
};

// A tensor the backward reads (an input or the output, as the op saw it), with its storage's
// version at the forward. backward() refuses to run when the version moved: the tensor was
// modified in place in between (copy_, fill_, an optimizer step) and the gradient would be wrong.
struct SavedVersion {
  std::weak_ptr<Storage> storage;  // the closure holds the tensor itself; this only observes it
  uint64_t version = 0;
  int input = -1;                  // which input of the op it is; -1: the op's output
  Shape shape;
};

// dout -> one gradient per input (an undefined Tensor where that input needs no gradient).
using BackwardFn = std::function<std::vector<Tensor>(const Tensor& dout)>;

struct Node {
  std::string name;          // op name, used in error messages ("conv2d", "add", ...)
  std::vector<Edge> edges;   // one per op input, in the op's argument order
  Shape out_shape;           // shape of the output this node produced (checked against dout)
  BackwardFn backward;       // empty once the graph is freed
  std::vector<SavedVersion> saved;  // the user-visible tensors `backward` reads (cleared with it)
  bool needs_input_grad(size_t i) const { return i < edges.size() && edges[i].needs_grad(); }
  Node() = default;
  ~Node();  // iterative: releasing a 10^5-node chain never recurses deeply
  Node(const Node&) = delete;
  Node& operator=(const Node&) = delete;
};

// ---- grad mode ----
bool grad_mode_enabled();  // thread-local, true by default

// RAII: disables graph recording in this thread for its lifetime (nests correctly).
class NoGradGuard {
 public:
  NoGradGuard();
  ~NoGradGuard();
  NoGradGuard(const NoGradGuard&) = delete;
  NoGradGuard& operator=(const NoGradGuard&) = delete;

 private:
  bool previous_;
};

// ---- anomaly detection (PyTorch's torch.autograd.detect_anomaly) ----
bool anomaly_detection_enabled();  // thread-local, false by default

// RAII: while alive, in this thread, every op that records a node checks that its output is finite
// when its inputs are, and backward() checks every gradient a node returns against the gradient it
// received; the first op that turns finite values into NaN or Inf throws a tg::Error naming it
// (forward: the op and its output; backward: the op, which input, and the shapes). Costs one pass
// over each output and gradient; for finding where a NaN comes from, not for every run.
class DetectAnomalyGuard {
 public:
  explicit DetectAnomalyGuard(bool enabled = true);
  ~DetectAnomalyGuard();
  DetectAnomalyGuard(const DetectAnomalyGuard&) = delete;
  DetectAnomalyGuard& operator=(const DetectAnomalyGuard&) = delete;

 private:
  bool previous_;
};

// True when grad mode is on and any of the inputs requires grad: then an op must record a node.
bool any_requires_grad(std::initializer_list<const Tensor*> inputs);

// Rule for backward closures: capture tensors with .detach() (data only, no grad history). A
// closure that captured its own output with grad_fn would form a reference cycle and leak.
//
// Attaches a node for `out`, produced by `name` from `inputs`, with the given backward.
// `saved` lists the detached inputs or output the closure captured and reads (undefined entries
// are skipped); their versions are checked before backward runs. Tensors the op made itself
// (masks, statistics, indices) need no entry: nobody else can write to them.
// Does nothing when no input requires grad or grad mode is off. Returns `out` for chaining.
Tensor& record_op(Tensor& out, const char* name, std::initializer_list<const Tensor*> inputs, BackwardFn backward,
                  std::initializer_list<const Tensor*> saved = {});

// Runs backward from `root` with upstream gradient `dout` (see Tensor::backward).
void run_backward(const Tensor& root, const Tensor& dout, bool retain_graph);

// Adds `g` into leaf's .grad (allocating it on first use); throws naming both shapes on mismatch.
void accumulate_grad(TensorImpl& leaf, const Tensor& g);

}  // namespace tg
