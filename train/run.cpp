#include "train/run.h"

#include <omp.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <memory>
#include <optional>
#include <set>
#include <tuple>

#include "core/distributed.h"
#include "core/io.h"
#include "core/json.h"
#include "datasets/dataset.h"
#include "models/zoo.h"
#include "train/resume.h"

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

std::string predictions_csv(const Predictions& p) {
  std::string out = "image,label,predicted";
  for (int64_t k = 0; k < p.classes; ++k) out += ",output_" + std::to_string(k);
  out += "\n";
  char buf[32];
  for (size_t i = 0; i < p.labels.size(); ++i) {
    const float* row = p.outputs.data() + i * p.classes;
    const int64_t best = std::max_element(row, row + p.classes) - row;
    out += std::to_string(i) + "," + std::to_string(p.labels[i]) + "," + std::to_string(best);
    for (int64_t k = 0; k < p.classes; ++k) {
      std::snprintf(buf, sizeof buf, ",%.9g", row[k]);
      out += buf;
    }
    out += "\n";
  }
  return out;
}

std::string checkpoint_architecture(const Experiment& e, const std::vector<std::string>& class_names) {
  YAML::Emitter y;
  y << YAML::BeginMap << YAML::Key << "model" << YAML::Value << YAML::Load(to_yaml(e.model)) << YAML::Key << "loss"
    << YAML::Value << e.train.loss << YAML::Key << "l1" << YAML::Value << e.train.l1 << YAML::Key << "l2" << YAML::Value
    << e.train.l2 << YAML::Key << "dataset" << YAML::Value << e.data.name;
  // What the net was built for: the model input is the pipeline's output (Fashion-MNIST padded to 32, ImageNet
  // cut to 224), not the stored images, and `evaluate` needs the same eval transforms.
  y << YAML::Key << "input" << YAML::Value << YAML::Flow
    << std::vector<int64_t>(e.model.input.begin(), e.model.input.end()) << YAML::Key << "classes" << YAML::Value
    << e.model.classes << YAML::Key << "data" << YAML::Value << YAML::Load(to_yaml(e.data));
  if (!class_names.empty()) y << YAML::Key << "class_names" << YAML::Value << YAML::Flow << class_names;
  y << YAML::EndMap;
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
  // Checkpoints before the dataset options were stored hold MNIST-family nets of the stored image shape.
  DataSpec data;
  data.name = dataset;
  if (arch.has("data")) data = parse_data_spec(arch.child("data"));
  arch.check(data.name == dataset, "data", "names dataset '" + data.name + "', the checkpoint's dataset is " + dataset);
  std::vector<std::string> class_names;
  if (arch.has("class_names")) class_names = arch.get_list<std::string>("class_names", {});
  if (arch.has("input")) {
    const auto input = arch.get_list<int64_t>("input", {});
    arch.check(input.size() == 3 && std::all_of(input.begin(), input.end(), [](int64_t d) { return d > 0; }), "input",
               "must be [channels, height, width]");
    spec.input = Shape(input.begin(), input.end());
    spec.classes = arch.get<int>("classes", 0);
    arch.check(spec.classes >= 2 && spec.classes <= 1000000, "classes", "must be a class count >= 2");
    arch.check(class_names.empty() || class_names.size() == static_cast<size_t>(spec.classes), "class_names",
               "must name every one of the " + std::to_string(spec.classes) + " classes");
  } else {
    DatasetInfo info;
    try {
      info = dataset_info(dataset);
    } catch (const Error& e) {
      arch.fail("dataset", e.what());
    }
    spec.input = info.sample_shape;
    spec.classes = info.num_classes;
  }
  arch.check_unknown_keys();
  return {spec, loss, l1, l2, dataset, data, class_names, build_model(spec, 0)};
}

LoadedModel load_model(const std::string& path) {
  // A resume checkpoint (train/resume.h) holds a model too: evaluate and convert read its model part.
  const Checkpoint ckpt = model_part(load_checkpoint(path));
  LoadedModel m = model_from_architecture(ckpt.architecture, path);
  m.model.load_state(ckpt, path);
  return m;
}

namespace {

std::string summary_json(const Experiment& e, const RunResult& r, double final_lr) {
  Json j = {{"name", e.name},
            {"status", "completed"},
            {"source", e.source},
            {"test_accuracy", r.test.accuracy},
            {"test_loss", r.test.loss},
            {"epochs", r.history.size()},
            {"train_seconds", r.train_seconds},
            {"parameters", r.parameters},
            {"seed", e.seed},
            {"threads", e.threads},
            {"ranks", r.ranks},
            {"communication_seconds", r.communication_seconds},
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
  if (e.model.classes >= 100) j["test_top5"] = r.test.top5;
  constexpr double kMiB = 1024.0 * 1024.0;
  j["memory"] = {{"peak_rss_mib", r.peak_rss_mib},
                 {"graph_arenas_mib", static_cast<double>(r.graph_memory.arena_bytes) / kMiB},
                 {"training_graph_mib", static_cast<double>(r.graph_memory.training_bytes) / kMiB},
                 {"evaluation_graph_mib", static_cast<double>(r.graph_memory.evaluation_bytes) / kMiB},
                 {"recomputed_outputs", r.graph_memory.recomputed}};
  j["skipped_images"] = r.skipped_images;
  if (!r.skipped_files.empty()) j["skipped_image_files"] = r.skipped_files;
  if (!r.history.empty()) {
    const auto& last = r.history.back();
    j["final_loss"] = last.loss;
    j["final_acc"] = last.acc;
    j["images_per_second"] = last.images_per_second;
  }
  return json_text(j);
}

std::string failed_summary_json(const Experiment& e, const std::exception& ex, size_t epochs, bool resumable) {
  const auto* err = dynamic_cast<const Error*>(&ex);
  const char* kind = !err                                 ? "internal"
                     : err->kind() == ErrorKind::Numeric  ? "numeric"
                     : err->kind() == ErrorKind::BadInput ? "input"
                                                          : "internal";
  const Json j = {{"name", e.name}, {"status", "failed"},   {"reason", ex.what()},
                  {"error", kind},  {"source", e.source},   {"epochs", epochs},
                  {"seed", e.seed}, {"threads", e.threads}, {"resumable", resumable}};
  return json_text(j);
}

// Every rank must train the same experiment: a different YAML or --set on one rank would silently train
// another net in the same reduction. The resolved config is hashed (FNV-1a) and compared.
void check_same_experiment(Communicator& comm, const Experiment& e) {
  if (!comm.distributed()) return;
  uint64_t h = 1469598103934665603ull;
  for (const unsigned char c : to_yaml(e)) h = (h ^ c) * 1099511628211ull;
  const std::vector<uint64_t> all = comm.allgather_value(h);
  std::string differ;
  for (size_t k = 1; k < all.size(); ++k)
    if (all[k] != all[0]) differ += (differ.empty() ? "" : ", ") + std::to_string(k);
  if (!differ.empty())
    throw Error(ErrorKind::BadInput, "the ranks disagree on the experiment: the resolved config of rank(s) " + differ +
                                         " differs from rank 0's; every rank must be given the same CONFIG.yaml, "
                                         "--set and --threads")
        .on_every_rank();
}

// Undecodable images replaced during the run, each counted once. In a distributed run each rank met those of
// the samples it read, and an image may have been read by several: the union of the ranks' lists is exact
// while no rank met more than the list holds, else the largest rank's count is a lower bound.
std::pair<int64_t, std::vector<std::string>> skipped_images(Communicator& comm, const DataSplits& data) {
  std::vector<std::string> files = data.skipped_files();
  if (!comm.distributed()) return {data.skipped_images(), files};
  std::string mine;
  for (const std::string& f : files) mine += f + '\n';
  const std::vector<char> all = comm.allgather_vector(std::vector<char>(mine.begin(), mine.end()));
  std::set<std::string> seen(files.begin(), files.end());
  std::string line;
  for (char c : all) {
    if (c != '\n') {
      line += c;
      continue;
    }
    if (seen.insert(line).second) files.push_back(line);
    line.clear();
  }
  int64_t most = 0;
  for (int64_t n : comm.allgather_value(data.skipped_images())) most = std::max(most, n);
  return {std::max(most, static_cast<int64_t>(seen.size())), files};
}

// One stage of a run: the training, then each fine-tuning phase.
struct Phase {
  std::string name, activation;
  TrainSpec spec;
};

std::vector<Phase> phases_of(const Experiment& e) {
  std::vector<Phase> plan = {{"train", e.model.activation, e.train}};
  for (const PhaseSpec& ph : e.finetune) {
    TrainSpec spec = e.train;
    spec.epochs = ph.epochs;
    spec.label_shift = ph.label_shift;
    spec.optimizer.lr = ph.lr;
    spec.schedule.warmup_epochs = 0;  // a fine-tuning phase continues trained weights: no warmup again
    plan.push_back({ph.name, ph.activation, spec});
  }
  return plan;
}

// Refreshes history.csv after every epoch (a long run can be watched) and writes the resume checkpoint at
// every epoch end and every train.checkpoint_every steps; forwards everything to the caller's observer.
struct RunObserver final : TrainObserver {
  TrainObserver* inner = nullptr;
  std::string dir;
  ResumeState state;  // config, steps, history and finished phases; the rest is filled in per checkpoint
  // The phase being trained.
  Trainer* trainer = nullptr;
  const Model* model = nullptr;
  std::string architecture;
  int64_t every = 0, batches = 0;

  void save(const FitPosition& at) {
    if (!world().root()) return;  // every rank holds the same state; rank 0 writes it
    state.at = at;
    state.optimizer = trainer->optimizer().export_state();
    save_resume_checkpoint(dir + "/" + kResumeCheckpointFile, architecture, *model, state);
  }
  void epoch_begin(int a, int b, int64_t c) override {
    batches = c;
    if (inner) inner->epoch_begin(a, b, c);
  }
  void batch_end(int64_t a, int64_t b, double c, double d, double f) override {
    if (inner) inner->batch_end(a, b, c, d, f);
  }
  // A checkpoint step needs the exact totals in its position.
  bool wants_totals() const override {
    return (every > 0 && (state.steps + 1) % every == 0) || (inner && inner->wants_totals());
  }
  void step_end(const FitPosition& at) override {
    ++state.steps;
    // The epoch's last step is followed by its epoch-end checkpoint.
    if (every > 0 && state.steps % every == 0 && at.batch < batches) save(at);
    if (inner) inner->step_end(at);
  }
  void epoch_end(const EpochStats& s) override {
    state.history.push_back(s);
    if (world().root()) write_file_atomic(dir + "/history.csv", history_csv(state.history));
    FitPosition next;
    next.epoch = s.epoch + 1;
    save(next);
    if (inner) inner->epoch_end(s);
  }
};

}  // namespace

RunResult run_experiment(const Experiment& e, const RunOptions& opts) {
  set_threads(e.threads);
  Communicator& comm = world();
  const double comm_before = comm.seconds();
  check_same_experiment(comm, e);
  RunResult r;
  r.out_dir = opts.out_dir.empty() ? "runs/" + e.name : opts.out_dir;
  const std::string ckpt_path = r.out_dir + "/" + kResumeCheckpointFile;
  // Refusals come first, before the data is read. The folder is rank 0's: it checks and prepares it, then the
  // other ranks read the checkpoint it has vetted.
  std::optional<LoadedResume> saved;
  on_root([&] {
    if (opts.resume)
      saved = open_resume(r.out_dir, e);
    else
      prepare_run_folder(r.out_dir, opts.force);
  });
  if (opts.resume && !comm.root()) saved = load_resume_checkpoint(ckpt_path);

  const bool held_out = e.data.validation != "test" && e.data.validation != "none";
  const std::unique_ptr<DataSplits> data =
      open_dataset(dataset_options(e.data), held_out ? std::stod(e.data.validation) : 0);
  const DataSource* val = e.data.validation == "test" ? &data->test() : data->held_out();

  const std::vector<Phase> plan = phases_of(e);
  const size_t start = saved ? static_cast<size_t>(saved->state.phase) : 0;
  int first_epoch = 1;  // of the phase, in the run's count
  for (size_t p = 0; p < start; ++p) first_epoch += plan[p].spec.epochs;
  if (saved && (saved->state.at.epoch < first_epoch || saved->state.at.epoch > first_epoch + plan[start].spec.epochs))
    fail_input(ckpt_path, "epoch " + std::to_string(saved->state.at.epoch) + " is outside phase '" + plan[start].name +
                              "' (file is corrupt)");

  Experiment phase_e = e;
  phase_e.model.activation = plan[start].activation;
  Model model = build_model(phase_e.model, e.seed);
  r.parameters = model.parameter_count();
  if (saved)
    model.load_state(saved->model, ckpt_path);
  else if (!e.train.init_from.empty())  // shapes and names are checked: the file must hold this architecture
    model.load_state(model_part(load_checkpoint(e.train.init_from)), e.train.init_from);
  on_root([&] {
    make_dirs(r.out_dir);
    if (!saved) write_file_atomic(r.out_dir + "/config.yaml", to_yaml(e));
  });

  RunObserver obs;
  obs.inner = opts.observer;
  obs.dir = r.out_dir;
  obs.every = e.train.checkpoint_every;
  if (saved) {
    obs.state = saved->state;
    r.phases = saved->state.phases;
  } else {
    obs.state.config = to_yaml(e);
  }

  // From here on the run folder is ours: whatever stops the run leaves a summary saying why.
  try {
    const Device device = parse_device(e.device);
    set_deterministic_kernels(e.deterministic);
    // Training samples go through train_pipeline inside the loader; validation and test samples through the
    // eval pipeline, wrapped around their sources (Trainer::evaluate reads a source as it is).
    const Pipeline augment = train_pipeline(e.data), eval = eval_pipeline(e.data);
    std::optional<TransformedSource> test_view, val_view;
    const DataSource& test_source = eval.empty() ? data->test() : test_view.emplace(data->test(), eval);
    const DataSource* val_ptr = !val || eval.empty() ? val : &val_view.emplace(*val, eval);
    std::unique_ptr<Trainer> trainer;
    for (size_t p = start; p < plan.size(); ++p) {
      if (p > start) {
        // Fine-tuning phases continue from the weights so far, possibly with another activation (the layers
        // with parameters are the same, so the state carries over by name) and shifted labels.
        phase_e.model.activation = plan[p].activation;
        Model next = build_model(phase_e.model, e.seed);
        next.load_state(Checkpoint{"", model.state()}, "phase " + plan[p].name);
        model = std::move(next);
      }
      trainer = std::make_unique<Trainer>(model, plan[p].spec, device, e.seed);
      const FitPosition* from = nullptr;
      if (saved && p == start) {
        restore_optimizer(trainer->optimizer(), *saved, model, ckpt_path);
        from = &saved->state.at;
      }
      obs.state.phase = static_cast<int>(p);
      obs.trainer = trainer.get();
      obs.model = &model;
      obs.architecture = checkpoint_architecture(phase_e, data->class_names());
      trainer->fit(data->train(), augment, val_ptr, &obs, first_epoch, from);
      r.phases.push_back({plan[p].name, plan[p].activation, trainer->evaluate(test_source)});
      obs.state.phases = r.phases;
      first_epoch += plan[p].spec.epochs;
    }
    r.history = obs.state.history;
    for (const auto& s : r.history) r.train_seconds += s.train_seconds;
    r.test = r.phases.back().test;
    std::tie(r.skipped_images, r.skipped_files) = skipped_images(comm, *data);

    r.ranks = comm.size();
    r.communication_seconds = comm.seconds() - comm_before;
    r.graph_memory = trainer->graph_memory();
    r.peak_rss_mib = peak_rss_mib();
    on_root([&] {
      save_checkpoint(r.out_dir + "/model.sfm", {checkpoint_architecture(phase_e, data->class_names()), model.state()});
      write_file_atomic(r.out_dir + "/summary.json", summary_json(phase_e, r, trainer->optimizer().current_lr()));
      std::error_code ec;
      std::filesystem::remove(ckpt_path, ec);  // model.sfm and the summary supersede it
    });
  } catch (const std::exception& ex) {
    if (comm.root()) try {
        write_file_atomic(r.out_dir + "/summary.json",
                          failed_summary_json(e, ex, obs.state.history.size(), file_exists(ckpt_path)));
      } catch (const std::exception&) {
        // A full disk may refuse the summary too; the original error is the one to report.
      }
    throw;
  }
  return r;
}

}  // namespace sf
