// Optimizer::state_dict / load_state_dict: state tensors as "<param>/<slot>" safetensors entries,
// counters, groups and hyper-parameters as JSON strings in the metadata. Loading validates
// everything before touching the optimizer.
#include <cmath>
#include <map>

#include <nlohmann/json.hpp>

#include "engine/error.h"
#include "optim/optimizer.h"

namespace tg::optim {

namespace {

using json = nlohmann::json;
constexpr const char* kFormat = "trustgrad.optimizer.v1";

class WriteOptions : public OptionVisitor {
 public:
  json out = json::object();
  // JSON has no Inf/NaN: those travel as the strings "inf", "-inf", "nan".
  void field(const char* key, double& v) override {
    if (std::isfinite(v)) {
      out[key] = v;
    } else {
      out[key] = std::isnan(v) ? "nan" : (v > 0 ? "inf" : "-inf");
    }
  }
  void field(const char* key, bool& v) override { out[key] = v; }
  void field(const char* key, int& v, int, int) override { out[key] = v; }
};

// assign = false: only checks that every key is present with the right type.
class ReadOptions : public OptionVisitor {
 public:
  ReadOptions(const json& in, bool assign) : in_(in), assign_(assign) {}
  void field(const char* key, double& v) override {
    const json& j = at(key);
    double x = 0.0;
    if (j.is_number()) {
      x = j.get<double>();
    } else if (j == "inf" || j == "-inf" || j == "nan") {
      x = j == "nan" ? std::nan("") : (j == "inf" ? HUGE_VAL : -HUGE_VAL);
    } else {
      throw Error("load_state_dict: option '" + std::string(key) + "' is not a number: " + j.dump());
    }
    if (assign_) v = x;
  }
  void field(const char* key, bool& v) override {
    const json& j = at(key);
    TG_CHECK(j.is_boolean(), "load_state_dict: option '" << key << "' is not a boolean: " << j.dump());
    if (assign_) v = j.get<bool>();
  }
  void field(const char* key, int& v, int min_value, int max_value) override {
    const json& j = at(key);
    TG_CHECK(j.is_number_integer() && j.get<int64_t>() >= min_value && j.get<int64_t>() <= max_value,
             "load_state_dict: option '" << key << "' must be an integer in [" << min_value << ", " << max_value
                                         << "], got " << j.dump());
    if (assign_) v = j.get<int>();
  }

 private:
  const json& at(const char* key) const {
    auto it = in_.find(key);
    TG_CHECK(it != in_.end(), "load_state_dict: option '" << key << "' is missing from the saved options "
                                                           << in_.dump());
    return *it;
  }
  const json& in_;
  bool assign_;
};

const std::string& meta(const io::Metadata& m, const std::string& key) {
  auto it = m.find(key);
  TG_CHECK(it != m.end(), "load_state_dict: metadata entry '" << key << "' is missing (not a trustgrad optimizer state?)");
  return it->second;
}

json parse(const std::string& text, const std::string& key) {
  try {
    return json::parse(text);
  } catch (const std::exception& e) {
    throw Error("load_state_dict: metadata entry '" + key + "' is not valid JSON: " + e.what());
  }
}

int64_t to_int(const std::string& text, const std::string& key) {
  try {
    size_t used = 0;
    const long long v = std::stoll(text, &used);
    if (used == text.size()) return v;
  } catch (const std::exception&) {
  }
  throw Error("load_state_dict: metadata entry '" + key + "' = '" + text + "' is not an integer");
}

}  // namespace

StateDict Optimizer::state_dict() const {
  StateDict sd;
  const std::vector<std::string> slots = state_names();
  json param_steps = json::object();
  for (const auto& e : params_) {
    if (e.step > 0) param_steps[e.name] = e.step;
    for (size_t s = 0; s < e.state.size(); ++s) sd.tensors.emplace_back(e.name + "/" + slots[s], e.state[s].clone());
  }
  json groups = json::array();
  for (const auto& g : groups_) {
    json names = json::array();
    for (size_t idx : g.params) names.push_back(params_[idx].name);
    groups.push_back({{"name", g.name}, {"lr", g.lr}, {"weight_decay", g.weight_decay}, {"adapt", g.adapt},
                      {"params", names}});
  }
  WriteOptions options;
  const_cast<Optimizer*>(this)->visit_options(options);  // the write visitor only reads the fields
  sd.metadata["format"] = kFormat;
  sd.metadata["optimizer"] = name();
  sd.metadata["step"] = std::to_string(step_);
  sd.metadata["skipped"] = std::to_string(skipped_);
  sd.metadata["groups"] = groups.dump();
  sd.metadata["param_steps"] = param_steps.dump();
  sd.metadata["options"] = options.out.dump();
  return sd;
}

void Optimizer::load_state_dict(const StateDict& sd) {
  const io::Metadata& m = sd.metadata;
  TG_CHECK(meta(m, "format") == kFormat, "load_state_dict: format '" << meta(m, "format") << "', expected " << kFormat);
  TG_CHECK(meta(m, "optimizer") == name(), "load_state_dict: the state was saved by optimizer '"
                                                 << meta(m, "optimizer") << "', this optimizer is '" << name() << "'");
  const int64_t step = to_int(meta(m, "step"), "step");
  const int64_t skipped = to_int(meta(m, "skipped"), "skipped");
  TG_CHECK(step >= 0, "load_state_dict: metadata entry 'step' = " << step << " is negative");
  TG_CHECK(skipped >= 0, "load_state_dict: metadata entry 'skipped' = " << skipped << " is negative");

  // Groups: same structure and parameter names, in order.
  const json groups = parse(meta(m, "groups"), "groups");
  TG_CHECK(groups.is_array() && groups.size() == groups_.size(),
           "load_state_dict: saved state has " << (groups.is_array() ? groups.size() : 0) << " parameter groups, this optimizer has "
                                               << groups_.size());
  for (size_t gi = 0; gi < groups_.size(); ++gi) {
    const json& g = groups[gi];
    TG_CHECK(g.is_object() && g.contains("params") && g["params"].is_array() && g.contains("lr") &&
                 g["lr"].is_number() && g.contains("weight_decay") && g["weight_decay"].is_number() &&
                 g.contains("adapt") && g["adapt"].is_boolean(),
             "load_state_dict: group " << gi << " is malformed: " << g.dump());
    check_group_options("load_state_dict: metadata entry 'groups'", groups_[gi].name, g["lr"].get<double>(),
                        g["weight_decay"].get<double>());
    const json& names = g["params"];
    TG_CHECK(names.size() == groups_[gi].params.size(),
             "load_state_dict: group " << gi << " ('" << groups_[gi].name << "') has " << groups_[gi].params.size()
                                       << " parameters here, " << names.size() << " in the saved state");
    for (size_t k = 0; k < names.size(); ++k) {
      const std::string& here = params_[groups_[gi].params[k]].name;
      TG_CHECK(names[k].is_string() && names[k].get<std::string>() == here,
               "load_state_dict: group " << gi << " position " << k << " is '" << here << "' here but "
                                         << names[k].dump() << " in the saved state");
    }
  }

  std::map<std::string, size_t> index;
  for (size_t i = 0; i < params_.size(); ++i) index[params_[i].name] = i;

  // Per-parameter steps.
  const json param_steps = parse(meta(m, "param_steps"), "param_steps");
  TG_CHECK(param_steps.is_object(), "load_state_dict: param_steps is not a JSON object");
  std::vector<int64_t> steps(params_.size(), 0);
  for (auto it = param_steps.begin(); it != param_steps.end(); ++it) {
    TG_CHECK(index.count(it.key()), "load_state_dict: saved state has a step for unknown parameter '" << it.key() << "'");
    TG_CHECK(it.value().is_number_integer() && it.value().get<int64_t>() > 0,
             "load_state_dict: step of '" << it.key() << "' is not a positive integer: " << it.value().dump());
    steps[index[it.key()]] = it.value().get<int64_t>();
  }

  // State tensors: "<param>/<slot>", right shape, complete for every parameter with a step.
  const std::vector<std::string> slots = state_names();
  std::vector<std::vector<Tensor>> state(params_.size());
  for (const auto& [key, tensor] : sd.tensors) {
    const size_t slash = key.rfind('/');
    TG_CHECK(slash != std::string::npos, "load_state_dict: tensor '" << key << "' is not named '<param>/<slot>'");
    const std::string pname = key.substr(0, slash), slot = key.substr(slash + 1);
    TG_CHECK(index.count(pname), "load_state_dict: saved state tensor '" << key << "' names unknown parameter '" << pname << "'");
    size_t s = 0;
    while (s < slots.size() && slots[s] != slot) ++s;
    TG_CHECK(s < slots.size(), "load_state_dict: '" << key << "': optimizer " << name() << " has no state slot '" << slot << "'");
    const size_t i = index[pname];
    const Shape want = state_shape(s, params_[i].tensor.shape());
    TG_CHECK(tensor.defined() && tensor.shape() == want, "load_state_dict: '" << key << "' has shape "
                                                             << (tensor.defined() ? shape_str(tensor.shape()) : "undefined")
                                                             << ", expected " << shape_str(want));
    if (state[i].empty()) state[i].resize(slots.size());
    TG_CHECK(!state[i][s].defined(), "load_state_dict: tensor '" << key << "' appears twice");
    const Device dev = params_[i].tensor.device();  // state lives where its parameter lives
    state[i][s] = tensor.device() == dev ? tensor.clone() : tensor.to(dev);
  }
  for (size_t i = 0; i < params_.size(); ++i) {
    const bool has_state = !state[i].empty();
    if (slots.empty()) continue;
    TG_CHECK(has_state == (steps[i] > 0), "load_state_dict: parameter '" << params_[i].name << "' has "
                                              << (has_state ? "state tensors but no step" : "a step but no state tensors"));
    for (size_t s = 0; s < state[i].size(); ++s) {
      TG_CHECK(state[i][s].defined(), "load_state_dict: state '" << params_[i].name << "/" << slots[s] << "' is missing");
    }
  }

  // Options: check every key, then assign and run the constructor's range checks on them, putting
  // the previous values back if those fail (so a refused state leaves the optimizer untouched).
  const json options = parse(meta(m, "options"), "options");
  ReadOptions check(options, false);
  visit_options(check);
  WriteOptions previous;
  visit_options(previous);
  ReadOptions assign(options, true);
  visit_options(assign);
  try {
    validate_options();
  } catch (const Error& e) {
    ReadOptions restore(previous.out, true);
    visit_options(restore);
    throw Error(std::string("load_state_dict: metadata entry 'options': ") + e.what());
  }

  // Commit.
  for (size_t gi = 0; gi < groups_.size(); ++gi) {
    groups_[gi].lr = groups[gi]["lr"].get<double>();
    groups_[gi].weight_decay = groups[gi]["weight_decay"].get<double>();
    groups_[gi].adapt = groups[gi]["adapt"].get<bool>();
  }
  for (size_t i = 0; i < params_.size(); ++i) {
    params_[i].state = std::move(state[i]);
    params_[i].step = steps[i];
  }
  step_ = step;
  skipped_ = skipped;
  last_skipped_ = false;
  trust_ratios_.clear();
}

void Optimizer::save(const std::string& path) const {
  const StateDict sd = state_dict();
  io::save_safetensors(path, sd.tensors, sd.metadata);
}

void Optimizer::load(const std::string& path) {
  io::SafetensorsFile f = io::load_safetensors(path);
  try {
    load_state_dict(StateDict{std::move(f.tensors), std::move(f.metadata)});
  } catch (const IOError&) {
    throw;
  } catch (const Error& e) {
    throw Error(std::string(e.what()) + " (file '" + path + "')");
  }
}

}  // namespace tg::optim
