// `spikeforge import` as a library call, and models read from either kind of file: a spikeforge checkpoint
// (.sfm) or an ONNX file (.onnx), which `evaluate` and `convert` take alike.
#pragma once
#include <string>

#include "interchange/onnx_import.h"
#include "train/run.h"

namespace sf {

struct ImportResult {
  OnnxImport imported;
  std::string out_dir;
};

// Imports `onnx_path` and writes out_dir/model.sfm and out_dir/config.yaml (an experiment of arch: layers,
// which `spikeforge train` can fine-tune), atomically. The net is evaluated on opts.dataset: its images are
// padded or their channel repeated when the net reads larger or 3-channel images (MNIST into a 32×32 RGB net);
// any other mismatch is BadInput naming --dataset. A folder that holds a model.sfm already (a trained
// run, an earlier import) is refused, naming --force, unless `force`.
ImportResult import_to_folder(const std::string& onnx_path, const std::string& out_dir, const OnnxImportOptions& opts,
                              bool force = false);

// load_model() for a .sfm, an import with the default options for a .onnx.
LoadedModel load_any_model(const std::string& path);

}  // namespace sf
