// nn::Module: registration, recursive traversal with PyTorch-style dotted names, train/eval,
// in-place device moves, strict safetensors save/load, and the summary table.
#include "nn/module.h"

#include <algorithm>
#include <iomanip>
#include <map>
#include <set>
#include <sstream>

#include "engine/autograd.h"
#include "engine/error.h"

namespace tg::nn {

namespace {

// While summary() runs, operator() appends (module, output shape) here (this thread only).
thread_local std::vector<std::pair<const Module*, Shape>>* g_summary_record = nullptr;

std::string join_name(const std::string& prefix, const std::string& name) {
  return prefix.empty() ? name : prefix + "." + name;
}

// True when `target` is `root` or one of its descendants. An explicit stack (no recursion); a
// module shared by several parents is walked once.
bool in_subtree(const Module* root, const Module* target) {
  std::vector<const Module*> stack{root};
  std::set<const Module*> seen;
  while (!stack.empty()) {
    const Module* m = stack.back();
    stack.pop_back();
    if (m == target) return true;
    if (!seen.insert(m).second) continue;
    for (const auto& [name, child] : m->named_children()) stack.push_back(child.get());
  }
  return false;
}

}  // namespace

// ---------------------------------------------------------------- forward
Tensor Module::forward(const Tensor&) {
  throw Error(type_name_ + " has no single-input forward(); call its own methods or override forward()");
}

bool Module::recording_summary() { return g_summary_record != nullptr; }

Tensor Module::operator()(const Tensor& x) {
  Tensor y = forward(x);
  if (g_summary_record) g_summary_record->emplace_back(this, y.defined() ? y.shape() : Shape{});
  return y;
}

// ---------------------------------------------------------------- registration
void Module::check_new_name(const std::string& name, const char* what) const {
  TG_CHECK(!name.empty() && name.find('.') == std::string::npos,
           type_name_ << ": " << what << " name '" << name << "' must be non-empty and contain no '.'");
  auto taken = [&](const auto& list) {
    return std::any_of(list.begin(), list.end(), [&](const auto& p) { return p.first == name; });
  };
  TG_CHECK(!taken(params_) && !taken(buffers_) && !taken(children_),
           type_name_ << ": cannot register " << what << " '" << name << "': the name is already taken");
}

Tensor Module::register_parameter(const std::string& name, Tensor t, bool requires_grad) {
  check_new_name(name, "parameter");
  TG_CHECK(t.defined(), type_name_ << ": parameter '" << name << "' is undefined");
  TG_CHECK(t.is_leaf(), type_name_ << ": parameter '" << name << "' must be a leaf tensor (detach() it first)");
  t.set_requires_grad(requires_grad);
  params_.emplace_back(name, t);
  return t;
}

Tensor Module::register_buffer(const std::string& name, Tensor t) {
  check_new_name(name, "buffer");
  TG_CHECK(t.defined(), type_name_ << ": buffer '" << name << "' is undefined");
  buffers_.emplace_back(name, t);
  return t;
}

void Module::add_child(const std::string& name, std::shared_ptr<Module> module) {
  check_new_name(name, "module");
  TG_CHECK(module != nullptr, type_name_ << ": child module '" << name << "' is null");
  TG_CHECK(module.get() != this, type_name_ << ": a module cannot be its own child");
  TG_CHECK(!in_subtree(module.get(), this),
           type_name_ << ": cannot add child module '" << name << "' (" << module->type_name() << "): this "
                      << type_name_ << " is already inside it, so the module tree would become a cycle");
  children_.emplace_back(name, std::move(module));
}

// ---------------------------------------------------------------- traversal
void Module::collect(const std::string& prefix, bool params, bool buffers, NamedTensors& out) const {
  if (params)
    for (const auto& [n, t] : params_) out.emplace_back(join_name(prefix, n), t);
  if (buffers)
    for (const auto& [n, t] : buffers_) out.emplace_back(join_name(prefix, n), t);
  for (const auto& [n, child] : children_) child->collect(join_name(prefix, n), params, buffers, out);
}

namespace {

// Keeps the first name of each tensor: a shared module's (or a tied) tensor is one parameter, which
// an optimizer takes once (it refuses one tensor under two names); PyTorch's remove_duplicate=True.
NamedTensors first_name_of_each(const NamedTensors& all) {
  NamedTensors out;
  std::set<const TensorImpl*> seen;
  for (const auto& [name, t] : all)
    if (seen.insert(t.impl().get()).second) out.emplace_back(name, t);
  return out;
}

}  // namespace

NamedTensors Module::named_parameters() const {
  NamedTensors out;
  collect("", true, false, out);
  return first_name_of_each(out);
}

NamedTensors Module::named_buffers() const {
  NamedTensors out;
  collect("", false, true, out);
  return first_name_of_each(out);
}

NamedTensors Module::state_dict() const {
  NamedTensors out;
  collect("", true, true, out);
  return out;
}

std::vector<Tensor> Module::parameters() const {
  std::vector<Tensor> out;
  for (auto& [n, t] : named_parameters()) out.push_back(t);
  return out;
}

std::vector<std::pair<std::string, Module*>> Module::named_modules() {
  std::vector<std::pair<std::string, Module*>> out;
  // Explicit stack, pre-order, children in registration order.
  std::vector<std::pair<std::string, Module*>> stack{{"", this}};
  std::set<const Module*> seen;  // a module under two parents is listed once, by its first path
  while (!stack.empty()) {
    auto [name, m] = stack.back();
    stack.pop_back();
    if (!seen.insert(m).second) continue;
    out.emplace_back(name, m);
    for (auto it = m->children_.rbegin(); it != m->children_.rend(); ++it)
      stack.emplace_back(join_name(name, it->first), it->second.get());
  }
  return out;
}

int64_t Module::num_parameters() const {
  int64_t n = 0;
  for (const auto& [name, t] : named_parameters()) n += t.numel();
  return n;
}

// ---------------------------------------------------------------- modes and devices
void Module::train(bool on) {
  training_ = on;
  for (auto& [n, child] : children_) child->train(on);
}

void move_tensor_in_place(const Tensor& t, Device device) {
  if (!t.defined() || t.device() == device) return;
  Tensor moved = t.to(device);
  t.impl()->storage = moved.impl()->storage;
  t.impl()->offset = moved.impl()->offset;
  Tensor g = t.grad();
  if (g.defined()) move_tensor_in_place(g, device);
}

void Module::to(Device device) {
  for (auto& [n, t] : state_dict()) move_tensor_in_place(t, device);
}

void Module::zero_grad() {
  for (auto& [n, t] : named_parameters()) t.set_grad(Tensor());
}

// ---------------------------------------------------------------- checkpoints
void Module::save(const std::string& path, const io::Metadata& metadata) const {
  io::Metadata meta = metadata;
  meta.emplace("format", "pt");  // the convention of HF-written PyTorch checkpoints
  meta.emplace("producer", "trustgrad");
  io::save_safetensors(path, state_dict(), meta);
}

void Module::load(const std::string& path, bool strict) {
  io::SafetensorsFile file = io::load_safetensors(path);
  load_state_dict(file.tensors, strict, "checkpoint '" + path + "'");
}

void Module::load_state_dict(const NamedTensors& tensors, bool strict, const std::string& source) {
  NamedTensors mine = state_dict();
  std::map<std::string, const Tensor*> given;
  for (const auto& [n, t] : tensors) given[n] = &t;
  std::set<std::string> known;
  std::vector<std::string> missing, unexpected, misshaped;
  for (const auto& [n, t] : mine) {
    known.insert(n);
    auto it = given.find(n);
    if (it == given.end()) {
      missing.push_back(n);
    } else if (it->second->shape() != t.shape()) {
      misshaped.push_back(n + " (module " + shape_str(t.shape()) + ", " + source + " " +
                          shape_str(it->second->shape()) + ")");
    }
  }
  for (const auto& [n, t] : tensors)
    if (!known.count(n)) unexpected.push_back(n);

  if (!misshaped.empty() || (strict && (!missing.empty() || !unexpected.empty()))) {
    std::ostringstream os;
    os << "cannot load " << source << " into " << type_name_ << ":";
    auto list = [&](const char* what, const std::vector<std::string>& names) {
      if (names.empty()) return;
      os << "\n  " << what << " (" << names.size() << "):";
      for (const auto& n : names) os << " " << n << ";";
    };
    if (strict) list("missing", missing);
    if (strict) list("unexpected", unexpected);
    list("mis-shaped", misshaped);
    throw Error(os.str());
  }

  NoGradGuard no_grad;
  for (auto& [n, t] : mine) {
    auto it = given.find(n);
    if (it != given.end()) t.copy_(*it->second);
  }
}

// ---------------------------------------------------------------- summary
std::string Module::summary(const Shape& input_shape) {
  auto modules = named_modules();
  std::map<const Module*, Shape> out_shape;
  std::vector<std::pair<const Module*, Shape>> record;
  const bool was_training = training_;
  // Remember each module's own mode, so a mixed train/eval state comes back exactly.
  std::vector<bool> modes;
  for (auto& [n, m] : modules) modes.push_back(m->training_);
  Device device = Device::cpu();
  for (auto& [n, t] : state_dict()) {
    device = t.device();
    break;
  }
  eval();
  g_summary_record = &record;
  try {
    NoGradGuard no_grad;
    (*this)(Tensor::zeros(input_shape, device));
  } catch (...) {
    g_summary_record = nullptr;
    for (size_t i = 0; i < modules.size(); ++i) modules[i].second->training_ = modes[i];
    throw;
  }
  g_summary_record = nullptr;
  for (size_t i = 0; i < modules.size(); ++i) modules[i].second->training_ = modes[i];
  training_ = was_training;
  for (auto& [m, s] : record) out_shape[m] = s;

  std::ostringstream os;
  os << std::left << std::setw(28) << "name" << std::setw(62) << "module" << std::setw(20) << "output shape"
     << std::right << std::setw(12) << "params" << "\n";
  os << std::string(122, '-') << "\n";
  for (auto& [name, m] : modules) {
    auto it = out_shape.find(m);
    std::string shape = it == out_shape.end() ? "-" : shape_str(it->second);
    std::string desc = m->describe();
    if (desc.size() > 60) desc = desc.substr(0, 57) + "...";
    os << std::left << std::setw(28) << (name.empty() ? "(model)" : name) << std::setw(62) << desc << std::setw(20)
       << shape << std::right << std::setw(12) << m->num_parameters() << "\n";
  }
  os << std::string(122, '-') << "\n";
  os << "input " << shape_str(input_shape) << ", total parameters " << num_parameters() << " ("
     << std::fixed << std::setprecision(2) << static_cast<double>(num_parameters()) * 4 / (1024.0 * 1024.0)
     << " MiB as float32)\n";
  return os.str();
}

}  // namespace tg::nn
