#include "train/run.h"

#include <omp.h>

#include <cmath>
#include <cstdio>
#include <filesystem>
#include <memory>
#include <optional>

#include "core/io.h"
#include "core/json.h"
#include "datasets/dataset.h"
#include "models/zoo.h"

namespace sf {

void set_threads(int threads) {
  if (threads > 0) omp_set_num_threads(threads);
}

std::string history_csv(const std::vector<EpochStats>& history) {
  std::string out = "epoch,loss,acc,val_loss,val_acc,seconds\n";
  char line[256];
  for (const auto& s : history) {
    // Epochs are 0-based in Keras's CSVLogger; we keep that so the files line up with the seed's.
    std::snprintf(line, sizeof line, "%d,%.8g,%.8g,%.8g,%.8g,%.4f\n", s.epoch - 1, s.loss, s.acc, s.val_loss, s.val_acc,
                  s.seconds);
    out += line;
  }
  return out;
}

std::string checkpoint_architecture(const Experiment& e) {
  YAML::Emitter y;
  y << YAML::BeginMap << YAML::Key << "model" << YAML::Value << YAML::Load(to_yaml(e.model)) << YAML::Key << "loss"
    << YAML::Value << e.train.loss << YAML::Key << "l1" << YAML::Value << e.train.l1 << YAML::Key << "l2" << YAML::Value
    << e.train.l2 << YAML::Key << "dataset" << YAML::Value << e.data.name << YAML::EndMap;
  return std::string(y.c_str()) + "\n";
}

LoadedModel model_from_architecture(const std::string& text, const std::string& path) {
  const ConfigNode arch = ConfigNode::load_string(text, path + " (architecture)");
  ModelSpec spec = parse_model_spec(arch.child("model"));
  // Checked here, with the file and key, rather than where they are used (the trainer would blame
  // train.loss, the dataset loader no file at all, and a NaN penalty would only show as loss=nan).
  const std::string loss = arch.get<std::string>("loss", "mse");
  arch.check(loss == "mse" || loss == "crossentropy", "loss",
             "unknown loss '" + loss + "' (expected mse or crossentropy)");
  const std::string dataset = arch.get<std::string>("dataset", "mnist");
  check_dataset_name(dataset, arch.where("dataset"));
  const double l1 = arch.get("l1", 0.0), l2 = arch.get("l2", 0.0);
  arch.check(std::isfinite(l1) && l1 >= 0, "l1", "must be a finite number >= 0");
  arch.check(std::isfinite(l2) && l2 >= 0, "l2", "must be a finite number >= 0");
  arch.check_unknown_keys();
  const DatasetInfo info = dataset_info(dataset);
  spec.input = info.sample_shape;
  spec.classes = info.num_classes;
  return {spec, loss, l1, l2, dataset, build_model(spec, 0)};
}

LoadedModel load_model(const std::string& path) {
  const Checkpoint ckpt = load_checkpoint(path);
  LoadedModel m = model_from_architecture(ckpt.architecture, path);
  m.model.load_state(ckpt, path);
  return m;
}

namespace {

std::string summary_json(const Experiment& e, const RunResult& r, double final_lr) {
  Json j = {{"name", e.name},
            {"source", e.source},
            {"test_accuracy", r.test.accuracy},
            {"test_loss", r.test.loss},
            {"epochs", r.history.size()},
            {"train_seconds", r.train_seconds},
            {"parameters", r.parameters},
            {"seed", e.seed},
            {"threads", e.threads},
            {"device", e.device},
            {"dataset", e.data.name},
            {"arch", e.model.arch},
            {"activation", e.model.activation},
            {"final_lr", final_lr}};
  Json phases = Json::array();
  for (const auto& p : r.phases)
    phases.push_back({{"name", p.name},
                      {"activation", p.activation},
                      {"test_accuracy", p.test.accuracy},
                      {"test_loss", p.test.loss}});
  j["phases"] = std::move(phases);
  if (!r.history.empty()) {
    const auto& last = r.history.back();
    j["final_loss"] = last.loss;
    j["final_acc"] = last.acc;
    j["images_per_second"] = last.images_per_second;
  }
  return json_text(j);
}

}  // namespace

RunResult run_experiment(const Experiment& e, const RunOptions& opts) {
  set_threads(e.threads);
  RunResult r;
  r.out_dir = opts.out_dir.empty() ? "runs/" + e.name : opts.out_dir;
  DatasetSplit data = load_dataset(e.data.name, e.data.path);
  Dataset held_out;
  const Dataset* val = nullptr;
  if (e.data.validation == "test") {
    val = &data.test;
  } else if (e.data.validation != "none") {
    held_out = split_tail(data.train, std::stod(e.data.validation));
    val = &held_out;
  }

  Model model = build_model(e.model, e.seed);
  r.parameters = model.parameter_count();
  make_dirs(r.out_dir);
  write_file_atomic(r.out_dir + "/config.yaml", to_yaml(e));

  // history.csv is refreshed after every epoch, so a long run can be watched (atomically each time).
  struct CsvObserver final : TrainObserver {
    TrainObserver* inner;
    std::string path;
    std::vector<EpochStats> seen;
    void epoch_begin(int a, int b, int64_t c) override {
      if (inner) inner->epoch_begin(a, b, c);
    }
    void batch_end(int64_t a, int64_t b, double c, double d, double f) override {
      if (inner) inner->batch_end(a, b, c, d, f);
    }
    void epoch_end(const EpochStats& s) override {
      seen.push_back(s);
      write_file_atomic(path, history_csv(seen));
      if (inner) inner->epoch_end(s);
    }
  } csv;
  csv.inner = opts.observer;
  csv.path = r.out_dir + "/history.csv";

  const Device device = parse_device(e.device);
  auto trainer = std::make_unique<Trainer>(model, e.train, device, e.seed);
  const MemorySource train_source(data.train);
  std::optional<MemorySource> val_source;
  if (val) val_source.emplace(*val);
  const Pipeline augment = make_pipeline(e.data.augment);
  const DataSource* val_ptr = val_source ? &*val_source : nullptr;
  r.history = trainer->fit(train_source, augment, val_ptr, &csv);
  r.phases.push_back({"train", e.model.activation, trainer->evaluate(data.test)});

  // Fine-tuning phases continue from the weights so far, possibly with another activation (the layers with
  // parameters are the same, so the state carries over by name) and shifted labels.
  Experiment final_e = e;
  for (const PhaseSpec& ph : e.finetune) {
    final_e.model.activation = ph.activation;
    Model next = build_model(final_e.model, e.seed);
    next.load_state(Checkpoint{"", model.state()}, "phase " + ph.name);
    model = std::move(next);
    TrainSpec spec = e.train;
    spec.epochs = ph.epochs;
    spec.label_shift = ph.label_shift;
    spec.optimizer.lr = ph.lr;
    trainer = std::make_unique<Trainer>(model, spec, device, e.seed);
    const auto more = trainer->fit(train_source, augment, val_ptr, &csv, static_cast<int>(r.history.size()) + 1);
    r.history.insert(r.history.end(), more.begin(), more.end());
    r.phases.push_back({ph.name, ph.activation, trainer->evaluate(data.test)});
  }
  for (const auto& s : r.history) r.train_seconds += s.train_seconds;
  r.test = r.phases.back().test;

  save_checkpoint(r.out_dir + "/model.sfm", {checkpoint_architecture(final_e), model.state()});
  write_file_atomic(r.out_dir + "/summary.json", summary_json(final_e, r, trainer->optimizer().current_lr()));
  return r;
}

}  // namespace sf
