// The `spikeforge` command. Thin by design: parse arguments (CLI11), call the library, print. Errors print one
// line and exit 2 for bad input, 3 for numerical failure (NaN/Inf), 1 for internal errors.
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <charconv>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <limits>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "backends/conversion_run.h"
#include "backends/reproduce.h"
#include "backends/spinnaker/exporter.h"
#include "core/distributed.h"
#include "core/enum_names.h"
#include "core/error.h"
#include "core/io.h"
#include "datasets/dataset.h"
#include "datasets/open.h"
#include "interchange/import_run.h"
#include "models/zoo.h"
#include "train/progress.h"
#include "train/resume.h"
#include "train/run.h"

namespace {

constexpr long long kNoLimit = std::numeric_limits<long long>::max();

// Whole numbers in [lo, hi], read in base 10 (CLI11's own conversion reads 010 as octal) and also as a whole
// double (--steps 1e3); a transform, so that CLI11's conversion after it gets the value in plain decimal.
CLI::Validator whole(long long lo, long long hi = kNoLimit) {
  return CLI::Validator(
      [lo, hi](std::string& s) -> std::string {
        const char *b = s.data(), *e = b + s.size();
        long long v = 0;
        if (auto [p, ec] = std::from_chars(b, e, v); ec != std::errc() || p != e) {
          double d = 0;
          auto [q, ec2] = std::from_chars(b, e, d);
          if (ec2 != std::errc() || q != e || d != std::floor(d) || !(std::fabs(d) < 9e15))
            return "expected a whole number, got '" + s + "'";
          v = static_cast<long long>(d);
        }
        if (v < lo || v > hi)
          return "expected " +
                 (hi == kNoLimit ? "at least " + std::to_string(lo)
                                 : "a number from " + std::to_string(lo) + " to " + std::to_string(hi)) +
                 ", got " + s;
        s = std::to_string(v);
        return "";
      },
      "");
}

// Finite numbers (CLI11 would take inf and nan), optionally > 0.
CLI::Validator finite(bool positive = false) {
  return CLI::Validator(
      [positive](std::string& s) -> std::string {
        double d = 0;
        const char *b = s.data(), *e = b + s.size();
        if (auto [p, ec] = std::from_chars(b, e, d); ec != std::errc() || p != e || !std::isfinite(d))
          return "expected a number, got '" + s + "'";
        if (positive && !(d > 0)) return "must be > 0, got " + s;
        return "";
      },
      "");
}

// A choice flag read through a parse function of the library, whose enum_names table holds the choices and
// whose error ("--norm: unknown normalisation 'max' (none, data, robust, spike)") lists them.
template <class T, class Parse>
CLI::Option* add_choice(CLI::App* cmd, const std::string& flag, T& target, Parse parse, const std::string& help) {
  return cmd->add_option_function<std::string>(
      flag, [&target, parse](const std::string& s) { target = parse(s); }, help);
}

constexpr std::pair<bool, const char*> kOnOff[] = {{true, "on"}, {false, "off"}};
constexpr std::pair<sf::Propagation, const char*> kPropagation[] = {{sf::Propagation::event, "event"},
                                                                    {sf::Propagation::dense, "dense"}};

// Every option of every command, bound to the values the commands pass on to the library.
struct Cli {
  CLI::App app{"Trains MNIST ConvNets and converts them to rate-coded spiking networks.", "spikeforge"};
  CLI::App *train, *evaluate, *info, *convert, *reproduce, *import;
  std::string device = "cpu";

  std::string path;  // the positional: CONFIG.yaml or MODEL.sfm
  std::vector<std::string> sets, lif;
  std::string out, dataset, data_dir, resume, predictions, input_shape, import_loss;
  bool force = false;
  int threads = 0;
  int64_t eval_batch = sf::TrainSpec{}.eval_batch;
  int64_t seed = static_cast<int64_t>(sf::SimOptions{}.seed);
  sf::ConvertRunOptions conv;
  sf::ReproduceOptions rep;

  Cli() {
    // A flag given twice keeps its last value, as before CLI11; --set and --lif collect every occurrence.
    app.option_defaults()->multi_option_policy(CLI::MultiOptionPolicy::TakeLast);
    app.require_subcommand(1);

    train = app.add_subcommand("train",
                               "train an experiment; writes DIR (default runs/<name>/): config.yaml, history.csv, "
                               "summary.json, model.sfm");
    auto* config = train->add_option("CONFIG.yaml", path, "experiment file");
    add_sets(train);
    train->add_option("--out", out, "output folder (default runs/<name>/)")->type_name("DIR");
    add_threads(train);
    auto* resume_opt = train
                           ->add_option("--resume", resume,
                                        "continue the killed or failed run in DIR from its checkpoint.sfm, with "
                                        "DIR/config.yaml (no CONFIG, --set, --out, --threads)")
                           ->type_name("DIR");
    train->add_flag("--force", force, "start over in a folder that holds a completed, failed or unfinished run");
    config->excludes(resume_opt);
    train->footer(
        "one of CONFIG.yaml and --resume DIR is required; a checkpoint.sfm is written every epoch and every "
        "train.checkpoint_every steps");

    evaluate = app.add_subcommand("evaluate", "test accuracy and loss of a checkpoint (or an ONNX file)");
    evaluate->add_option("MODEL", path, "checkpoint (.sfm) or ONNX model (.onnx)")->required();
    evaluate
        ->add_option("--predictions", predictions,
                     "also write each test image's label, predicted class and outputs to FILE.csv")
        ->type_name("FILE.csv");
    add_data(evaluate,
             "dataset to test on: mnist|fashion_mnist|cifar10|cifar100|image_folder (default: the checkpoint's, with "
             "its eval transforms)");
    evaluate->add_option("--batch", eval_batch, "images per evaluation batch")
        ->transform(whole(1))
        ->capture_default_str();
    add_threads(evaluate);
    evaluate->add_option("--device", device, "cpu|cuda (cuda needs a CUDA build)")
        ->check(CLI::IsMember({"cpu", "cuda"}))
        ->capture_default_str();

    import = app.add_subcommand("import",
                                "import an ANN trained elsewhere from ONNX; writes DIR/model.sfm and DIR/config.yaml "
                                "and prints the layer table");
    import->add_option("MODEL.onnx", path, "ONNX model (opsets 9-17)")->required();
    import->add_option("--out", out, "output folder (default runs/<model name>/)")->type_name("DIR");
    import->add_option("--input-shape", input_shape,
                       "C,H,W of one input image, where the model's own input dims are dynamic or flat");
    import->add_option("--dataset", dataset, "dataset evaluate and convert read by default (default mnist)");
    import->add_flag("--force", force, "replace the model.sfm and config.yaml of a folder that holds them");
    import
        ->add_option("--loss", import_loss,
                     "mse|crossentropy: the loss evaluate reports and fine-tuning trains (default crossentropy)")
        ->check(CLI::IsMember({"mse", "crossentropy"}));

    info = app.add_subcommand("info", "the model's layer table (name, type, output shape, parameters, MACs)");
    info->add_option("CONFIG.yaml", path, "experiment file")->required();
    add_sets(info);

    convert = app.add_subcommand("convert",
                                 "convert to a rate-coded SNN and simulate it (--backend cpu), export a "
                                 "PyNN / sPyNNaker project (--backend spinnaker) or a NIR graph (--backend nir)");
    convert->footer(
        "--backend cpu writes DIR (default <model folder>/convert-cpu/): summary.json, accuracy_vs_time.{csv,svg},\n"
        "layers.csv, predictions.csv, network.json. --backend spinnaker writes run.py, connections/, input spikes,\n"
        "resources.json; --neurons-per-core, --conv-connector and --force are its own, --propagation, --batch,\n"
        "--record-input and --export-exact the simulator's. --backend nir writes network.nir and README.md.");
    add_convert_options(convert);

    reproduce = app.add_subcommand("reproduce",
                                   "train (or reuse) and convert the nets of a paper table; prints ours "
                                   "beside the paper's and writes DIR (default runs/reproduce-<table>/): "
                                   "table.md, results.json");
    std::string tables;
    for (const auto& t : sf::reproducible_tables()) tables += (tables.empty() ? "" : "|") + t;
    reproduce->add_option("TABLE", rep.table, tables)->required();
    reproduce->add_option("--trials", rep.trials, "trials (seeds 1..N)")->transform(whole(0))->capture_default_str();
    reproduce
        ->add_option("--images", rep.images,
                     "test images per conversion, and at most as many calibration images (default all)")
        ->transform(whole(1));
    reproduce->add_option("--dt", rep.dt_ms, "time step (default the paper's; the run keeps its duration in ms)")
        ->type_name("MS")
        ->check(finite(true));
    add_lif(reproduce);
    add_data(reproduce, "mobilenet: fashion_mnist (default) or cifar10 (needs the CIFAR-10 files)");
    add_sets(reproduce);
    add_threads(reproduce);
    reproduce->add_option("--out", out, "output folder (default runs/reproduce-<table>/)")->type_name("DIR");
    app.footer("spikeforge COMMAND --help lists a command's options.");  // after the commands: they copy it
  }

  void add_sets(CLI::App* cmd) {
    cmd->add_option("--set", sets, "override a config key (repeatable), e.g. --set train.epochs=2")
        ->type_name("KEY=VALUE")
        ->allow_extra_args(false)
        ->multi_option_policy(CLI::MultiOptionPolicy::TakeAll);
  }
  void add_lif(CLI::App* cmd) {
    cmd->add_option("--lif", lif,
                    "IF_curr_exp parameter (repeatable): cm, tau_m, tau_refrac, v_rest, v_reset, v_thresh, tau_syn, "
                    "i_offset")
        ->type_name("KEY=VALUE")
        ->allow_extra_args(false)
        ->multi_option_policy(CLI::MultiOptionPolicy::TakeAll);
  }
  void add_threads(CLI::App* cmd) {
    cmd->add_option("--threads", threads, "OpenMP threads (0 = all cores)")->type_name("N")->transform(whole(0, 1024));
  }
  void add_data(CLI::App* cmd, const std::string& dataset_help) {
    cmd->add_option("--dataset", dataset, dataset_help);
    cmd->add_option("--data-dir", data_dir, "dataset folder (default data/<dataset>/)")->type_name("DIR");
  }

  void add_convert_options(CLI::App* c) {
    c->add_option("MODEL", conv.checkpoint,
                  "checkpoint (.sfm) or ONNX model (.onnx) to convert, or a NIR graph (.nir) to simulate")
        ->required();
    c->add_option("--backend", conv.backend, "cpu|spinnaker|nir")->capture_default_str();
    add_choice(c, "--norm", conv.convert.norm, sf::snn::parse_norm,
               "normalisation: none|data|robust|spike|qcfs (a QCFS checkpoint's default)")
        ->default_str(sf::snn::to_string(conv.convert.norm));
    c->add_option("--percentile", conv.convert.percentile, "robust normalisation's percentile, in (0, 100]")
        ->check(finite())
        ->capture_default_str();
    c->add_flag("--channel-norm", conv.convert.channel_norm,
                "data/robust: one λ per channel of every hidden layer (Spiking-YOLO), not one per layer");
    add_choice(c, "--neuron", conv.convert.neuron, sf::snn::parse_neuron_model,
               "neuron model: if|if_subtract|if_signed|lif")
        ->default_str(sf::snn::to_string(conv.convert.neuron));
    add_choice(c, "--input", conv.convert.input.kind, sf::snn::parse_input_encoding,
               "input encoding: poisson|current|regular")
        ->default_str(sf::snn::to_string(conv.convert.input.kind));
    c->add_option("--max-rate", conv.convert.input.max_rate_hz, "input rate of a pixel of value 1")
        ->type_name("HZ")
        ->check(finite())
        ->capture_default_str();
    c->add_option("--steps", conv.sim.steps, "time steps per image")
        ->transform(whole(1, 10'000'000))
        ->capture_default_str();
    c->add_option("--dt", conv.convert.dt_ms, "time step")->type_name("MS")->check(finite())->capture_default_str();
    c->add_option("--images", conv.sim.images, "test images to simulate (default all; spinnaker: 100)")
        ->transform(whole(1));
    c->add_option("--first-image", conv.sim.first_image,
                  "simulate test images from this index on (held-out ranges; Poisson streams are keyed by index)")
        ->transform(whole(0))
        ->capture_default_str();
    add_choice(c, "--pool", conv.convert.pools, sf::snn::parse_pool_mode, "pooling: auto|spiking|merged")
        ->default_str("auto");
    add_choice(
        c, "--propagation", conv.sim.propagation,
        [](const std::string& s) { return sf::parse_name(kPropagation, s, "--propagation", "propagation"); },
        "spike propagation kernel: event|dense")
        ->default_str("cpu: event, cuda: dense");
    c->add_option("--batch", conv.sim.batch, "images per dense-propagation batch (default: cpu 32, cuda by memory)")
        ->transform(whole(1));
    c->add_option("--v-init", conv.convert.v_init, "IF membrane starts at F times the threshold")
        ->type_name("F")
        ->check(finite())
        ->capture_default_str();
    add_choice(
        c, "--softplus-offset", conv.convert.softplus_offset,
        [](const std::string& s) { return sf::parse_name(kOnOff, s, "--softplus-offset", "setting"); },
        "Softplus nets: raise the neuron input by f(0): on|off")
        ->default_str(sf::name_of(kOnOff, conv.convert.softplus_offset));
    c->add_option("--export-exact", conv.export_exact,
                  "simulate what an export describes: spinnaker (the default when no value is given) or nir")
        ->expected(0, 1)
        ->type_name("[spinnaker|nir]")
        // A bare word after the flag is its value: "--export-exact model.sfm" is refused here, naming the flag,
        // rather than taken as MODEL.
        ->check(CLI::Validator(
            [](std::string& s) {
              return s.empty() || s == "spinnaker" || s == "nir" ? std::string()
                                                                 : "'" + s + "' is no export target (spinnaker or nir)";
            },
            "", ""));
    c->add_option("--norm-images", conv.convert.norm_images, "training images data/robust normalisation reads")
        ->transform(whole(0))
        ->capture_default_str();
    c->add_option("--calibrate", conv.convert.calibrate_images,
                  "bias calibration (Li 2021) on N training images after normalisation; 0 = off")
        ->type_name("N")
        ->transform(whole(0))
        ->capture_default_str();
    c->add_option("--calibrate-steps", conv.convert.calibrate_steps, "the latency to calibrate for (default --steps)")
        ->type_name("T")
        ->transform(whole(1, 10'000'000));
    c->add_option("--seed", seed, "Poisson input seed")->transform(whole(0))->capture_default_str();
    c->add_flag("--record-input", conv.sim.record_input, "write every input spike to input_spikes.csv");
    add_lif(c);
    add_data(c, "dataset: mnist|fashion_mnist (default the checkpoint's)");
    add_threads(c);
    c->add_option("--out", conv.out_dir, "output folder (default <model folder>/convert-<backend>/)")->type_name("DIR");
    c->add_option("--neurons-per-core", conv.neurons_per_core, "spinnaker: neurons per core")
        ->transform(whole(0))
        ->capture_default_str();
    add_choice(c, "--conv-connector", conv.conv_connector, sf::spinnaker::parse_conv_connector,
               "spinnaker: conv layers as list|convolution connectors")
        ->default_str("list");
    c->add_flag("--force", conv.force, "spinnaker, nir: write into a folder that holds an export");
  }

  // The one-line message for a CLI11 parse error, naming the command and the flag where CLI11 does not.
  std::string message(const CLI::ParseError& e, int argc, char** argv) {
    std::string commands;
    for (const CLI::App* s : app.get_subcommands([](const CLI::App*) { return true; }))
      commands += (commands.empty() ? "" : ", ") + s->get_name();
    const std::vector<CLI::App*> parsed = app.get_subcommands();
    if (parsed.empty()) {
      if (argc >= 2 && argv[1][0] != '-') return "unknown command '" + std::string(argv[1]) + "' (" + commands + ")";
      return "missing command (" + commands + "; spikeforge --help describes them)";
    }
    const CLI::App* cmd = parsed[0];
    if (dynamic_cast<const CLI::ExtrasError*>(&e)) {
      const std::vector<std::string> extra = cmd->remaining();
      if (!extra.empty() && extra[0].rfind('-', 0) == 0)
        return cmd->get_name() + " does not take " + extra[0] + " (spikeforge " + cmd->get_name() + " --help)";
      const auto positional = cmd->get_options([](const CLI::Option* o) { return o->get_positional(); });
      return cmd->get_name() + " takes one " + (positional.empty() ? "argument" : positional[0]->get_name()) +
             "; unexpected '" + (extra.empty() ? "" : extra[0]) + "'";
    }
    if (dynamic_cast<const CLI::RequiredError*>(&e)) return cmd->get_name() + ": " + e.what();
    return e.what();
  }

  int run() {
    if (train->parsed()) return cmd_train();
    if (evaluate->parsed()) return cmd_evaluate();
    if (info->parsed()) return cmd_info();
    if (convert->parsed()) return cmd_convert();
    if (import->parsed()) return cmd_import();
    return cmd_reproduce();
  }

  int cmd_train() {
    const bool resuming = train->count("--resume") > 0;
    if (resuming) {
      // The run continues exactly as it started: its own config, folder and thread count.
      for (const char* f : {"--set", "--out", "--threads", "--force"})
        if (train->count(f)) sf::fail_input(f, "does not combine with --resume (the run keeps DIR/config.yaml)");
    } else if (path.empty()) {
      sf::fail_input("train", "CONFIG.yaml or --resume DIR is required");
    }
    if (threads > 0) sets.push_back("threads=" + std::to_string(threads));
    const sf::Experiment e = resuming ? sf::resume_experiment(resume) : sf::load_experiment(path, sets);
    if (resuming) out = resume;
    // mpirun hands rank 0 a pseudo-terminal even when its own output is a file: no live progress bar there.
    const bool tty = ::isatty(STDOUT_FILENO) && !sf::world().distributed();
    sf::ConsoleProgress progress(stdout, tty);
    std::printf("%s %s (%s, %s, %d epochs, batch %d) from %s\n", resuming ? "resuming" : "training", e.name.c_str(),
                e.model.arch.c_str(), e.model.activation.c_str(), e.train.epochs, e.train.batch, e.source.c_str());
    const sf::RunResult r = sf::run_experiment(e, {out, &progress, resuming, force});
    std::printf(
        "test_accuracy=%.4f test_loss=%.6f train_seconds=%.2f parameters=%lld\nwrote "
        "%s/{config.yaml,history.csv,summary.json,model.sfm}\n",
        r.test.accuracy, r.test.loss, r.train_seconds, static_cast<long long>(r.parameters), r.out_dir.c_str());
    return 0;
  }

  int cmd_evaluate() {
    sf::set_threads(threads);
    sf::LoadedModel m = sf::load_any_model(path);
    // The dataset and eval transforms the net was trained with; --dataset names another (no transforms).
    sf::DataSpec spec_data = m.data;
    if (!dataset.empty() && dataset != m.dataset) spec_data = sf::DataSpec{}, spec_data.name = dataset;
    if (!data_dir.empty()) spec_data.path = data_dir;
    const std::string& name = spec_data.name;
    const std::unique_ptr<sf::DataSplits> data = sf::open_dataset(sf::dataset_options(spec_data));
    const sf::Pipeline eval = sf::eval_pipeline(spec_data);
    std::optional<sf::TransformedSource> view;
    const sf::DataSource& test = eval.empty() ? data->test() : view.emplace(data->test(), eval);
    sf::TrainSpec spec;
    spec.loss = m.loss;
    spec.l1 = m.l1, spec.l2 = m.l2;
    spec.eval_batch = static_cast<int>(eval_batch);
    const sf::Device dev = sf::parse_device(device);
    if (const std::string why = sf::device_unavailable_reason(dev); !why.empty()) sf::fail_input("--device", why);
    sf::Trainer trainer(m.model, spec, dev, 0);
    sf::Predictions per_image;
    const sf::EvalResult r = trainer.evaluate(test, predictions.empty() ? nullptr : &per_image);
    if (!predictions.empty()) sf::on_root([&] { sf::write_file_atomic(predictions, sf::predictions_csv(per_image)); });
    std::printf("%s on %s test (%lld images): accuracy=%.4f", path.c_str(), name.c_str(),
                static_cast<long long>(r.count), r.accuracy);
    if (m.model.output_shape().at(0) >= 100) std::printf(" top5=%.4f", r.top5);  // ImageNet's, CIFAR-100's metric
    std::printf(" loss=%.6f\n", r.loss);
    if (!predictions.empty()) std::printf("wrote %s\n", predictions.c_str());
    return 0;
  }

  int cmd_import() {
    sf::OnnxImportOptions o;
    if (!input_shape.empty()) o.input_shape = parse_shape(input_shape);
    if (!dataset.empty()) o.dataset = dataset;
    o.loss = import_loss;
    if (out.empty()) out = "runs/" + std::filesystem::path(path).stem().string();
    const auto t0 = std::chrono::steady_clock::now();
    const sf::ImportResult r = sf::import_to_folder(path, out, o, force);
    const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    std::printf("%s: ONNX opset %lld from %s; %lld parameters, loss %s\n%s", path.c_str(),
                static_cast<long long>(r.imported.opset),
                r.imported.producer.empty() ? "?" : r.imported.producer.c_str(),
                static_cast<long long>(r.imported.model.parameter_count()), r.imported.loss.c_str(),
                r.imported.model.summary().c_str());
    for (const auto& n : r.imported.notes) std::printf("note: %s\n", n.c_str());
    std::printf("import_seconds=%.3f\nwrote %s/{model.sfm,config.yaml}\n", seconds, r.out_dir.c_str());
    return 0;
  }

  // "1,28,28" → {1, 28, 28}.
  static sf::Shape parse_shape(const std::string& text) {
    sf::Shape s;
    size_t pos = 0;
    while (pos <= text.size()) {
      const size_t comma = std::min(text.find(',', pos), text.size());
      int64_t v = 0;
      const char *b = text.data() + pos, *e = text.data() + comma;
      if (auto [p, ec] = std::from_chars(b, e, v); ec != std::errc() || p != e || v < 1)
        sf::fail_input("--input-shape", "expected C,H,W (three whole numbers >= 1), got '" + text + "'");
      s.push_back(v);
      pos = comma + 1;
    }
    if (s.size() != 3) sf::fail_input("--input-shape", "expected C,H,W (three numbers), got '" + text + "'");
    return s;
  }

  int cmd_info() {
    const sf::Experiment e = sf::load_experiment(path, sets);
    const sf::Model m = sf::build_model(e.model, e.seed);
    std::printf("%s: %s with %s\n%s", e.name.c_str(), e.model.arch.c_str(), e.model.activation.c_str(),
                m.summary().c_str());
    return 0;
  }

  int cmd_convert() {
    sf::ConvertRunOptions& o = conv;
    if (convert->count("--seed")) o.sim.seed = o.convert.seed = static_cast<uint64_t>(seed);
    if (convert->count("--export-exact") && o.export_exact.empty()) o.export_exact = "spinnaker";
    sf::apply_lif_overrides(o.convert.lif, lif);
    o.dataset = dataset;
    o.data_dir = data_dir;
    // The backend refuses the options of other backends it would ignore (its capabilities().options).
    for (const CLI::Option* f : convert->get_options())
      if (f->count() > 0) o.flags_given.push_back(f->get_name());
    sf::set_threads(threads);
    const sf::ConvertRunResult r = sf::run_conversion(o);
    if (r.exported) {
      std::printf("%s\n%s", r.export_result.report.c_str(), r.export_result.message.c_str());
      return 0;
    }
    std::printf("%s", sf::layer_table(r).c_str());
    std::printf("windows:");
    for (const auto& w : r.windows) std::printf(" %d:%.4f", w.step, w.accuracy);
    if (std::isfinite(r.ann_accuracy))
      std::printf("\nann_accuracy=%.4f", r.ann_accuracy);
    else
      std::printf("\nann_accuracy=-");  // a NIR graph has no ANN
    std::printf(
        " snn_accuracy=%.4f steps=%d images=%lld seconds=%.2f\nwrote %s/{summary.json,"
        "accuracy_vs_time.csv,accuracy_vs_time.svg,layers.csv,predictions.csv,network.json}\n",
        r.sim.accuracy_at(r.sim.steps), r.sim.steps, static_cast<long long>(r.sim.images), r.sim.seconds,
        r.out_dir.c_str());
    return 0;
  }

  int cmd_reproduce() {
    rep.lif = lif;
    rep.dataset = dataset;
    rep.sets = sets;
    rep.data_dir = data_dir;
    rep.out_dir = out;
    sf::set_threads(threads);
    const sf::ReproduceResult r = sf::reproduce(rep);
    std::printf("\n%s\nwrote %s/{table.md,results.json}\n", r.markdown.c_str(), r.out_dir.c_str());
    return 0;
  }
};

// In a distributed run (mpirun, srun) rank 0 alone prints results; every rank prints its own errors, prefixed
// with its rank. An error every rank raised alike (a check on shared data) ends each rank normally; one
// rank's own error (a file only it reads) aborts the job, since the others would wait on it forever.
int fail(const char* kind, const std::string& message, int code, bool every_rank) {
  std::fflush(stdout);
  std::fprintf(stderr, "\nspikeforge: %s%s: %s\n", sf::rank_prefix().c_str(), kind, message.c_str());
  std::fflush(stderr);
  if (sf::world().distributed() && !every_rank) sf::world().abort(code);
  return code;
}

int run_cli(int argc, char** argv) {
  try {
    Cli cli;
    if (argc == 2 && std::string(argv[1]) == "help") {
      std::fputs(cli.app.help().c_str(), stdout);
      return 0;
    }
    try {
      cli.app.parse(argc, argv);
    } catch (const CLI::Success& e) {  // --help / -h
      return cli.app.exit(e);
    } catch (const CLI::ParseError& e) {
      // Every rank parses the same command line.
      throw sf::Error(sf::ErrorKind::BadInput, cli.message(e, argc, argv)).on_every_rank();
    }
    return cli.run();
  } catch (const sf::Error& e) {
    return fail("error", e.what(), sf::exit_code(e), e.every_rank());
  } catch (const std::exception& e) {
    return fail("internal error", e.what(), 1, false);
  }
}

}  // namespace

int main(int argc, char** argv) {
  try {
    sf::start_distributed(&argc, &argv);
  } catch (const sf::Error& e) {
    std::fprintf(stderr, "spikeforge: error: %s\n", e.what());
    return sf::exit_code(e);
  }
  if (!sf::world().root() && !std::freopen("/dev/null", "w", stdout))
    std::fprintf(stderr, "spikeforge: %scannot silence stdout\n", sf::rank_prefix().c_str());
  const int code = run_cli(argc, argv);
  sf::stop_distributed();
  return code;
}
