// The `spikeforge` command. Thin by design: parse arguments, call the library, print. Errors print one line
// and exit 2 for bad input, 3 for numerical failure (NaN/Inf), 1 for internal errors.
#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <iostream>
#include <map>
#include <set>
#include <string>
#include <vector>

#include "core/enum_names.h"
#include "core/error.h"
#include "backends/conversion_run.h"
#include "backends/reproduce.h"
#include "datasets/dataset.h"
#include "train/progress.h"
#include "train/run.h"
#include "models/zoo.h"

namespace {

const char* kUsage =
    "usage: spikeforge <command> [options]\n"
    "\n"
    "commands:\n"
    "  train CONFIG.yaml [--set KEY=VALUE]... [--out DIR] [--threads N]\n"
    "        train an experiment; writes DIR (default runs/<name>/): config.yaml, history.csv,\n"
    "        summary.json, model.sfm\n"
    "  evaluate MODEL.sfm [--dataset mnist|fashion_mnist] [--data-dir DIR] [--batch N] [--threads N]\n"
    "        test accuracy and loss of a checkpoint\n"
    "  info CONFIG.yaml [--set KEY=VALUE]...\n"
    "        the model's layer table (name, type, output shape, parameters, MACs)\n"
    "  convert MODEL.sfm [--backend cpu] [--norm none|data|robust|spike] [--percentile 99.9]\n"
    "        [--neuron if|if_subtract|lif] [--input poisson|current|regular] [--max-rate HZ] [--steps N]\n"
    "        [--dt MS] [--images N] [--pool auto|spiking|merged] [--propagation event|dense] [--batch N]\n"
    "        [--v-init F] [--softplus-offset on|off] [--export-exact]\n"
    "        [--norm-images N] [--seed N] [--record-input] [--lif KEY=VALUE]... [--dataset NAME]\n"
    "        [--data-dir DIR] [--threads N]\n"
    "        [--out DIR]\n"
    "        convert to a rate-coded SNN and simulate it; writes DIR (default <model folder>/convert-cpu/):\n"
    "        summary.json, accuracy_vs_time.{csv,svg}, layers.csv, predictions.csv, network.json\n"
    "  convert MODEL.sfm --backend spinnaker [--images 100] [--neurons-per-core 256]\n"
    "        [--conv-connector list|convolution] [--force] [--out DIR] (+ the conversion options above)\n"
    "        export a PyNN / sPyNNaker project: run.py, connections/, input spikes, resources.json\n"
    "  reproduce liu2017|tensor_genn [--trials N] [--images N] [--dt MS] [--lif KEY=VALUE]... [--data-dir DIR]\n"
    "        [--threads N] [--out DIR]\n"
    "        train (or reuse) and convert the nets of a paper table; prints ours beside the paper's and\n"
    "        writes DIR (default runs/reproduce-<table>/): table.md, results.json\n";

struct Args {
  std::string command;
  std::vector<std::string> flags;  // every option given, to reject ones the command does not take
  std::vector<std::string> positional;
  std::vector<std::string> sets;
  std::string out, dataset, data_dir;
  int threads = 0, batch = 0;
  std::map<std::string, std::string> values;  // the conversion options, by flag
  std::vector<std::string> lif;               // --lif KEY=VALUE, in order
  bool record_input = false, force = false, export_exact = false;
};

// Options that take a value and are read by the command that allows them.
const std::set<std::string> kValueFlags = {"--backend", "--norm",   "--percentile",   "--neuron", "--input",
                                           "--max-rate", "--steps", "--dt",           "--images", "--pool",
                                           "--propagation", "--v-init", "--norm-images", "--seed", "--trials",
                                           "--neurons-per-core", "--conv-connector", "--softplus-offset"};

[[noreturn]] void usage_error(const std::string& msg) { throw sf::Error(sf::ErrorKind::BadInput, msg + "\n" + kUsage); }

double parse_double(const std::string& flag, const std::string& v) {
  try {
    size_t used = 0;
    const double x = std::stod(v, &used);
    if (used == v.size() && std::isfinite(x)) return x;
  } catch (const std::exception&) {
  }
  usage_error(flag + ": expected a number, got '" + v + "'");
}

int parse_int(const std::string& flag, const std::string& v) {
  try {
    size_t used = 0;
    const int x = std::stoi(v, &used);
    if (used == v.size() && x >= 0) return x;
  } catch (const std::exception&) {
  }
  usage_error(flag + ": expected a non-negative integer, got '" + v + "'");
}

Args parse(int argc, char** argv) {
  Args a;
  if (argc < 2) usage_error("missing command");
  a.command = argv[1];
  for (int i = 2; i < argc; ++i) {
    const std::string arg = argv[i];
    auto value = [&]() -> std::string {
      if (i + 1 >= argc) usage_error(arg + " needs a value");
      a.flags.push_back(arg);
      return argv[++i];
    };
    if (arg == "--set")
      a.sets.push_back(value());
    else if (arg == "--out")
      a.out = value();
    else if (arg == "--threads") {
      a.threads = parse_int(arg, value());
      if (a.threads > 1024) usage_error("--threads: at most 1024");
    } else if (arg == "--dataset")
      a.dataset = value();
    else if (arg == "--data-dir")
      a.data_dir = value();
    else if (arg == "--batch")
      a.batch = parse_int(arg, value());
    else if (arg == "--lif")
      a.lif.push_back(value());
    else if (kValueFlags.count(arg))
      a.values[arg] = value();
    else if (arg == "--record-input")
      a.record_input = true, a.flags.push_back(arg);
    else if (arg == "--force")
      a.force = true, a.flags.push_back(arg);
    else if (arg == "--export-exact")
      a.export_exact = true, a.flags.push_back(arg);
    else if (arg.rfind("--", 0) == 0)
      usage_error("unknown option " + arg);
    else
      a.positional.push_back(arg);
  }
  return a;
}

void allow_only(const Args& a, std::initializer_list<const char*> allowed) {
  for (const auto& f : a.flags)
    if (std::none_of(allowed.begin(), allowed.end(), [&](const char* x) { return f == x; }))
      usage_error(a.command + " does not take " + f);
}

const std::string& one_positional(const Args& a, const char* what) {
  if (a.positional.size() != 1) usage_error(a.command + " takes exactly one " + what);
  return a.positional[0];
}

int cmd_train(const Args& a) {
  allow_only(a, {"--set", "--out", "--threads"});
  std::vector<std::string> sets = a.sets;
  if (a.threads > 0) sets.push_back("threads=" + std::to_string(a.threads));
  const sf::Experiment e = sf::load_experiment(one_positional(a, "CONFIG.yaml"), sets);
  const bool tty = ::isatty(STDOUT_FILENO);
  sf::ConsoleProgress progress(stdout, tty);
  std::printf("training %s (%s, %s, %d epochs, batch %d) from %s\n", e.name.c_str(), e.model.arch.c_str(),
              e.model.activation.c_str(), e.train.epochs, e.train.batch, e.source.c_str());
  const sf::RunResult r = sf::run_experiment(e, {a.out, &progress});
  std::printf(
      "test_accuracy=%.4f test_loss=%.6f train_seconds=%.2f parameters=%lld\nwrote "
      "%s/{config.yaml,history.csv,summary.json,model.sfm}\n",
      r.test.accuracy, r.test.loss, r.train_seconds, static_cast<long long>(r.parameters), r.out_dir.c_str());
  return 0;
}

int cmd_evaluate(const Args& a) {
  allow_only(a, {"--dataset", "--data-dir", "--batch", "--threads"});
  const std::string& path = one_positional(a, "MODEL.sfm");
  sf::set_threads(a.threads);
  sf::LoadedModel m = sf::load_model(path);
  const std::string dataset = a.dataset.empty() ? m.dataset : a.dataset;
  const sf::DatasetSplit data = sf::load_dataset(dataset, a.data_dir);
  sf::TrainSpec spec;
  spec.loss = m.loss;
  spec.l1 = m.l1, spec.l2 = m.l2;
  if (a.batch > 0) spec.eval_batch = a.batch;
  sf::Trainer trainer(m.model, spec, sf::Device::cpu, 0);
  const sf::EvalResult r = trainer.evaluate(data.test);
  std::printf("%s on %s test (%lld images): accuracy=%.4f loss=%.6f\n", path.c_str(), dataset.c_str(),
              static_cast<long long>(r.count), r.accuracy, r.loss);
  return 0;
}

int cmd_info(const Args& a) {
  allow_only(a, {"--set"});
  const sf::Experiment e = sf::load_experiment(one_positional(a, "CONFIG.yaml"), a.sets);
  const sf::Model m = sf::build_model(e.model, e.seed);
  std::printf("%s: %s with %s\n%s", e.name.c_str(), e.model.arch.c_str(), e.model.activation.c_str(),
              m.summary().c_str());
  return 0;
}

// Conversion options from the flags; the library validates ranges and names the flag in its errors.
sf::ConvertRunOptions convert_options(const Args& a) {
  sf::ConvertRunOptions o;
  auto get = [&](const char* flag) -> const std::string* {
    auto it = a.values.find(flag);
    return it == a.values.end() ? nullptr : &it->second;
  };
  if (auto v = get("--backend")) o.backend = *v;
  if (auto v = get("--norm")) o.convert.norm = sf::snn::parse_norm(*v);
  if (auto v = get("--percentile")) o.convert.percentile = parse_double("--percentile", *v);
  if (auto v = get("--neuron")) o.convert.neuron = sf::snn::parse_neuron_model(*v);
  if (auto v = get("--input")) o.convert.input.kind = sf::snn::parse_input_encoding(*v);
  if (auto v = get("--max-rate")) o.convert.input.max_rate_hz = parse_double("--max-rate", *v);
  if (auto v = get("--dt")) o.convert.dt_ms = parse_double("--dt", *v);
  if (auto v = get("--pool")) o.convert.pools = sf::snn::parse_pool_mode(*v);
  if (auto v = get("--v-init")) o.convert.v_init = parse_double("--v-init", *v);
  if (auto v = get("--softplus-offset")) {
    constexpr std::pair<bool, const char*> kOnOff[] = {{true, "on"}, {false, "off"}};
    o.convert.softplus_offset = sf::parse_name(kOnOff, *v, "--softplus-offset", "setting");
  }
  if (auto v = get("--norm-images")) o.convert.norm_images = parse_int("--norm-images", *v);
  if (auto v = get("--steps")) {
    const double steps = parse_double("--steps", *v);
    if (!(steps >= 1) || steps != std::floor(steps) || steps > 1e7)
      usage_error("--steps: expected a whole number of steps ≥ 1, got '" + *v + "'");
    o.sim.steps = static_cast<int>(steps);
  }
  if (auto v = get("--images")) {
    o.sim.images = parse_int("--images", *v);
    if (o.sim.images == 0) usage_error("--images: expected at least 1");
  }
  if (auto v = get("--seed")) o.sim.seed = o.convert.seed = static_cast<uint64_t>(parse_int("--seed", *v));
  if (auto v = get("--propagation")) {
    if (*v != "event" && *v != "dense") usage_error("--propagation: event or dense, got '" + *v + "'");
    o.sim.propagation = *v == "event" ? sf::Propagation::event : sf::Propagation::dense;
  }
  sf::apply_lif_overrides(o.convert.lif, a.lif);
  if (a.batch > 0) o.sim.batch = a.batch;
  if (auto v = get("--neurons-per-core")) o.neurons_per_core = parse_int("--neurons-per-core", *v);
  if (auto v = get("--conv-connector")) o.conv_connector = sf::spinnaker::parse_conv_connector(*v);
  o.force = a.force;
  o.export_exact = a.export_exact;
  o.sim.record_input = a.record_input;
  o.out_dir = a.out;
  o.dataset = a.dataset;
  o.data_dir = a.data_dir;
  return o;
}

int cmd_convert(const Args& a) {
  allow_only(a, {"--backend", "--norm", "--percentile", "--neuron", "--input", "--max-rate", "--steps", "--dt",
                 "--images", "--pool", "--propagation", "--batch", "--v-init", "--softplus-offset", "--norm-images", "--seed", "--record-input", "--lif",
                 "--export-exact", "--neurons-per-core", "--conv-connector", "--force",
                 "--dataset", "--data-dir", "--threads", "--out"});
  sf::ConvertRunOptions o = convert_options(a);
  o.checkpoint = one_positional(a, "MODEL.sfm");
  // Options of the other kind of backend would be ignored: say so instead.
  const bool exporting = o.backend == "spinnaker";
  for (const auto& f : a.flags) {
    const bool export_only = f == "--neurons-per-core" || f == "--conv-connector" || f == "--force";
    const bool simulate_only = f == "--propagation" || f == "--batch" || f == "--record-input" || f == "--export-exact";
    if ((export_only && !exporting) || (simulate_only && exporting))
      usage_error(f + " does not apply to --backend " + o.backend);
  }
  sf::set_threads(a.threads);
  const sf::ConvertRunResult r = sf::run_conversion(o);
  if (r.exported) {
    std::printf("%s\nexported %lld images in %.2f s to %s/{run.py,README.md,network.json,connections/,"
                "input_spikes.csv,test_images.csv,resources.json}\nrun: python3 %s/run.py --simulator spinnaker "
                "(or --simulator brian2 --images 10)\n",
                r.report.c_str(), static_cast<long long>(o.sim.images > 0 ? o.sim.images : 100), r.export_seconds,
                r.out_dir.c_str(), r.out_dir.c_str());
    return 0;
  }
  std::printf("windows:");
  for (const auto& w : r.windows) std::printf(" %d:%.4f", w.step, w.accuracy);
  std::printf("\nann_accuracy=%.4f snn_accuracy=%.4f steps=%d images=%lld seconds=%.2f\nwrote %s/{summary.json,"
              "accuracy_vs_time.csv,accuracy_vs_time.svg,layers.csv,predictions.csv,network.json}\n",
              r.ann_accuracy, r.sim.accuracy_at(r.sim.steps), r.sim.steps, static_cast<long long>(r.sim.images),
              r.sim.seconds, r.out_dir.c_str());
  return 0;
}

int cmd_reproduce(const Args& a) {
  allow_only(a, {"--trials", "--images", "--lif", "--dt", "--data-dir", "--threads", "--out"});
  sf::ReproduceOptions o;
  o.table = one_positional(a, "table name");
  if (auto it = a.values.find("--trials"); it != a.values.end()) o.trials = parse_int("--trials", it->second);
  if (auto it = a.values.find("--images"); it != a.values.end()) o.images = parse_int("--images", it->second);
  if (auto it = a.values.find("--dt"); it != a.values.end()) {
    o.dt_ms = parse_double("--dt", it->second);
    if (!(o.dt_ms > 0)) usage_error("--dt: must be > 0");
  }
  o.lif = a.lif;
  o.data_dir = a.data_dir;
  o.out_dir = a.out;
  sf::set_threads(a.threads);
  const sf::ReproduceResult r = sf::reproduce(o);
  std::printf("\n%s\nwrote %s/{table.md,results.json}\n", r.markdown.c_str(), r.out_dir.c_str());
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  try {
    const Args a = parse(argc, argv);
    if (a.command == "train") return cmd_train(a);
    if (a.command == "evaluate") return cmd_evaluate(a);
    if (a.command == "info") return cmd_info(a);
    if (a.command == "convert") return cmd_convert(a);
    if (a.command == "reproduce") return cmd_reproduce(a);
    if (a.command == "-h" || a.command == "--help" || a.command == "help") {
      std::fputs(kUsage, stdout);
      return 0;
    }
    usage_error("unknown command '" + a.command + "'");
  } catch (const sf::Error& e) {
    std::fflush(stdout);
    std::fprintf(stderr, "\nspikeforge: error: %s\n", e.what());
    return sf::exit_code(e);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "\nspikeforge: internal error: %s\n", e.what());
    return 1;
  }
}
