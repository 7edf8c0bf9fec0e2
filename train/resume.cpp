#include "train/resume.h"

#include <yaml-cpp/yaml.h>

#include <charconv>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <sstream>

#include "core/error.h"
#include "core/io.h"
#include "core/json.h"

namespace sf {
namespace {

constexpr const char* kSlotPrefix = "optimizer/";
constexpr int kResumeFormat = 1;

// Doubles as C99 hex floats: exact, and NaN / Inf survive.
std::string hex(double v) {
  char b[64];
  std::snprintf(b, sizeof b, "%a", v);
  return b;
}

// Reads the `resume:` section; every error names the file.
class Fields {
 public:
  Fields(const YAML::Node& n, const std::string& path, std::string where)
      : n_(n), path_(path), where_(std::move(where)) {}

  YAML::Node node(const std::string& key) const {
    const YAML::Node v = n_[key];
    if (!v.IsDefined()) bad(key, "missing");
    return v;
  }
  std::string str(const std::string& key) const {
    const YAML::Node v = node(key);
    if (!v.IsScalar()) bad(key, "not a scalar");
    return v.Scalar();
  }
  double real(const std::string& key) const {
    const std::string s = str(key);
    char* end = nullptr;
    const double v = std::strtod(s.c_str(), &end);
    if (s.empty() || *end) bad(key, "'" + s + "' is not a number");
    return v;
  }
  template <class I>
  I integer(const std::string& key) const {
    const std::string s = str(key);
    I v{};
    const auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
    if (ec != std::errc() || p != s.data() + s.size()) bad(key, "'" + s + "' is not an integer");
    return v;
  }
  bool flag(const std::string& key) const {
    const std::string s = str(key);
    if (s != "true" && s != "false") bad(key, "'" + s + "' is not true or false");
    return s == "true";
  }
  std::vector<Fields> list(const std::string& key) const {
    const YAML::Node v = node(key);
    if (!v.IsSequence()) bad(key, "not a list");
    std::vector<Fields> out;
    for (size_t i = 0; i < v.size(); ++i) out.emplace_back(v[i], path_, where_ + key + "." + std::to_string(i) + ".");
    return out;
  }
  Fields child(const std::string& key) const {
    const YAML::Node v = node(key);
    if (!v.IsMap()) bad(key, "not a map");
    return Fields(v, path_, where_ + key + ".");
  }
  [[noreturn]] void bad(const std::string& key, const std::string& what) const {
    fail_input(path_, "resume state '" + where_ + key + "': " + what + " (file is corrupt)");
  }

 private:
  YAML::Node n_;
  const std::string& path_;
  std::string where_;
};

std::vector<std::string> param_names(const Model& model) {
  std::vector<std::string> names;
  for (const auto& l : model.layers())
    for (const auto& p : l.params) names.push_back(l.name + "." + p.name);
  return names;
}

YAML::Node epoch_node(const EpochStats& s) {
  YAML::Node n;
  n["epoch"] = s.epoch;
  n["loss"] = hex(s.loss);
  n["acc"] = hex(s.acc);
  n["val_loss"] = hex(s.val_loss);
  n["val_acc"] = hex(s.val_acc);
  n["seconds"] = hex(s.seconds);
  n["train_seconds"] = hex(s.train_seconds);
  n["images_per_second"] = hex(s.images_per_second);
  return n;
}

EpochStats epoch_of(const Fields& f) {
  EpochStats s;
  s.epoch = f.integer<int>("epoch");
  s.loss = f.real("loss");
  s.acc = f.real("acc");
  s.val_loss = f.real("val_loss");
  s.val_acc = f.real("val_acc");
  s.seconds = f.real("seconds");
  s.train_seconds = f.real("train_seconds");
  s.images_per_second = f.real("images_per_second");
  return s;
}

// The first line where two texts differ, for a message.
std::string first_difference(const std::string& a, const std::string& b) {
  size_t pa = 0, pb = 0;
  for (int line = 1;; ++line) {
    const size_t ea = a.find('\n', pa), eb = b.find('\n', pb);
    const std::string la = pa > a.size() ? "" : a.substr(pa, ea == std::string::npos ? std::string::npos : ea - pa);
    const std::string lb = pb > b.size() ? "" : b.substr(pb, eb == std::string::npos ? std::string::npos : eb - pb);
    if (la != lb)
      return "resolved line " + std::to_string(line) + ": '" + la + "' here, '" + lb + "' in the checkpoint";
    if (ea == std::string::npos || eb == std::string::npos) return "lengths differ";
    pa = ea + 1, pb = eb + 1;
  }
}

bool is_resume(const Checkpoint& ckpt, YAML::Node* arch_out = nullptr) {
  try {
    YAML::Node arch = YAML::Load(ckpt.architecture);
    const bool yes = arch.IsMap() && arch["resume"].IsDefined();
    if (arch_out) *arch_out = arch;
    return yes;
  } catch (const YAML::Exception&) {
    return false;  // load_model reports the malformed text
  }
}

}  // namespace

void save_resume_checkpoint(const std::string& path, const std::string& architecture, const Model& model,
                            const ResumeState& s) {
  YAML::Node r;
  r["format"] = kResumeFormat;
  r["config"] = s.config;
  r["phase"] = s.phase;
  r["epoch"] = s.at.epoch;
  r["batch"] = s.at.batch;
  r["loss_sum"] = hex(s.at.loss_sum);
  r["correct"] = s.at.correct;
  r["seen"] = s.at.seen;
  r["train_seconds"] = hex(s.at.train_seconds);
  r["steps"] = s.steps;
  YAML::Node o;
  o["iterations"] = s.optimizer.iterations;
  o["schedule"] = hex(s.optimizer.schedule);
  o["slots"] = s.optimizer.slots.size();
  o["has_rng"] = s.optimizer.has_rng;
  YAML::Node words(YAML::NodeType::Sequence);
  for (uint64_t w : s.optimizer.rng.words) words.push_back(std::to_string(w));
  o["rng"] = words;
  o["rng_has_spare"] = s.optimizer.rng.has_spare;
  o["rng_spare"] = hex(s.optimizer.rng.spare);
  r["optimizer"] = o;
  YAML::Node history(YAML::NodeType::Sequence);
  for (const auto& e : s.history) history.push_back(epoch_node(e));
  r["history"] = history;
  YAML::Node phases(YAML::NodeType::Sequence);
  for (const auto& p : s.phases) {
    YAML::Node n;
    n["name"] = p.name;
    n["activation"] = p.activation;
    n["test_loss"] = hex(p.test.loss);
    n["test_accuracy"] = hex(p.test.accuracy);
    n["test_count"] = p.test.count;
    phases.push_back(n);
  }
  r["phases"] = phases;

  YAML::Node arch = YAML::Load(architecture);
  arch["resume"] = r;
  YAML::Emitter y;
  y << arch;
  Checkpoint ckpt{std::string(y.c_str()) + "\n", model.state()};
  const std::vector<std::string> names = param_names(model);
  for (size_t w = 0; w < s.optimizer.slots.size(); ++w) {
    if (s.optimizer.slots[w].size() != names.size())
      fail_internal("save_resume_checkpoint: optimizer slot " + std::to_string(w) + " has " +
                    std::to_string(s.optimizer.slots[w].size()) + " tensors for " + std::to_string(names.size()) +
                    " parameters");
    for (size_t k = 0; k < names.size(); ++k)
      ckpt.tensors.push_back({kSlotPrefix + std::to_string(w) + "/" + names[k], s.optimizer.slots[w][k]});
  }
  save_checkpoint(path, ckpt);
}

Checkpoint model_part(Checkpoint ckpt) {
  YAML::Node arch;
  if (!is_resume(ckpt, &arch)) return ckpt;
  arch.remove("resume");
  YAML::Emitter y;
  y << arch;
  ckpt.architecture = std::string(y.c_str()) + "\n";
  std::erase_if(ckpt.tensors, [](const NamedTensor& t) { return t.name.rfind(kSlotPrefix, 0) == 0; });
  return ckpt;
}

LoadedResume load_resume_checkpoint(const std::string& path) {
  std::error_code ec;
  if (!std::filesystem::exists(path, ec))
    fail_input(path, "no resume checkpoint (the run stopped before its first one; start it over with --force)");
  const Checkpoint ckpt = load_checkpoint(path);
  YAML::Node arch;
  if (!is_resume(ckpt, &arch)) fail_input(path, "not a resume checkpoint (no resume state: a model.sfm, or corrupt)");
  LoadedResume out;
  ResumeState& s = out.state;
  try {
    const Fields r(arch["resume"], path, "");
    if (const int f = r.integer<int>("format"); f != kResumeFormat)
      fail_input(path, "resume state format " + std::to_string(f) + " is not the one this build reads (" +
                           std::to_string(kResumeFormat) + ")");
    s.config = r.str("config");
    s.phase = r.integer<int>("phase");
    s.at.epoch = r.integer<int>("epoch");
    s.at.batch = r.integer<int64_t>("batch");
    s.at.loss_sum = r.real("loss_sum");
    s.at.correct = r.integer<int64_t>("correct");
    s.at.seen = r.integer<int64_t>("seen");
    s.at.train_seconds = r.real("train_seconds");
    s.steps = r.integer<int64_t>("steps");
    if (s.phase < 0 || s.at.epoch < 1 || s.at.batch < 0 || s.at.seen < 0 || s.at.correct < 0 || s.steps < 0)
      r.bad("phase", "negative phase, epoch, batch or count");
    const Fields o = r.child("optimizer");
    s.optimizer.iterations = o.integer<int64_t>("iterations");
    s.optimizer.schedule = o.real("schedule");
    const int slots = o.integer<int>("slots");
    if (slots < 0 || slots > 2) o.bad("slots", std::to_string(slots) + " is not 0, 1 or 2");
    s.optimizer.has_rng = o.flag("has_rng");
    const YAML::Node words = o.node("rng");
    if (!words.IsSequence() || words.size() != 4) o.bad("rng", "expected 4 words");
    for (size_t i = 0; i < 4; ++i) {
      const std::string w = words[i].IsScalar() ? words[i].Scalar() : "";
      const auto [p, ec2] = std::from_chars(w.data(), w.data() + w.size(), s.optimizer.rng.words[i]);
      if (w.empty() || ec2 != std::errc() || p != w.data() + w.size()) o.bad("rng", "'" + w + "' is not a word");
    }
    s.optimizer.rng.has_spare = o.flag("rng_has_spare");
    s.optimizer.rng.spare = o.real("rng_spare");
    for (const Fields& e : r.list("history")) s.history.push_back(epoch_of(e));
    for (const Fields& p : r.list("phases"))
      s.phases.push_back({p.str("name"), p.str("activation"),
                          EvalResult{p.real("test_loss"), p.real("test_accuracy"), p.integer<int64_t>("test_count")}});
    if (static_cast<int>(s.history.size()) != s.at.epoch - 1)
      r.bad("history", std::to_string(s.history.size()) + " epochs before epoch " + std::to_string(s.at.epoch));
    if (static_cast<int>(s.phases.size()) != s.phase)
      r.bad("phases", std::to_string(s.phases.size()) + " results before phase " + std::to_string(s.phase));

    // The optimiser's tensors, in the order they were written (the parameters' order).
    s.optimizer.slots.resize(static_cast<size_t>(slots));
    for (const auto& t : ckpt.tensors) {
      if (t.name.rfind(kSlotPrefix, 0) != 0) continue;
      const std::string rest = t.name.substr(std::char_traits<char>::length(kSlotPrefix));
      const size_t slash = rest.find('/');
      int w = -1;
      if (slash != std::string::npos) std::from_chars(rest.data(), rest.data() + slash, w);
      if (w < 0 || w >= slots) fail_input(path, "tensor '" + t.name + "' names no optimizer slot (file is corrupt)");
      if (w == 0) s.slot_names.push_back(rest.substr(slash + 1));
      s.optimizer.slots[static_cast<size_t>(w)].push_back(t.tensor);
    }
    for (const auto& slot : s.optimizer.slots)
      if (slot.size() != s.slot_names.size())
        fail_input(path, "optimizer slots hold different numbers of tensors (file is corrupt)");
  } catch (const YAML::Exception& e) {
    fail_input(path, std::string("resume state: ") + e.what() + " (file is corrupt)");
  }
  out.model = model_part(ckpt);
  return out;
}

void restore_optimizer(Optimizer& opt, const LoadedResume& saved, Model& model, const std::string& path) {
  const std::vector<std::string> names = param_names(model);
  if (!saved.state.optimizer.slots.empty() && saved.state.slot_names != names)
    fail_input(path, "optimizer state is for other parameters than the model's (another architecture)");
  opt.import_state(saved.state.optimizer, model.parameters(), path);
}

std::string run_status(const std::string& dir) {
  const std::string path = dir + "/summary.json";
  if (!file_exists(path)) return "";
  try {
    const Json j = Json::parse(read_file(path));
    if (j.contains("status") && j["status"].is_string()) return j["status"].get<std::string>();
  } catch (const Json::exception&) {
    return "unreadable";
  }
  return "completed";  // summaries written before the status field were of completed runs
}

void remove_stale_temp_files(const std::string& dir) {
  std::error_code ec;
  if (!std::filesystem::is_directory(dir, ec)) return;
  for (const auto& entry : std::filesystem::directory_iterator(dir, ec)) {
    const std::string name = entry.path().filename().string();
    for (const char* f : {"config.yaml", "history.csv", "summary.json", "model.sfm", kResumeCheckpointFile}) {
      const std::string prefix = std::string(f) + ".tmp.";
      if (name.size() > prefix.size() && name.rfind(prefix, 0) == 0 &&
          name.find_first_not_of("0123456789", prefix.size()) == std::string::npos) {
        std::error_code rm;
        std::filesystem::remove(entry.path(), rm);
      }
    }
  }
}

void prepare_run_folder(const std::string& dir, bool force) {
  const std::string status = run_status(dir);
  const char* files[] = {"summary.json", "model.sfm", kResumeCheckpointFile, "history.csv"};
  if (!force) {
    const bool checkpoint = file_exists(dir + "/" + kResumeCheckpointFile);
    const std::string resume_hint = "continue it with `spikeforge train --resume " + dir + "` or ";
    if (!status.empty() || file_exists(dir + "/model.sfm")) {
      const std::string what = status.empty() ? "finished" : status;
      fail_input(dir, "holds " + std::string(what[0] == 'u' ? "an " : "a ") + what +
                          " run (summary.json, model.sfm); " + (status == "failed" && checkpoint ? resume_hint : "") +
                          "pass --force to start over");
    }
    if (checkpoint)
      fail_input(dir, "holds an unfinished run (" + std::string(kResumeCheckpointFile) + "); " + resume_hint +
                          "pass --force to start over");
    return;
  }
  for (const char* f : files) {
    std::error_code ec;
    const std::string p = dir + "/" + f;
    std::filesystem::remove(p, ec);
    if (ec) fail_input(p, "cannot remove the earlier run's file: " + ec.message());
  }
  remove_stale_temp_files(dir);
}

namespace {
// train.sync_every and train.cuda_graph say how the steps are run (when the host reads the step totals,
// whether a GPU replays a recorded step), not what the run computes, and checkpoints written before the keys
// existed lack them: they take no part in telling two experiments apart. to_yaml writes them as keys of the
// top-level train map, indented two spaces (a layer named so in lr_multipliers is at four).
std::string without_execution_keys(const std::string& config) {
  std::istringstream in(config);
  std::string out, line;
  bool in_train = false;
  while (std::getline(in, line)) {
    if (!line.empty() && line[0] != ' ') in_train = line.rfind("train:", 0) == 0;
    const bool execution = line.rfind("  sync_every:", 0) == 0 || line.rfind("  cuda_graph:", 0) == 0;
    if (!(in_train && execution)) out += line + "\n";
  }
  return out;
}
}  // namespace

Experiment resume_experiment(const std::string& dir) {
  const std::string path = dir + "/config.yaml";
  if (!file_exists(path))
    fail_input(path, "missing: " + dir + " is not a run folder spikeforge train wrote (nothing to resume)");
  return load_experiment(path);
}

LoadedResume open_resume(const std::string& dir, const Experiment& e) {
  if (run_status(dir) == "completed")
    fail_input(dir + "/summary.json", "the run is completed, nothing to resume (train with --force to start over)");
  const std::string path = dir + "/" + kResumeCheckpointFile;
  LoadedResume saved = load_resume_checkpoint(path);
  const std::string config = without_execution_keys(to_yaml(e)), was = without_execution_keys(saved.state.config);
  if (was != config)
    fail_input(dir + "/config.yaml", "is another experiment than the one " + path + " was saved from (" +
                                         first_difference(config, was) + ")");
  const int phases = 1 + static_cast<int>(e.finetune.size());
  if (saved.state.phase >= phases)
    fail_input(path, "phase " + std::to_string(saved.state.phase) + " does not exist (file is corrupt)");
  remove_stale_temp_files(dir);  // a killed writer's half-written files
  // A failed run's summary goes: until the resumed run ends, the folder is an unfinished run again.
  if (run_status(dir) == "failed") {
    std::error_code ec;
    std::filesystem::remove(dir + "/summary.json", ec);
    if (ec) fail_input(dir + "/summary.json", "cannot remove the failed run's summary: " + ec.message());
  }
  return saved;
}

}  // namespace sf
