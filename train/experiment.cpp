#include "train/experiment.h"

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <limits>
#include <sstream>

#include "core/device.h"
#include "datasets/dataset.h"
#include "models/zoo.h"
#include "ops/op_schema.h"
#include "ops/registry.h"

namespace sf {
namespace {

constexpr int kMaxThreads = 1024;  // far above any CPU this runs on; stops a typo from spawning 1e5 threads

template <class T>
std::string join(const std::vector<T>& v) {
  std::string out;
  for (const auto& x : v) out += (out.empty() ? "" : ", ") + std::string(x);
  return out;
}

std::string one_of(const ConfigNode& c, const std::string& key, const std::string& fallback,
                   const std::vector<const char*>& allowed) {
  const std::string v = c.get<std::string>(key, fallback);
  if (std::none_of(allowed.begin(), allowed.end(), [&](const char* a) { return v == a; }))
    c.fail(key, "'" + v + "' is not one of: " + join(allowed));
  return v;
}

std::vector<const char*> model_activations() { return {std::begin(kModelActivations), std::end(kModelActivations)}; }

double finite_in(const ConfigNode& c, const std::string& key, double fallback, double lo, double hi, bool lo_open) {
  const double v = c.get(key, fallback);
  const bool ok = std::isfinite(v) && (lo_open ? v > lo : v >= lo) && v < hi;
  c.check(ok, key,
          "must be in " + std::string(lo_open ? "(" : "[") + std::to_string(lo) + ", " +
              (std::isinf(hi) ? std::string("∞") : std::to_string(hi)) + ")");
  return v;
}

OptimizerSpec parse_optimizer(const ConfigNode& c) {
  constexpr double inf = std::numeric_limits<double>::infinity();
  OptimizerSpec o;
  o.type = one_of(c, "type", o.type, {"sgd", "adam", "adadelta", "ada"});
  if (o.type == "ada") o.type = "adadelta";  // the seed's name for it
  const double default_lr = o.type == "adam" ? 0.001 : o.type == "adadelta" ? 1.0 : o.lr;
  o.lr = finite_in(c, "lr", default_lr, 0, inf, true);
  o.decay = finite_in(c, "decay", o.decay, 0, inf, false);
  if (o.type == "sgd") {
    o.momentum = finite_in(c, "momentum", o.momentum, 0, 1, false);
    o.nesterov = c.get("nesterov", o.nesterov);
    o.noise_std = finite_in(c, "noise_std", o.noise_std, 0, inf, false);
    o.noise_anneal = finite_in(c, "noise_anneal", o.noise_anneal, 0, inf, false);
  } else if (o.type == "adam") {
    o.beta1 = finite_in(c, "beta1", o.beta1, 0, 1, false);
    o.beta2 = finite_in(c, "beta2", o.beta2, 0, 1, false);
    o.epsilon = finite_in(c, "epsilon", o.epsilon, 0, inf, true);
  } else {
    o.rho = finite_in(c, "rho", o.rho, 0, 1, false);
    o.epsilon = finite_in(c, "epsilon", o.epsilon, 0, inf, true);
  }
  return o;
}

TrainSpec parse_train(const ConfigNode& c) {
  TrainSpec t;
  t.epochs = c.get("epochs", t.epochs);
  c.check(t.epochs > 0, "epochs", "must be > 0, got " + std::to_string(t.epochs));
  t.batch = c.get("batch", t.batch);
  c.check(t.batch > 0, "batch", "must be > 0, got " + std::to_string(t.batch));
  t.loss = one_of(c, "loss", t.loss, {"mse", "crossentropy"});
  t.shuffle = c.get("shuffle", t.shuffle);
  t.eval_batch = c.get("eval_batch", t.eval_batch);
  c.check(t.eval_batch > 0, "eval_batch", "must be > 0");
  t.parallel = one_of(c, "parallel", t.parallel, {"auto", "batch_split", "op_parallel"});
  t.recompute = one_of(c, "recompute", t.recompute, {"auto", "always", "never"});
  t.workers = c.get("workers", t.workers);
  c.check(t.workers >= -1 && t.workers <= 64, "workers", "must be -1 (auto), 0 (load on the training thread) .. 64");
  t.sync_every = c.get<int64_t>("sync_every", t.sync_every);
  c.check(t.sync_every >= 0, "sync_every", "must be 0 (auto) or a step count > 0, got " + std::to_string(t.sync_every));
  t.cuda_graph = c.get("cuda_graph", t.cuda_graph);
  t.l1 = finite_in(c, "l1", t.l1, 0, std::numeric_limits<double>::infinity(), false);
  t.l2 = finite_in(c, "l2", t.l2, 0, std::numeric_limits<double>::infinity(), false);
  constexpr double inf = std::numeric_limits<double>::infinity();
  t.clip_conv_weights = finite_in(c, "clip_conv_weights", t.clip_conv_weights, 0, inf, false);
  // Layer names are checked against the model when training starts (run_experiment).
  const ConfigNode mult = c.child("lr_multipliers");
  for (const auto& kv : mult.node())
    t.lr_multipliers[kv.first.as<std::string>()] = finite_in(mult, kv.first.as<std::string>(), 1.0, 0, inf, false);
  ScheduleSpec& sch = t.schedule;
  sch.type = parse_schedule_type(one_of(c, "schedule", schedule_type_name(sch.type), {"step", "cosine"}), "schedule");
  sch.warmup_epochs = finite_in(c, "warmup_epochs", sch.warmup_epochs, 0, t.epochs + 1e-9, false);
  sch.min_factor = finite_in(c, "min_lr_factor", sch.min_factor, 0, 1, false);
  const ConfigNode step = c.child("step_decay");
  sch.factor = step.get("factor", sch.factor);
  step.check(std::isfinite(sch.factor) && sch.factor > 0 && sch.factor <= 1, "factor", "must be in (0, 1]");
  sch.every = step.get("every", sch.every);
  step.check(sch.every > 0, "every", "must be > 0 epochs");
  t.label_smoothing = finite_in(c, "label_smoothing", t.label_smoothing, 0, 1, false);
  t.regularize_batchnorm = c.get("regularize_batchnorm", t.regularize_batchnorm);
  t.sync_batchnorm = c.get("sync_batchnorm", t.sync_batchnorm);
  t.label_shift = finite_in(c, "label_shift", t.label_shift, 0.0, 0.5, false);
  t.checkpoint_every = c.get<int64_t>("checkpoint_every", t.checkpoint_every);
  c.check(t.checkpoint_every >= 0, "checkpoint_every",
          "must be >= 0 steps (0: checkpoint at epoch ends only), got " + std::to_string(t.checkpoint_every));
  t.init_from = c.get<std::string>("init_from", t.init_from);
  t.optimizer = parse_optimizer(c.child("optimizer"));
  return t;
}

// An image folder's defaults are torchvision's ImageNet recipe: RandomResizedCrop(224) + flip for training,
// Resize(256) + CenterCrop(224) for evaluation.
std::vector<TransformSpec> default_transforms(const std::string& dataset, bool training) {
  if (dataset != "image_folder") return {};
  TransformSpec a, b;
  if (training) {
    a.type = TransformType::random_resized_crop;
    a.height = a.width = 224;
    b.type = TransformType::hflip;
  } else {
    a.type = TransformType::resize_short;
    a.height = a.width = 256;
    b.type = TransformType::center_crop;
    b.height = b.width = 224;
  }
  return {a, b};
}

// The shape `specs` make of `in`; an error names the list item (or, for defaults, the list's key).
Shape shape_through(const ConfigNode& c, const std::string& key, const std::vector<TransformSpec>& specs, Shape in) {
  const std::vector<ConfigNode> items = c.list(key);
  for (size_t i = 0; i < specs.size(); ++i) {
    try {
      in = make_transform(specs[i])->output_shape(in);
    } catch (const Error& e) {
      if (i < items.size()) items[i].fail("type", e.what());
      c.fail(key, e.what());
    }
  }
  return in;
}

// Reads the dataset section and works out the model's input: the stored sample shape through base_transforms and
// augment, which eval_transforms must reproduce. An image folder's class folders are listed here.
}  // namespace

DataSpec parse_data_spec(const ConfigNode& c) {
  DataSpec d;
  d.name = one_of(c, "name", d.name, {"mnist", "fashion_mnist", "cifar10", "cifar100", "image_folder"});
  d.path = c.get<std::string>("path", d.path);
  d.validation = c.get<std::string>("validation", d.validation);
  // Keys of one dataset only: elsewhere they stay unread, and check_unknown_keys rejects them.
  if (d.name == "cifar100") d.label = one_of(c, "label", d.label, {"fine", "coarse"});
  if (d.name == "image_folder") d.skip_bad_images = c.get("skip_bad_images", d.skip_bad_images);
  for (auto [key, value] : {std::pair{"resize", &d.resize}, std::pair{"pad", &d.pad}}) {
    *value = c.get<int64_t>(key, 0);
    c.check(*value >= 0 && *value <= 65536, key, "must be a square size in [1, 65536], or 0 for off");
  }
  c.check(d.resize == 0 || d.pad == 0, "pad", "give resize or pad, not both");
  d.channels = c.get<int64_t>("channels", d.channels);
  c.check(d.channels >= 0 && d.channels <= 4096, "channels", "must be a channel count, or 0 to keep the dataset's");
  d.augment = c.has("augment") ? parse_transforms(c, "augment") : default_transforms(d.name, true);
  d.eval_transforms =
      c.has("eval_transforms") ? parse_transforms(c, "eval_transforms") : default_transforms(d.name, false);
  if (d.validation != "test" && d.validation != "none") {
    double f = -1;
    try {
      size_t used = 0;
      f = std::stod(d.validation, &used);
      if (used != d.validation.size()) f = -1;
    } catch (const std::exception&) {
    }
    c.check(f > 0 && f < 1, "validation", "expected test, none or a fraction in (0, 1), got '" + d.validation + "'");
  }
  return d;
}

namespace {

DataSpec parse_data(const ConfigNode& c, DatasetInfo& info, Shape& input) {
  const DataSpec d = parse_data_spec(c);
  try {
    info = dataset_info(dataset_options(d));
  } catch (const Error& e) {
    c.fail("path", e.what());
  }
  Shape base = info.sample_shape;
  for (const TransformSpec& t : base_transforms(d)) {
    const char* key = t.type == TransformType::repeat_channels ? "channels" : d.pad ? "pad" : "resize";
    try {
      base = make_transform(t)->output_shape(base);
    } catch (const Error& e) {
      c.fail(key, e.what());
    }
  }
  input = shape_through(c, "augment", d.augment, base);
  const Shape eval = shape_through(c, "eval_transforms", d.eval_transforms, base);
  if (d.name == "image_folder") {
    const char* why =
        "an image folder's images differ in size: the list must end in a fixed-size transform "
        "(random_resized_crop, center_crop, resize, random_crop or pad, then only hflip, normalize or scale)";
    c.check(train_pipeline(d).fixed_size(), "augment", why);
    c.check(eval_pipeline(d).fixed_size(), "eval_transforms", why);
  }
  c.check(eval == input, "eval_transforms",
          "make " + to_string(eval) + " samples but augment makes " + to_string(input) +
              ": training and evaluation feed the same model input");
  return d;
}

}  // namespace

DatasetOptions dataset_options(const DataSpec& d) {
  DatasetOptions o;
  o.name = d.name;
  o.path = d.path;
  o.label = d.label;
  o.skip_bad_images = d.skip_bad_images;
  return o;
}

std::vector<TransformSpec> base_transforms(const DataSpec& d) {
  std::vector<TransformSpec> out;
  if (d.resize > 0 || d.pad > 0) {
    TransformSpec t;
    t.type = d.resize > 0 ? TransformType::resize : TransformType::pad;
    t.height = t.width = d.resize > 0 ? d.resize : d.pad;
    out.push_back(t);
  }
  if (d.channels > 0) {
    TransformSpec t;
    t.type = TransformType::repeat_channels;
    t.count = d.channels;
    out.push_back(t);
  }
  return out;
}

Pipeline train_pipeline(const DataSpec& d) {
  std::vector<TransformSpec> specs = base_transforms(d);
  specs.insert(specs.end(), d.augment.begin(), d.augment.end());
  return make_pipeline(specs);
}

Pipeline eval_pipeline(const DataSpec& d) {
  std::vector<TransformSpec> specs = base_transforms(d);
  specs.insert(specs.end(), d.eval_transforms.begin(), d.eval_transforms.end());
  return make_pipeline(specs);
}

namespace {

// `name: [dims]` pairs in file order (parameters and buffers of a spelled-out layer).
std::vector<std::pair<std::string, Shape>> parse_shapes(const ConfigNode& c, const std::string& key) {
  std::vector<std::pair<std::string, Shape>> out;
  const ConfigNode m = c.child(key);
  for (const auto& kv : m.node()) {
    const std::string name = kv.first.as<std::string>();
    const auto dims = m.get_list<int64_t>(name, {});
    m.check(!dims.empty() && dims.size() <= 4 &&
                std::all_of(dims.begin(), dims.end(), [](int64_t d) { return d > 0 && d <= (int64_t{1} << 31); }),
            name, "must be a shape: 1 to 4 dimensions, each > 0");
    out.push_back({name, Shape(dims.begin(), dims.end())});
  }
  return out;
}

// A layer's attributes, typed by its op's table (ops/op_schema.h), so that 2 stays an int and 1e-5 a float.
Attrs parse_attrs(const ConfigNode& c, const std::string& type) {
  Attrs a;
  const ConfigNode m = c.child("attrs");
  const OpSchema* schema = find_schema(type);
  for (const auto& kv : m.node()) {
    const std::string key = kv.first.as<std::string>();
    const AttrSpec* spec = schema ? schema->find(key) : nullptr;
    if (!spec) m.fail(key, "op " + type + " has no attribute of that name");
    switch (spec->type) {
      case AttrType::int64:
        a.set(key, m.get<int64_t>(key, 0));
        break;
      case AttrType::float64: {
        const double v = m.get<double>(key, 0);
        m.check(std::isfinite(v), key, "must be a finite number");
        a.set(key, v);
        break;
      }
      case AttrType::string:
        a.set(key, m.get<std::string>(key, ""));
        break;
      case AttrType::ints:
        a.set(key, m.get_list<int64_t>(key, {}));
        break;
    }
  }
  try {
    if (schema) schema->validate(a);
  } catch (const Error& e) {
    m.fail(type, e.what());
  }
  return a;
}

std::vector<LayerSpec> parse_layers(const ConfigNode& c) {
  std::vector<LayerSpec> out;
  for (const ConfigNode& l : c.list("layers")) {
    LayerSpec s;
    s.name = l.require<std::string>("name");
    l.check(!s.name.empty(), "name", "must not be empty");
    s.type = l.require<std::string>("type");
    l.check(OpRegistry::instance().has_type(s.type), "type", "is not an op spikeforge has");
    s.attrs = parse_attrs(l, s.type);
    s.params = parse_shapes(l, "params");
    s.buffers = parse_shapes(l, "buffers");
    out.push_back(std::move(s));
  }
  c.check(!out.empty(), "layers", "arch: layers needs a list of layers");
  return out;
}

YAML::Node shapes_yaml(const std::vector<std::pair<std::string, Shape>>& shapes) {
  YAML::Node n(YAML::NodeType::Map);
  for (const auto& [name, shape] : shapes) {
    YAML::Node dims(YAML::NodeType::Sequence);
    dims.SetStyle(YAML::EmitterStyle::Flow);
    for (int64_t d : shape) dims.push_back(d);
    n[name] = dims;
  }
  return n;
}

void emit_layers(YAML::Emitter& y, const std::vector<LayerSpec>& layers) {
  y << YAML::Key << "layers" << YAML::Value << YAML::BeginSeq;
  for (const LayerSpec& l : layers) {
    y << YAML::BeginMap << YAML::Key << "name" << YAML::Value << l.name << YAML::Key << "type" << YAML::Value << l.type;
    if (!l.attrs.values().empty()) {
      y << YAML::Key << "attrs" << YAML::Value << YAML::Flow << YAML::BeginMap;
      for (const auto& [key, v] : l.attrs.values()) {
        y << YAML::Key << key << YAML::Value;
        if (const auto* i = std::get_if<int64_t>(&v))
          y << *i;
        else if (const auto* d = std::get_if<double>(&v))
          y << *d;
        else if (const auto* str = std::get_if<std::string>(&v))
          y << *str;
        else
          y << YAML::Flow << std::get<std::vector<int64_t>>(v);
      }
      y << YAML::EndMap;
    }
    if (!l.params.empty()) y << YAML::Key << "params" << YAML::Value << shapes_yaml(l.params);
    if (!l.buffers.empty()) y << YAML::Key << "buffers" << YAML::Value << shapes_yaml(l.buffers);
    y << YAML::EndMap;
  }
  y << YAML::EndSeq;
}

}  // namespace

ModelSpec parse_model_spec(const ConfigNode& c) {
  ModelSpec m;
  m.arch = one_of(c, "arch", m.arch, {"liu_small", "liu_large", "mobilenet_v1", "layers"});
  if (m.arch == "layers") m.layers = parse_layers(c);
  const bool mobilenet = m.arch == "mobilenet_v1";
  m.activation = one_of(c, "activation", mobilenet ? "relu6" : m.activation, model_activations());
  if (m.activation == "qcfs") {
    m.qcfs_levels = c.get("levels", m.qcfs_levels);
    c.check(m.qcfs_levels >= 1 && m.qcfs_levels <= 65536, "levels",
            "must be in [1, 65536] (QCFS quantisation levels L), got " + std::to_string(m.qcfs_levels));
    m.qcfs_threshold = finite_in(c, "threshold", m.qcfs_threshold, 0.0, 1e6, true);
  }
  if (mobilenet) {
    c.check(m.activation == "relu6" || m.activation == "relu" || m.activation == "qcfs", "activation",
            "mobilenet_v1 takes relu6, relu or qcfs");
    m.alpha = finite_in(c, "alpha", m.alpha, 0.0, 16.0, true);
    m.depth_multiplier = c.get("depth_multiplier", m.depth_multiplier);
    c.check(m.depth_multiplier >= 1 && m.depth_multiplier <= 16, "depth_multiplier", "must be in [1, 16]");
    m.strides = one_of(c, "strides", m.strides, {"auto", "cifar", "imagenet"});
    m.dropout = finite_in(c, "dropout", m.dropout, 0.0, 1.0, false);
  }
  m.data_format =
      one_of(c, "data_format", mobilenet ? "channels_last" : "channels_first", {"channels_last", "channels_first"});
  c.check(mobilenet || m.data_format == "channels_first", "data_format",
          "the Liu nets run channels_first (their kernels are tuned for NCHW)");
  const ConfigNode nsp = c.child("noisy_softplus");
  m.nsp_per_neuron = nsp.has("sigma") && nsp.node()["sigma"].IsScalar() && nsp.node()["sigma"].Scalar() == "per_neuron";
  m.nsp_k = nsp.get("k", m.nsp_per_neuron ? 0.31 : m.nsp_k);
  nsp.check(m.nsp_k > 0 && std::isfinite(m.nsp_k), "k", "must be a finite number > 0");
  if (m.nsp_per_neuron) {
    nsp.get<std::string>("sigma", "");  // read, so it counts as a known key
  } else {
    m.nsp_sigma = nsp.get("sigma", m.nsp_sigma);
    nsp.check(m.nsp_sigma > 0 && std::isfinite(m.nsp_sigma), "sigma",
              "must be a number > 0 (fixed σ, the seed's form) or per_neuron (Liu's form)");
  }
  // Liu's parametric-activation scale, for every activation; 1.085 = S·τsyn by default in Liu's NSP form.
  const bool liu_nsp = m.activation == "noisy_softplus" && m.nsp_per_neuron;
  m.paf_scale = c.get("paf_scale", liu_nsp ? 1.085 : 1.0);
  c.check(m.paf_scale > 0 && std::isfinite(m.paf_scale), "paf_scale", "must be a finite number > 0");
  m.dense_bias = c.get("dense_bias", m.dense_bias);
  m.pool_activation = c.get("pool_activation", m.pool_activation);
  const ConfigNode ldr = c.child("ldr");
  for (const char* what : {"weights", "activations"}) {
    if (!ldr.has(what)) {
      ldr.child(what);  // known key, absent: LDR off for it
      continue;
    }
    const ConfigNode q = ldr.child(what);
    QuantSpec& spec = std::string(what) == "weights" ? m.weight_quant : m.act_quant;
    spec.bits = q.require<int>("bits");
    q.check(spec.bits >= 1 && spec.bits <= 16, "bits", "must be in [1, 16]");
    spec.fsr = q.require<int>("fsr");
    q.check(spec.fsr >= -64 && spec.fsr <= 64, "fsr", "must be an exponent in [-64, 64] (full-scale range 2^fsr)");
  }
  return m;
}

Experiment load_experiment(const std::string& file, const std::vector<std::string>& overrides) {
  const ConfigNode c = ConfigNode::load_file(file, overrides);
  Experiment e;
  e.source = file;
  e.name = c.get<std::string>("name", std::filesystem::path(file).stem().string());
  c.check(!e.name.empty() && e.name.find('/') == std::string::npos && e.name != "." && e.name != "..", "name",
          "must be a folder name: not empty, no '/', not '.' or '..'");
  e.seed = c.get<uint64_t>("seed", e.seed);
  e.threads = c.get("threads", e.threads);
  c.check(e.threads >= 0 && e.threads <= kMaxThreads, "threads",
          "must be between 0 (all cores) and " + std::to_string(kMaxThreads));
  e.device = one_of(c, "device", e.device, {"cpu", "cuda"});
  if (const std::string why = device_unavailable_reason(parse_device(e.device)); !why.empty()) c.fail("device", why);
  e.deterministic = c.get("deterministic", e.deterministic);
  DatasetInfo info;
  Shape input;
  e.data = parse_data(c.child("dataset"), info, input);
  e.model = parse_model_spec(c.child("model"));
  e.model.input = input;  // what the pipeline makes, not the stored shape: MNIST resized to 32, ImageNet cut to 224
  e.model.classes = info.num_classes;
  e.train = parse_train(c.child("train"));
  {
    const std::vector<ConfigNode> phases = c.list("finetune");
    for (size_t i = 0; i < phases.size(); ++i) {
      const ConfigNode& p = phases[i];
      PhaseSpec ph;
      ph.name = p.get<std::string>("name", "finetune" + std::to_string(i + 1));
      ph.epochs = p.require<int>("epochs");
      p.check(ph.epochs > 0, "epochs", "must be > 0, got " + std::to_string(ph.epochs));
      ph.activation = one_of(p, "activation", e.model.activation, model_activations());
      p.check(e.model.arch != "mobilenet_v1" || ph.activation == "relu6" || ph.activation == "relu" ||
                  ph.activation == "qcfs",
              "activation", "mobilenet_v1 takes relu6, relu or qcfs");
      // A QCFS layer owns a threshold parameter the others lack: the weights do not carry across the change.
      p.check((ph.activation == "qcfs") == (e.model.activation == "qcfs"), "activation",
              "fine-tuning phases cannot switch to or from qcfs (train a QCFS net from the start, as Bu 2022)");
      ph.label_shift = finite_in(p, "label_shift", e.train.label_shift, 0.0, 0.5, false);
      ph.lr = finite_in(p, "lr", e.train.optimizer.lr, 0.0, std::numeric_limits<double>::infinity(), true);
      e.finetune.push_back(ph);
    }
  }
  c.check_unknown_keys();
  // Per-layer rates name layers of the model: check them now, with the key's line, not when training starts.
  if (!e.train.lr_multipliers.empty()) {
    const Model m = build_model(e.model, 0);
    const ConfigNode mult = c.child("train").child("lr_multipliers");
    for (const auto& [name, factor] : e.train.lr_multipliers) {
      const Layer* l = m.find(name);
      if (!l || l->params.empty())
        mult.fail(name, "no layer with weights of that name (this model has: " + m.weighted_layer_names() + ")");
    }
  }
  return e;
}

std::string to_yaml(const ModelSpec& m) {
  YAML::Emitter y;
  y << YAML::BeginMap << YAML::Key << "arch" << YAML::Value << m.arch << YAML::Key << "activation" << YAML::Value
    << m.activation << YAML::Key << "noisy_softplus" << YAML::Value << YAML::BeginMap << YAML::Key << "k" << YAML::Value
    << m.nsp_k << YAML::Key << "sigma";
  if (m.nsp_per_neuron)
    y << YAML::Value << "per_neuron";
  else
    y << YAML::Value << m.nsp_sigma;
  y << YAML::EndMap << YAML::Key << "paf_scale" << YAML::Value << m.paf_scale << YAML::Key << "dense_bias"
    << YAML::Value << m.dense_bias << YAML::Key << "pool_activation" << YAML::Value << m.pool_activation;
  y << YAML::Key << "ldr" << YAML::Value << YAML::BeginMap;
  for (const auto& [what, q] : {std::pair{"weights", m.weight_quant}, std::pair{"activations", m.act_quant}})
    if (q.enabled())
      y << YAML::Key << what << YAML::Value << YAML::BeginMap << YAML::Key << "bits" << YAML::Value << q.bits
        << YAML::Key << "fsr" << YAML::Value << q.fsr << YAML::EndMap;
  y << YAML::EndMap;
  if (m.activation == "qcfs")
    y << YAML::Key << "levels" << YAML::Value << m.qcfs_levels << YAML::Key << "threshold" << YAML::Value
      << m.qcfs_threshold;
  y << YAML::Key << "data_format" << YAML::Value << m.data_format;
  if (m.arch == "layers") emit_layers(y, m.layers);
  if (m.arch == "mobilenet_v1")
    y << YAML::Key << "alpha" << YAML::Value << m.alpha << YAML::Key << "depth_multiplier" << YAML::Value
      << m.depth_multiplier << YAML::Key << "strides" << YAML::Value << m.strides << YAML::Key << "dropout"
      << YAML::Value << m.dropout;
  y << YAML::EndMap;
  return y.c_str();
}

std::string to_yaml(const DataSpec& d) {
  YAML::Emitter y;
  y << YAML::BeginMap << YAML::Key << "name" << YAML::Value << d.name << YAML::Key << "path" << YAML::Value << d.path
    << YAML::Key << "validation" << YAML::Value << d.validation;
  if (d.name == "cifar100") y << YAML::Key << "label" << YAML::Value << d.label;
  if (d.name == "image_folder") y << YAML::Key << "skip_bad_images" << YAML::Value << d.skip_bad_images;
  y << YAML::Key << "resize" << YAML::Value << d.resize << YAML::Key << "pad" << YAML::Value << d.pad << YAML::Key
    << "channels" << YAML::Value << d.channels;
  y << YAML::Key << "augment" << YAML::Value << YAML::Load(to_yaml(d.augment)) << YAML::Key << "eval_transforms"
    << YAML::Value << YAML::Load(to_yaml(d.eval_transforms)) << YAML::EndMap;
  return y.c_str();
}

std::string to_yaml(const Experiment& e) {
  const auto& t = e.train;
  const auto& o = t.optimizer;
  YAML::Emitter y;
  y << YAML::BeginMap;
  y << YAML::Key << "name" << YAML::Value << e.name;
  y << YAML::Key << "seed" << YAML::Value << e.seed;
  y << YAML::Key << "threads" << YAML::Value << e.threads;
  y << YAML::Key << "device" << YAML::Value << e.device;
  y << YAML::Key << "deterministic" << YAML::Value << e.deterministic;
  y << YAML::Key << "dataset" << YAML::Value << YAML::Load(to_yaml(e.data));
  y << YAML::Key << "model" << YAML::Value << YAML::Load(to_yaml(e.model));
  y << YAML::Key << "train" << YAML::Value << YAML::BeginMap;
  y << YAML::Key << "epochs" << YAML::Value << t.epochs << YAML::Key << "batch" << YAML::Value << t.batch;
  y << YAML::Key << "loss" << YAML::Value << t.loss << YAML::Key << "shuffle" << YAML::Value << t.shuffle;
  y << YAML::Key << "eval_batch" << YAML::Value << t.eval_batch;
  y << YAML::Key << "parallel" << YAML::Value << t.parallel << YAML::Key << "recompute" << YAML::Value << t.recompute;
  y << YAML::Key << "workers" << YAML::Value << t.workers;
  y << YAML::Key << "sync_every" << YAML::Value << t.sync_every << YAML::Key << "cuda_graph" << YAML::Value
    << t.cuda_graph;
  y << YAML::Key << "l1" << YAML::Value << t.l1 << YAML::Key << "l2" << YAML::Value << t.l2;
  y << YAML::Key << "clip_conv_weights" << YAML::Value << t.clip_conv_weights;
  y << YAML::Key << "lr_multipliers" << YAML::Value << YAML::BeginMap;
  for (const auto& [layer, factor] : t.lr_multipliers) y << YAML::Key << layer << YAML::Value << factor;
  y << YAML::EndMap;
  y << YAML::Key << "schedule" << YAML::Value << schedule_type_name(t.schedule.type) << YAML::Key << "warmup_epochs"
    << YAML::Value << t.schedule.warmup_epochs << YAML::Key << "min_lr_factor" << YAML::Value << t.schedule.min_factor;
  y << YAML::Key << "step_decay" << YAML::Value << YAML::BeginMap << YAML::Key << "factor" << YAML::Value
    << t.schedule.factor << YAML::Key << "every" << YAML::Value << t.schedule.every << YAML::EndMap;
  y << YAML::Key << "label_smoothing" << YAML::Value << t.label_smoothing << YAML::Key << "regularize_batchnorm"
    << YAML::Value << t.regularize_batchnorm << YAML::Key << "sync_batchnorm" << YAML::Value << t.sync_batchnorm;
  y << YAML::Key << "label_shift" << YAML::Value << t.label_shift;
  y << YAML::Key << "checkpoint_every" << YAML::Value << t.checkpoint_every;
  y << YAML::Key << "init_from" << YAML::Value << t.init_from;
  y << YAML::Key << "optimizer" << YAML::Value << YAML::BeginMap << YAML::Key << "type" << YAML::Value << o.type;
  y << YAML::Key << "lr" << YAML::Value << o.lr << YAML::Key << "decay" << YAML::Value << o.decay;
  if (o.type == "sgd")
    y << YAML::Key << "momentum" << YAML::Value << o.momentum << YAML::Key << "nesterov" << YAML::Value << o.nesterov
      << YAML::Key << "noise_std" << YAML::Value << o.noise_std << YAML::Key << "noise_anneal" << YAML::Value
      << o.noise_anneal;
  if (o.type == "adam")
    y << YAML::Key << "beta1" << YAML::Value << o.beta1 << YAML::Key << "beta2" << YAML::Value << o.beta2;
  if (o.type != "sgd")
    y << YAML::Key << (o.type == "adam" ? "epsilon" : "rho") << YAML::Value << (o.type == "adam" ? o.epsilon : o.rho);
  if (o.type == "adadelta") y << YAML::Key << "epsilon" << YAML::Value << o.epsilon;
  y << YAML::EndMap;
  y << YAML::EndMap;  // train
  if (!e.finetune.empty()) {
    y << YAML::Key << "finetune" << YAML::Value << YAML::BeginSeq;
    for (const auto& p : e.finetune)
      y << YAML::BeginMap << YAML::Key << "name" << YAML::Value << p.name << YAML::Key << "epochs" << YAML::Value
        << p.epochs << YAML::Key << "activation" << YAML::Value << p.activation << YAML::Key << "label_shift"
        << YAML::Value << p.label_shift << YAML::Key << "lr" << YAML::Value << p.lr << YAML::EndMap;
    y << YAML::EndSeq;
  }
  y << YAML::EndMap;
  return std::string(y.c_str()) + "\n";
}

}  // namespace sf
