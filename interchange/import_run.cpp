#include "interchange/import_run.h"

#include <cstring>
#include <filesystem>
#include <fstream>

#include "core/checkpoint.h"
#include "core/io.h"
#include "datasets/dataset.h"
#include "train/experiment.h"

namespace sf {
namespace {

// The experiment an imported net belongs to: its model, loss and the dataset it is evaluated on.
Experiment imported_experiment(const OnnxImport& m, const OnnxImportOptions& opts, const std::string& name) {
  Experiment e;
  e.name = name;
  e.model = m.spec;
  e.train.loss = m.loss;
  check_dataset_name(opts.dataset, "--dataset");
  e.data.name = opts.dataset;
  const Shape have = dataset_info(opts.dataset).sample_shape, want = m.spec.input;
  const bool square = want[1] == want[2] && have[1] == have[2];
  if (have[1] != want[1] || have[2] != want[2]) {
    if (!square || have[1] > want[1])
      fail_input("--dataset", opts.dataset + " images are " + to_string(have) + ", the model reads " + to_string(want));
    e.data.pad = want[1];
  }
  if (have[0] != want[0]) {
    if (have[0] != 1)
      fail_input("--dataset", opts.dataset + " images are " + to_string(have) + ", the model reads " + to_string(want));
    e.data.channels = want[0];
  }
  return e;
}

}  // namespace

ImportResult import_to_folder(const std::string& onnx_path, const std::string& out_dir, const OnnxImportOptions& opts,
                              bool force) {
  if (!force && std::filesystem::exists(out_dir + "/model.sfm"))
    fail_input("--out", out_dir + " holds a model.sfm already; pass --force to replace it");
  ImportResult r;
  r.imported = import_onnx(onnx_path, opts);
  r.out_dir = out_dir;
  const std::string name = std::filesystem::path(onnx_path).stem().string();
  const Experiment e = imported_experiment(r.imported, opts, name.empty() ? "imported" : name);
  // `train config.yaml` fine-tunes the imported weights rather than starting from random ones.
  Experiment fine_tune = e;
  fine_tune.train.init_from = std::filesystem::absolute(out_dir + "/model.sfm").lexically_normal().string();
  make_dirs(out_dir);
  save_checkpoint(out_dir + "/model.sfm", {checkpoint_architecture(e), r.imported.model.state()});
  write_file_atomic(out_dir + "/config.yaml", to_yaml(fine_tune));
  return r;
}

LoadedModel load_any_model(const std::string& path) {
  if (!is_onnx_path(path)) {
    // A NIR graph (HDF5) under another name would otherwise be "not a spikeforge checkpoint (bad magic)".
    char head[8] = {};
    if (std::ifstream f(path, std::ios::binary);
        f.read(head, sizeof head) && std::memcmp(head, "\x89HDF\r\n\x1a\n", 8) == 0)
      fail_input(path, "is an HDF5 file, not a checkpoint: a NIR graph is simulated by `convert` under a .nir name");
    return load_model(path);
  }
  const OnnxImportOptions opts;
  const OnnxImport m = import_onnx(path, opts);
  LoadedModel loaded = model_from_architecture(checkpoint_architecture(imported_experiment(m, opts, "imported")), path);
  Checkpoint state;
  state.tensors = m.model.state();
  loaded.model.load_state(state, path);
  return loaded;
}

}  // namespace sf
