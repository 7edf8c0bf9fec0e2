#include "backends/conversion_run.h"

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <set>

#include "backends/conversion_data.h"
#include "backends/nir/nir_export.h"
#include "backends/nir/nir_import.h"
#include "backends/sharded_simulation.h"
#include "backends/spinnaker/exporter.h"
#include "core/error.h"
#include "core/io.h"
#include "core/json.h"
#include "core/svg_plot.h"
#include "interchange/import_run.h"
#include "train/run.h"

namespace sf {

std::vector<int> report_steps(int steps, double dt_ms) {
  std::set<int> s;
  for (int k = 1; k <= 10; ++k) s.insert(std::max(1, static_cast<int>(static_cast<int64_t>(steps) * k / 10)));
  for (int t : {4, 8, 16, 32, 64, 128}) s.insert(t);  // the low-latency points (QCFS, Bu 2022, reports T = 4…128)
  for (double ms : {100.0, 400.0, 1000.0}) s.insert(static_cast<int>(std::lround(ms / dt_ms)));
  std::vector<int> out;
  for (int t : s)
    if (t >= 1 && t <= steps) out.push_back(t);
  return out;
}

std::string layer_table(const ConvertRunResult& r) {
  const snn::Network& net = r.conversion.net;
  const bool rates = !r.exported && r.sim.layers.size() == net.layers.size();
  std::string out =
      rates ? "layer                kind            neurons     synapses     lambda  rate_hz  spikes/neuron/step\n"
            : "layer                kind            neurons     synapses     lambda\n";
  char line[256];
  for (size_t l = 0; l < net.layers.size(); ++l) {
    const snn::Layer& sl = net.layers[l];
    double lambda = 0;
    for (const auto& sc : r.conversion.scales)
      if (sc.name == sl.name) lambda = sc.lambda;
    int n =
        std::snprintf(line, sizeof line, "%-20s %-14s %8lld %12lld %10.4g", sl.name.c_str(), snn::to_string(sl.kind),
                      static_cast<long long>(sl.neurons()), static_cast<long long>(sl.synapses()), lambda);
    n = std::clamp(n, 0, static_cast<int>(sizeof line) - 1);  // a long layer name truncates the line
    if (rates) {
      const LayerStats& st = r.sim.layers[l];
      const double per_step = st.neurons && r.sim.images && r.sim.steps
                                  ? static_cast<double>(st.spikes) / (static_cast<double>(st.neurons) *
                                                                      static_cast<double>(r.sim.images) * r.sim.steps)
                                  : 0.0;
      std::snprintf(line + n, sizeof line - n, " %8.2f %19.4f", st.mean_rate_hz, per_step);
    }
    out += line;
    out += "\n";
  }
  return out;
}

int64_t ann_correct(const Model& model, const Dataset& data, const ChannelAffine& input) {
  const int64_t count = data.size();
  if (count <= 0) return 0;
  const std::vector<float> out = snn::layer_outputs(model, data, count, {model.layers().back().name}, 0, input)[0];
  const int64_t classes = static_cast<int64_t>(out.size()) / count;
  int64_t correct = 0;
  for (int64_t i = 0; i < count; ++i) {
    const float* row = out.data() + i * classes;
    correct += std::max_element(row, row + classes) - row == data.labels[static_cast<size_t>(i)];
  }
  return correct;
}

double ann_accuracy(const Model& model, const Dataset& data, const ChannelAffine& input) {
  return data.size() > 0 ? static_cast<double>(ann_correct(model, data, input)) / static_cast<double>(data.size())
                         : 0.0;
}

namespace {

std::string summary_json(const ConvertRunOptions& o, const ConvertRunResult& r, const std::string& dataset) {
  const snn::Network& net = r.conversion.net;
  const SimResult& s = r.sim;
  int64_t spikes = 0, events = 0, negative = 0;
  for (const auto& l : s.layers) spikes += l.spikes, events += l.synaptic_events, negative += l.negative_spikes;
  const double images = static_cast<double>(s.images);
  Json windows = Json::array(), thresholds = Json::array(), scales = Json::array();
  for (const auto& w : r.windows)
    windows.push_back({{"step", w.step}, {"time_ms", w.step * net.dt_ms}, {"accuracy", w.accuracy}});
  for (const auto& l : net.layers) thresholds.push_back({{"layer", l.name}, {"threshold", l.threshold}});
  for (const auto& sc : r.conversion.scales)
    scales.push_back({{"layer", sc.name}, {"lambda", sc.lambda}, {"max_activation", sc.max_activation}});
  const Json j = {{"checkpoint", o.checkpoint},
                  {"backend", o.backend},
                  {"dataset", dataset},
                  {"ann_accuracy", r.ann_accuracy},
                  {"snn_accuracy", s.accuracy_at(s.steps)},
                  {"steps", s.steps},
                  {"dt_ms", net.dt_ms},
                  {"images", s.images},
                  {"first_image", s.first_image},
                  {"seconds", s.seconds},
                  {"peak_rss_mib", peak_rss_mib()},  // rank 0's, in a distributed run
                  {"ranks", world().size()},
                  {"convert_seconds", r.convert_seconds},
                  {"norm", snn::to_string(o.convert.norm)},
                  {"conversion", net.conversion},
                  {"percentile", o.convert.percentile},
                  {"channel_norm", o.convert.channel_norm},
                  {"calibration",
                   {{"images", o.convert.calibrate_images},
                    {"steps", o.convert.calibrate_steps},
                    {"channels", r.conversion.calibration.channels},
                    {"rate_gap_before", r.conversion.calibration.gap_before},
                    {"rate_gap_after", r.conversion.calibration.gap_after}}},
                  {"neuron", snn::to_string(net.neuron)},
                  {"input", snn::to_string(net.input.kind)},
                  {"max_rate_hz", net.input.max_rate_hz},
                  {"seed", o.sim.seed},
                  {"propagation", to_string(o.sim.propagation)},
                  {"neurons", net.neurons()},
                  {"synapses", net.synapses()},
                  {"spikes_per_image", s.images ? static_cast<double>(spikes) / images : 0.0},
                  {"negative_spikes_per_image", s.images ? static_cast<double>(negative) / images : 0.0},
                  {"synaptic_events_per_image", s.images ? static_cast<double>(events) / images : 0.0},
                  {"synaptic_events_per_second", s.seconds > 0 ? static_cast<double>(events) / s.seconds : 0.0},
                  {"windows", windows},
                  {"thresholds", thresholds},
                  {"scales", scales},
                  {"notes", r.conversion.notes}};
  return json_text(j);
}

std::string accuracy_csv(const SimResult& s, double dt_ms) {
  std::string out = "step,time_ms,accuracy\n";
  char line[96];
  for (int t = 1; t <= s.steps; ++t) {
    std::snprintf(line, sizeof line, "%d,%g,%.6f\n", t, t * dt_ms, s.accuracy_at(t));
    out += line;
  }
  return out;
}

std::string layers_csv(const SimResult& s, const snn::Network& net) {
  std::string out =
      "layer,kind,neurons,spikes,spikes_per_image,mean_rate_hz,max_rate_hz,synaptic_events,threshold,negative_spikes\n";
  char line[320];
  for (size_t l = 0; l < s.layers.size(); ++l) {
    const LayerStats& st = s.layers[l];
    std::snprintf(line, sizeof line, "%s,%s,%lld,%lld,%.3f,%.4f,%.4f,%lld,%.6g,%lld\n", st.name.c_str(),
                  snn::to_string(net.layers[l].kind), static_cast<long long>(st.neurons),
                  static_cast<long long>(st.spikes), s.images ? static_cast<double>(st.spikes) / s.images : 0.0,
                  st.mean_rate_hz, st.max_rate_hz, static_cast<long long>(st.synaptic_events), net.layers[l].threshold,
                  static_cast<long long>(st.negative_spikes));
    out += line;
  }
  return out;
}

std::string predictions_csv(const SimResult& s) {
  std::string out = "image,label,predicted,output_spikes\n";
  const int64_t classes = s.images ? static_cast<int64_t>(s.output_counts.size()) / s.images : 0;
  for (int64_t i = 0; i < s.images; ++i) {
    // Appended piece by piece (GCC 12 warns, falsely, on the chained temporaries: -Wrestrict, PR 105329).
    for (const int64_t v : {s.first_image + i, int64_t{s.labels[i]}, int64_t{s.predicted[i]}})
      out += std::to_string(v) += ',';
    for (int64_t c = 0; c < classes; ++c) {
      if (c) out += ' ';
      out += std::to_string(s.output_counts[i * classes + c]);
    }
    out += '\n';
  }
  return out;
}

std::string input_spikes_csv(const SimResult& s) {
  std::string out = "image,pixel,step\n";
  out.reserve(out.size() + s.input_spikes.size() * 16);
  for (const auto& sp : s.input_spikes)
    out += std::to_string(sp.image) + "," + std::to_string(sp.pixel) + "," + std::to_string(sp.step) + "\n";
  return out;
}

std::string accuracy_svg(const ConvertRunResult& r, const std::string& title) {
  const SimResult& s = r.sim;
  LinePlot p;
  p.title = title;
  p.x_label = "simulation time (ms)";
  p.y_label = "test accuracy";
  PlotSeries snn{"SNN (" + std::to_string(s.images) + " images)", {}, {}, ""};
  // At most ~1000 points: a longer run is thinned evenly (the CSV keeps every step).
  const int every = std::max(1, s.steps / 1000);
  for (int t = every; t <= s.steps; t += every) {
    snn.x.push_back(t * r.conversion.net.dt_ms);
    snn.y.push_back(s.accuracy_at(t));
  }
  p.series.push_back(std::move(snn));
  if (std::isfinite(r.ann_accuracy))  // a NIR graph has no ANN
    p.hlines.push_back({"ANN " + std::to_string(r.ann_accuracy * 100).substr(0, 5) + " %", r.ann_accuracy, ""});
  return render_svg(p);
}

}  // namespace

namespace {

template <class T>
bool has(const std::vector<T>& v, const T& x) {
  return std::find(v.begin(), v.end(), x) != v.end();
}

template <class T>
std::string names(const std::vector<T>& v, const char* sep) {
  std::string out;
  for (const T& x : v) out += (out.empty() ? "" : sep) + std::string(to_string(x));
  return out;
}

// "<what> cannot be exported: <why> (use a or b)", or "... by --backend NAME (use ...)" without a reason.
[[noreturn]] void refuse(const std::string& flag, const std::string& what, const std::string& choices,
                         const std::string& backend, const Capabilities& caps) {
  const auto why = caps.reasons.find(flag);
  fail_input(flag, what + (caps.simulates ? " cannot be simulated" : " cannot be exported") +
                       (why != caps.reasons.end() ? ": " + why->second : " by --backend " + backend) +
                       (choices.empty() ? std::string() : " (use " + choices + ")"));
}

// Refuses what the backend does not take, before anything is loaded or converted.
void check_supported(const ConvertRunOptions& o, const Capabilities& caps) {
  std::vector<std::string> given = o.flags_given;
  if (!o.export_exact.empty()) given.push_back("--export-exact");
  if (!o.export_exact.empty() && o.export_exact != "spinnaker" && o.export_exact != "nir")
    fail_input("--export-exact", "'" + o.export_exact + "' is no export target (spinnaker or nir)");
  if (o.sim.record_input) given.push_back("--record-input");
  for (const std::string& flag : backend_options())
    if (has(given, flag) && !has(caps.options, flag)) fail_input(flag, "does not apply to --backend " + o.backend);
  using snn::to_string;
  const snn::NeuronModel neuron = o.convert.neuron;
  if (!has(caps.neurons, neuron))
    refuse("--neuron", std::string(to_string(neuron)) + " neurons", names(caps.neurons, " or "), o.backend, caps);
  if (!o.export_exact.empty()) {
    const std::vector<snn::NeuronModel> exported = make_backend(o.export_exact)->capabilities().neurons;
    if (!has(exported, neuron))
      fail_input("--export-exact",
                 o.export_exact + " exports " + names(exported, ", ") + " neurons, not " + to_string(neuron));
  }
  const ResetMode reset = reset_mode(neuron);
  if (!has(caps.resets, reset) && !has(caps.approximated_resets, reset))
    refuse("--neuron", std::string(to_string(neuron)) + " neurons (" + sf::to_string(reset) + ")", "", o.backend, caps);
  const snn::InputEncoding input = o.convert.input.kind;
  if (!has(caps.inputs, input))
    refuse("--input", std::string(to_string(input)) + " input", names(caps.inputs, " or "), o.backend, caps);
  if (caps.simulates && !has(caps.propagations, o.sim.propagation))
    refuse("--propagation", std::string(sf::to_string(o.sim.propagation)) + " propagation",
           names(caps.propagations, " or "), o.backend, caps);
}

ExportOptions export_options(const ConvertRunOptions& o, int64_t images) {
  ExportOptions eo;
  eo.images = images;
  eo.steps = o.sim.steps;
  eo.seed = o.sim.seed;
  eo.force = o.force;
  eo.neurons_per_core = o.neurons_per_core;
  eo.conv_connector = o.conv_connector;
  return eo;
}

void print_conversion(const ConvertRunOptions& o, const ConvertRunResult& r) {
  std::printf("converted %s (%s norm, %s neurons, %s input): %lld neurons, %lld synapses in %.2f s\n",
              o.checkpoint.c_str(), snn::to_string(o.convert.norm), snn::to_string(r.conversion.net.neuron),
              snn::to_string(r.conversion.net.input.kind), static_cast<long long>(r.conversion.net.neurons()),
              static_cast<long long>(r.conversion.net.synapses()), r.convert_seconds);
  for (const auto& n : r.conversion.notes) std::printf("  note: %s\n", n.c_str());
  std::fflush(stdout);
}

void write_results(const ConvertRunOptions& o, const ConvertRunResult& r, const std::string& dataset) {
  make_dirs(r.out_dir);
  const snn::Network& net = r.conversion.net;
  write_file_atomic(r.out_dir + "/network.json", snn::to_json(net));
  write_file_atomic(r.out_dir + "/accuracy_vs_time.csv", accuracy_csv(r.sim, net.dt_ms));
  write_file_atomic(r.out_dir + "/layers.csv", layers_csv(r.sim, net));
  write_file_atomic(r.out_dir + "/predictions.csv", predictions_csv(r.sim));
  if (o.sim.record_input) write_file_atomic(r.out_dir + "/input_spikes.csv", input_spikes_csv(r.sim));
  const std::string title = std::filesystem::path(o.checkpoint).parent_path().filename().string() + ": " +
                            snn::to_string(net.neuron) + ", " + snn::to_string(o.convert.norm) + " norm, " +
                            snn::to_string(net.input.kind) + " input";
  write_file_atomic(r.out_dir + "/accuracy_vs_time.svg", accuracy_svg(r, title));
  write_file_atomic(r.out_dir + "/summary.json", summary_json(o, r, dataset));
}

// The training images normalisation and bias calibration read: the larger of their image counts.
int64_t norm_rows(const snn::ConvertOptions& c) {
  switch (c.norm) {
    case snn::Norm::none:
      return c.calibrate_images;
    case snn::Norm::spike:
      return std::max(c.spike_norm_images, c.calibrate_images);
    default:
      return std::max(c.norm_images, c.calibrate_images);
  }
}

}  // namespace

// A QCFS-trained checkpoint converts as Bu 2022 does unless the flags say otherwise: θ = λ (--norm qcfs),
// reset by subtraction, v(0) = θ/2 (the floor's 1/2 shift).
void apply_qcfs_defaults(ConvertRunOptions& o, const Model& model) {
  const bool qcfs =
      std::any_of(model.layers().begin(), model.layers().end(), [](const Layer& l) { return l.type == "qcfs"; });
  if (!qcfs) return;
  if (!has(o.flags_given, std::string("--norm"))) o.convert.norm = snn::Norm::qcfs;
  if (!has(o.flags_given, std::string("--neuron"))) o.convert.neuron = snn::NeuronModel::if_subtract;
  if (!has(o.flags_given, std::string("--v-init"))) o.convert.v_init = 0.5;
}

namespace {

// The run's own checks of --steps and --record-input, for checkpoints and NIR graphs alike.
void check_simulation_flags(const ConvertRunOptions& o) {
  if (o.sim.steps <= 0) fail_input("--steps", "must be > 0");
  if (o.sim.record_input && o.convert.input.kind == snn::InputEncoding::current)
    fail_input("--record-input", "current input has no spikes to record");
}

// --out, or <model folder>/convert-<backend>.
std::string result_dir(const ConvertRunOptions& o) {
  return o.out_dir.empty() ? (std::filesystem::path(o.checkpoint).parent_path() / ("convert-" + o.backend)).string()
                           : o.out_dir;
}

// Test images [first, first + count) of the run; count defaults to the backend's default or the rest of the set.
Range image_range(const ConvertRunOptions& o, const Capabilities& caps, const ConversionData& data) {
  const std::string& dataset = data.name();
  const int64_t first = o.sim.first_image, test_size = data.test_size(), available = test_size - first;
  if (first < 0 || first >= test_size)
    fail_input("--first-image", std::to_string(first) + " is outside the " + dataset + " test set of " +
                                    std::to_string(test_size) + " images");
  if (o.sim.images > available)
    fail_input("--images", std::to_string(o.sim.images) + " requested from image " + std::to_string(first) + ", the " +
                               dataset + " test set has " + std::to_string(test_size));
  const int64_t images = o.sim.images > 0          ? o.sim.images
                         : caps.default_images > 0 ? std::min<int64_t>(caps.default_images, available)
                                                   : available;
  return {first, images};
}

// A distributed run simulates this rank's share of the images (backends/sharded_simulation.h); an exporter
// writes on rank 0, from the whole range.
Range rank_share(const ConvertRunOptions& o, const Capabilities& caps, int64_t images) {
  Communicator& comm = world();
  return caps.simulates
             ? image_share(
                   images,
                   o.sim.propagation == Propagation::dense ? (o.sim.batch > 0 ? o.sim.batch : kCpuDenseBatch) : 1,
                   comm.rank(), comm.size())
             : Range{0, images};
}

// Simulates r.conversion.net on this rank's `test` rows (images [first + share.first, ...) of the set), gathers
// the ranks' results and writes the result folder.
void simulate_and_write(const ConvertRunOptions& o, ConvertRunResult& r, Backend& backend, const Dataset& test,
                        int64_t first, Range share, const std::string& dataset) {
  SimOptions sim = o.sim;
  sim.first_image = first + share.first;
  sim.images = share.count;
  r.sim = backend.simulate(r.conversion.net, test, sim);
  gather_results(r.sim, world(), sim.steps * r.conversion.net.dt_ms / 1000.0);
  for (int t : report_steps(sim.steps, r.conversion.net.dt_ms)) r.windows.push_back({t, r.sim.accuracy_at(t)});
  on_root([&] { write_results(o, r, dataset); });
}

// `convert network.nir`: the graph is a spiking network already; it is read and simulated.
ConvertRunResult run_nir(const ConvertRunOptions& o, Backend& backend, const Capabilities& caps) {
  if (!caps.simulates)
    fail_input("--backend", "a NIR graph is a spiking network already: simulate it (--backend cpu), not " + o.backend);
  for (const char* f : {"--norm", "--percentile", "--channel-norm", "--neuron", "--lif", "--pool", "--softplus-offset",
                        "--norm-images", "--dt", "--export-exact", "--calibrate", "--calibrate-steps"})
    if (has(o.flags_given, std::string(f)))
      fail_input(f, "does not apply to a NIR graph (its neurons, weights and time step come from the file)");
  ConvertRunOptions checked = o;  // the neurons come from the file; the other flags are checked as usual
  checked.convert.neuron = snn::NeuronModel::if_reset_zero;
  check_supported(checked, caps);
  check_simulation_flags(o);
  ConvertRunResult r;
  r.out_dir = result_dir(o);
  const auto start = std::chrono::steady_clock::now();
  nir::Import imported = nir::network_from_nir(o.checkpoint);
  r.conversion.net = std::move(imported.net);
  r.conversion.notes = std::move(imported.notes);
  snn::Network& net = r.conversion.net;
  net.input = o.convert.input;
  net.v_init = o.convert.v_init;
  snn::validate(net);
  r.convert_seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  DataSpec spec;
  spec.name = o.dataset.empty() ? "mnist" : o.dataset;
  spec.path = o.data_dir;
  check_dataset_name(spec.name, "--dataset");
  const ConversionData data(spec, net.input_shape.at(0));
  const Range range = image_range(o, caps, data);
  const Range share = rank_share(o, caps, range.count);
  const Dataset test = data.test_rows(range.first + share.first, share.count);
  if (test.sample_shape() != net.input_shape)
    fail_input("--dataset", spec.name + " images are " + to_string(test.sample_shape()) + ", the graph's Input is " +
                                to_string(net.input_shape));
  r.ann_accuracy = std::nan("");  // no ANN
  if (!o.quiet) {
    std::printf("read %s: %lld neurons, %lld synapses in %.3f s\n", o.checkpoint.c_str(),
                static_cast<long long>(net.neurons()), static_cast<long long>(net.synapses()), r.convert_seconds);
    for (const auto& n : r.conversion.notes) std::printf("  note: %s\n", n.c_str());
    std::fflush(stdout);
  }
  simulate_and_write(o, r, backend, test, range.first, share, data.name());
  return r;
}

}  // namespace

ConvertRunResult run_conversion(const ConvertRunOptions& options) {
  ConvertRunOptions o = options;
  std::unique_ptr<Backend> backend = make_backend(o.backend);
  const Capabilities caps = backend->capabilities();
  if (!caps.simulates && !caps.exports) fail_internal("backend '" + o.backend + "' neither simulates nor exports");
  backend->check_ready();
  // Without --propagation, a simulator runs the kernel it lists first (cpu: event; cuda: dense).
  if (caps.simulates && !has(o.flags_given, std::string("--propagation")) &&
      o.sim.propagation == SimOptions{}.propagation && !caps.propagations.empty())
    o.sim.propagation = caps.propagations.front();
  if (nir::is_nir_path(o.checkpoint)) return run_nir(o, *backend, caps);
  check_supported(o, caps);  // what the flags ask for is refused before anything is loaded
  LoadedModel m = load_any_model(o.checkpoint);
  apply_qcfs_defaults(o, m.model);
  check_supported(o, caps);  // and what a QCFS checkpoint's defaults ask for
  check_simulation_flags(o);
  if (o.convert.calibrate_images == 0 && has(o.flags_given, std::string("--calibrate-steps")))
    fail_input("--calibrate-steps", "applies with --calibrate N");
  if (o.convert.calibrate_images > 0 && o.convert.calibrate_steps <= 0) o.convert.calibrate_steps = o.sim.steps;
  if (o.convert.calibrate_images > 0 && !o.export_exact.empty())
    fail_input("--calibrate", "tunes biases to the CPU simulator's dynamics, not to --export-exact " + o.export_exact);
  if (!(o.convert.dt_ms > 0)) fail_input("--dt", "must be > 0");
  if (!(o.convert.percentile > 0 && o.convert.percentile <= 100)) fail_input("--percentile", "must be in (0, 100]");
  ConvertRunResult r;
  r.out_dir = result_dir(o);
  // What an export would refuse is refused before converting (spike-norm can take minutes).
  if (!caps.simulates) backend->check_export(r.out_dir, export_options(o, caps.default_images));
  // Spike-norm calibrates by simulating, whichever backend receives the network.
  std::unique_ptr<Backend> own_calibrator =
      caps.simulates || (o.convert.norm != snn::Norm::spike && o.convert.calibrate_images == 0)
          ? nullptr
          : make_backend(caps.calibrator);
  Backend* calibrator = caps.simulates ? backend.get() : own_calibrator.get();
  const ConversionData data(m, o.dataset, o.data_dir);
  const std::string& dataset = data.name();
  const Range range = image_range(o, caps, data);
  const int64_t first = range.first, images = range.count;
  o.convert.input_affine = data.affine();
  const Range share = rank_share(o, caps, images);
  const Dataset test = data.test_rows(first + share.first, share.count);

  const auto start = std::chrono::steady_clock::now();
  r.conversion = snn::convert(m.model, data.train_rows(norm_rows(o.convert)), o.convert, calibrator, o.checkpoint);
  r.convert_seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  if (o.export_exact == "spinnaker") {
    r.conversion.net = spinnaker::as_exported(r.conversion.net, true);
    r.conversion.notes.push_back(
        "export-exact: cells reset to a value, one-step delays, weights at sPyNNaker's 16-bit resolution");
  } else if (o.export_exact == "nir") {
    r.conversion.net = nir::as_nir_exported(r.conversion.net);
    r.conversion.notes.push_back("export-exact nir: cells reset to zero, membranes start at 0, no synaptic delay");
  }
  // A simulator's ranks hold a share of the images each; an exporter's, all of them.
  int64_t ann_right = ann_correct(m.model, test, o.convert.input_affine);
  if (caps.simulates) ann_right = world().sum_over_ranks(ann_right);
  r.ann_accuracy = static_cast<double>(ann_right) / static_cast<double>(images);
  if (!o.quiet) print_conversion(o, r);
  if (!caps.simulates) {
    on_root(
        [&] { r.export_result = backend->export_to(r.conversion.net, test, export_options(o, images), r.out_dir); });
    r.exported = true;
    return r;
  }
  simulate_and_write(o, r, *backend, test, first, share, dataset);
  return r;
}

}  // namespace sf
