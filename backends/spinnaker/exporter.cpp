#include "backends/spinnaker/exporter.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <map>
#include <set>

#include "backends/cpu/encoder.h"
#include "backends/spinnaker/project_files.h"
#include "core/enum_names.h"
#include "core/error.h"
#include "core/io.h"
#include "core/json.h"

namespace sf::spinnaker {

using snn::LayerKind;

std::vector<Synapse> expand_layer(const snn::Layer& l) {
  std::vector<Synapse> out;
  const int P = std::max(l.pool_in, 1);
  const int64_t C = l.in_shape[0], H = l.in_shape[1], W = l.in_shape[2];
  const int64_t ph = H / P, pw = W / P;
  const int64_t O = l.out_shape[0], OH = l.out_shape[1], OW = l.out_shape[2];
  const float merged = 1.0f / static_cast<float>(P * P);
  // Every pooled input (c, y, x) stands for its P × P presynaptic neurons, each with weight w / P².
  auto add = [&](int64_t c, int64_t y, int64_t x, int64_t post, float w) {
    if (w == 0.0f) return;
    for (int dy = 0; dy < P; ++dy)
      for (int dx = 0; dx < P; ++dx)
        out.push_back(
            {static_cast<int32_t>((c * H + y * P + dy) * W + x * P + dx), static_cast<int32_t>(post), w * merged});
  };
  switch (l.kind) {
    case LayerKind::conv:
    case LayerKind::depthwise_conv: {
      const bool dw = l.kind == LayerKind::depthwise_conv;
      const int64_t K = l.kernel, cin = dw ? 1 : C;
      for (int64_t o = 0; o < O; ++o)
        for (int64_t oy = 0; oy < OH; ++oy)
          for (int64_t ox = 0; ox < OW; ++ox)
            for (int64_t ci = 0; ci < cin; ++ci)
              for (int64_t ky = 0; ky < K; ++ky)
                for (int64_t kx = 0; kx < K; ++kx) {
                  const int64_t iy = oy * l.stride + ky - l.padding, ix = ox * l.stride + kx - l.padding;
                  if (iy < 0 || ix < 0 || iy >= ph || ix >= pw) continue;
                  add(dw ? o : ci, iy, ix, (o * OH + oy) * OW + ox, l.weight[((o * cin + ci) * K + ky) * K + kx]);
                }
      break;
    }
    case LayerKind::dense:
      for (int64_t o = 0; o < O; ++o)
        for (int64_t j = 0; j < C * ph * pw; ++j)
          add(j / (ph * pw), j / pw % ph, j % pw, o, l.weight[o * C * ph * pw + j]);
      break;
    case LayerKind::avgpool:
      for (int64_t c = 0; c < O; ++c)
        for (int64_t oy = 0; oy < OH; ++oy)
          for (int64_t ox = 0; ox < OW; ++ox)
            for (int64_t dy = 0; dy < l.kernel; ++dy)
              for (int64_t dx = 0; dx < l.kernel; ++dx)
                add(c, oy * l.kernel + dy, ox * l.kernel + dx, (c * OH + oy) * OW + ox, l.pool_weight);
      break;
  }
  return out;
}

namespace {

constexpr int kMaxNeuronsPerCore = 256;  // sPyNNaker's default and its limit for IF_curr_exp
constexpr int kCoresPerChip = 16;        // 18 cores: one monitor, one spare
constexpr double kSdramPerChipMb = 123.5;
constexpr int kChipsPerBoard = 48;  // a SpiNN-5 board
constexpr int kMaxDelayTicks = 16;  // on-core delays; longer ones need delay-extension cores

// sPyNNaker holds weights as 16-bit integers with one power-of-two scale per synapse type of a population.
// Its synaptic manager bounds the input a neuron can receive in one step by M = max|w| × the largest fan-in,
// takes shift = max(0, ⌈log2 M⌉), one more when 2^shift ≤ M, and stores w in units of 2^(shift − 15).
double weight_lsb(double max_weight, int64_t max_fan_in) {
  const double m = max_weight * static_cast<double>(max_fan_in);
  if (!(m > 0)) return 0;
  int shift = std::max(0, static_cast<int>(std::ceil(std::log2(m))));
  if (std::ldexp(1.0, shift) <= m) ++shift;
  return std::ldexp(1.0, shift - 15);
}

double quantise(double w, double lsb) { return lsb > 0 ? std::copysign(std::round(std::fabs(w) / lsb) * lsb, w) : w; }

struct LayerProjections {
  ProjectionReport exc, inh;
};

LayerProjections analyse_layer(const snn::Layer& l, const std::vector<Synapse>& syn) {
  LayerProjections r;
  r.exc.name = l.name + "_exc", r.exc.receptor = "excitatory";
  r.inh.name = l.name + "_inh", r.inh.receptor = "inhibitory";
  const int64_t pre_n = numel(l.in_shape), post_n = l.neurons();
  for (ProjectionReport* p : {&r.exc, &r.inh}) {
    const bool exc = p == &r.exc;
    std::vector<int64_t> rows(pre_n, 0), fan_in(post_n, 0);
    for (const Synapse& s : syn) {
      if ((s.weight > 0) != exc) continue;
      ++p->synapses;
      ++rows[s.pre];
      ++fan_in[s.post];
      p->max_weight = std::max(p->max_weight, static_cast<double>(std::fabs(s.weight)));
    }
    p->longest_row = rows.empty() ? 0 : *std::max_element(rows.begin(), rows.end());
    p->weight_lsb = weight_lsb(p->max_weight, fan_in.empty() ? 0 : *std::max_element(fan_in.begin(), fan_in.end()));
    for (const Synapse& s : syn) {
      if ((s.weight > 0) != exc) continue;
      const double q = quantise(s.weight, p->weight_lsb);
      if (q == 0)
        ++p->zero_weights;
      else
        p->max_relative_error = std::max(p->max_relative_error, std::fabs(q - s.weight) / std::fabs(s.weight));
    }
  }
  return r;
}

}  // namespace

ConvConnector parse_conv_connector(const std::string& s) {
  static constexpr std::pair<ConvConnector, const char*> kNames[] = {{ConvConnector::list, "list"},
                                                                     {ConvConnector::convolution, "convolution"}};
  return parse_name(kNames, s, "--conv-connector", "connector");
}

std::string convolution_unsupported(const snn::Layer& l) {
  if (l.kind != LayerKind::conv && l.kind != LayerKind::depthwise_conv) return "not a convolution";
  // sPyNNaker 7.x (master, 7.4): strided outputs and even kernels are computed wrongly (the kernel index runs
  // past the array for even sizes; the stride fix was never merged), and padding is either 0 or K/2.
  if (l.stride != 1)
    return "stride " + std::to_string(l.stride) + " (sPyNNaker 7 computes strided convolutions wrongly)";
  if (l.kernel % 2 == 0)
    return "even kernel size " + std::to_string(l.kernel) + " (sPyNNaker 7 handles odd sizes only)";
  if (l.padding != 0 && l.padding != l.kernel / 2)
    return "padding " + std::to_string(l.padding) + " (the connector pads by 0 or K/2 only)";
  const int P = std::max(l.pool_in, 1);
  if (l.in_shape[1] % P != 0 || l.in_shape[2] % P != 0) return "merged pooling does not divide the input";
  return "";
}

Report analyse(const snn::Network& net, int neurons_per_core, ConvConnector conv) {
  if (net.neuron == snn::NeuronModel::if_signed) fail_input("--neuron", "sPyNNaker has no signed (if_signed) neurons");
  if (neurons_per_core < 1 || neurons_per_core > kMaxNeuronsPerCore)
    fail_input("--neurons-per-core", "must be in 1.." + std::to_string(kMaxNeuronsPerCore));
  snn::validate(net);
  std::set<std::string> names = {"input"};
  for (const auto& l : net.layers) {
    const bool safe = !l.name.empty() && l.name.find_first_not_of(
                                             "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
                                             "0123456789_-") == std::string::npos;
    if (!safe || !names.insert(l.name).second)
      fail_input("snn layer '" + l.name + "'", "layer names must be unique and made of letters, digits, _ and -");
  }
  Report r;
  // Which layers a ConvolutionConnector carries; their populations, and those feeding them, go per channel.
  std::vector<bool> conv_layer(net.layers.size() + 1, false);
  for (size_t i = 0; i < net.layers.size(); ++i) {
    const snn::Layer& l = net.layers[i];
    if (conv != ConvConnector::convolution || (l.kind != LayerKind::conv && l.kind != LayerKind::depthwise_conv))
      continue;
    const std::string why = convolution_unsupported(l);
    conv_layer[i] = why.empty();
    if (why.empty())
      r.convolution_layers.push_back(l.name);
    else
      r.warnings.push_back(l.name + ": exported as connection lists, not ConvolutionConnector: " + why);
  }
  if (conv == ConvConnector::convolution && r.convolution_layers.empty())
    r.warnings.push_back("--conv-connector convolution: no layer can use sPyNNaker's ConvolutionConnector");
  auto population = [&](const std::string& name, const Shape& shape, bool per_channel) {
    PopulationReport p{name, numel(shape), 0};
    if (!per_channel) {
      p.cores = (p.neurons + neurons_per_core - 1) / neurons_per_core;
    } else {
      // sPyNNaker splits a 2-D population into equal tiles: whole rows where a row fits on a core.
      const int64_t h = shape[1], w = shape[2];
      auto largest_divisor = [](int64_t n, int64_t limit) {
        int64_t d = 1;
        for (int64_t k = 1; k <= std::min(n, limit); ++k)
          if (n % k == 0) d = k;
        return d;
      };
      p.channels = shape[0];
      p.tile_w = w <= neurons_per_core ? w : largest_divisor(w, neurons_per_core);
      p.tile_h = w <= neurons_per_core ? largest_divisor(h, neurons_per_core / w) : 1;
      p.cores = p.channels * (h / p.tile_h) * (w / p.tile_w);
    }
    r.cores += p.cores;
    r.populations.push_back(p);
  };
  population("input", net.input_shape, conv_layer[0]);
  double sdram = 0;
  const int delay = std::max(1, net.delay_steps);
  r.delay_min_ticks = r.delay_max_ticks = delay;
  for (size_t i = 0; i < net.layers.size(); ++i) {
    const snn::Layer& l = net.layers[i];
    population(l.name, l.out_shape, conv_layer[i] || conv_layer[i + 1]);
    const double sdram_before = sdram;
    const LayerProjections p = analyse_layer(l, expand_layer(l));
    for (const ProjectionReport& pr : {p.exc, p.inh}) {
      if (pr.synapses == 0) continue;
      r.projections.push_back(pr);
      r.synapses += pr.synapses;
      if (conv_layer[i]) continue;  // kernels, not synaptic rows: no 16-bit row weights to warn about
      // Synaptic matrix: one 4-byte word per synapse plus a 3-word header per presynaptic row.
      sdram += 4.0 * pr.synapses + 12.0 * numel(l.in_shape);
      const double zero_fraction = static_cast<double>(pr.zero_weights) / static_cast<double>(pr.synapses);
      if (zero_fraction > 0.01) {
        char buf[256];
        std::snprintf(buf, sizeof buf, "%s: %.1f %% of the weights round to 0 at 16 bits (resolution %.3g)",
                      pr.name.c_str(), 100 * zero_fraction, pr.weight_lsb);
        r.warnings.push_back(buf);
      }
    }
    if (conv_layer[i]) sdram += 4.0 * static_cast<double>(l.weight.numel());  // the kernels
    sdram += 128.0 * l.neurons();                                             // neuron state and parameters
    r.populations.back().sdram_mb = (sdram - sdram_before) / (1024.0 * 1024.0);
  }
  for (PopulationReport& pop : r.populations)
    pop.chips = std::max<int64_t>((pop.cores + kCoresPerChip - 1) / kCoresPerChip,
                                  static_cast<int64_t>(std::ceil(pop.sdram_mb / kSdramPerChipMb)));
  if (net.neuron == snn::NeuronModel::if_subtract)
    r.warnings.push_back(
        "reset by subtraction: no PyNN standard cell has it, the export resets to a value (expect a small "
        "accuracy cost; `convert --export-exact` predicts it)");
  if (r.delay_max_ticks > kMaxDelayTicks)
    r.warnings.push_back("delays above " + std::to_string(kMaxDelayTicks) + " ticks need delay-extension cores");
  r.sdram_mb = sdram / (1024.0 * 1024.0);
  r.chips = std::max<int64_t>((r.cores + kCoresPerChip - 1) / kCoresPerChip,
                              static_cast<int64_t>(std::ceil(r.sdram_mb / kSdramPerChipMb)));
  r.boards = (r.chips + kChipsPerBoard - 1) / kChipsPerBoard;
  char buf[256];
  if (r.cores > int64_t{kChipsPerBoard} * kCoresPerChip) {
    std::snprintf(buf, sizeof buf, "cores: %lld needed, a 48-chip board has %d application cores",
                  static_cast<long long>(r.cores), kChipsPerBoard * kCoresPerChip);
    r.board_limits.push_back(buf);
  }
  if (r.sdram_mb > kChipsPerBoard * kSdramPerChipMb) {
    std::snprintf(buf, sizeof buf, "SDRAM: %.0f MB needed, a 48-chip board has %.0f MB", r.sdram_mb,
                  kChipsPerBoard * kSdramPerChipMb);
    r.board_limits.push_back(buf);
  }
  return r;
}

std::string Report::text() const {
  std::string out = "population        neurons   cores   chips   SDRAM MB\n";
  char buf[256];
  for (const auto& p : populations) {
    std::snprintf(buf, sizeof buf, "%-16s %8lld %7lld %7lld %10.2f", p.name.c_str(), static_cast<long long>(p.neurons),
                  static_cast<long long>(p.cores), static_cast<long long>(p.chips), p.sdram_mb);
    out += buf;
    if (p.channels > 0) {
      std::snprintf(buf, sizeof buf, "   %lld × 2-D, %lld×%lld per core", static_cast<long long>(p.channels),
                    static_cast<long long>(p.tile_w), static_cast<long long>(p.tile_h));
      out += buf;
    }
    out += "\n";
  }
  out += "projection          synapses  longest row   max |w|   16-bit LSB  zero  max rel. error\n";
  for (const auto& p : projections) {
    std::snprintf(buf, sizeof buf, "%-18s %9lld %12lld %9.4g %12.3g %5lld %14.2e\n", p.name.c_str(),
                  static_cast<long long>(p.synapses), static_cast<long long>(p.longest_row), p.max_weight, p.weight_lsb,
                  static_cast<long long>(p.zero_weights), p.max_relative_error);
    out += buf;
  }
  std::snprintf(buf, sizeof buf,
                "total: %lld cores on %lld chip(s), %lld synapses, ≈ %.2f MB SDRAM (estimate), delays %d–%d ticks\n",
                static_cast<long long>(cores), static_cast<long long>(chips), static_cast<long long>(synapses),
                sdram_mb, delay_min_ticks, delay_max_ticks);
  out += buf;
  if (board_limits.empty()) {
    out += "fits one 48-chip SpiNN-5 board\n";
  } else {
    std::snprintf(buf, sizeof buf, "needs %lld 48-chip SpiNN-5 boards:", static_cast<long long>(boards));
    out += buf;
    for (const auto& why : board_limits) out += " " + why + ";";
    out.back() = '\n';
  }
  if (!convolution_layers.empty()) {
    out += "ConvolutionConnector on sPyNNaker (local-only, one projection per channel pair):";
    for (const auto& n : convolution_layers) out += " " + n;
    out +=
        "\n  (their synapse counts are what the kernels expand to; their 16-bit columns describe the lists, while\n"
        "   sPyNNaker scales local-only weights per population and receptor, and --export-exact models the lists)\n";
  }
  for (const auto& w : warnings) out += "warning: " + w + "\n";
  return out;
}

std::string Report::json() const {
  Json pops = Json::array(), projs = Json::array();
  for (const auto& p : populations) {
    Json pop = {{"name", p.name},
                {"neurons", p.neurons},
                {"cores", p.cores},
                {"chips", p.chips},
                {"sdram_mb_estimate", p.sdram_mb}};
    if (p.channels > 0) {
      pop["channels"] = p.channels;
      pop["tile"] = {p.tile_w, p.tile_h};
    }
    pops.push_back(std::move(pop));
  }
  for (const auto& p : projections)
    projs.push_back({{"name", p.name},
                     {"receptor", p.receptor},
                     {"synapses", p.synapses},
                     {"longest_row", p.longest_row},
                     {"max_weight", p.max_weight},
                     {"weight_lsb", p.weight_lsb},
                     {"zero_weights", p.zero_weights},
                     {"max_relative_error", p.max_relative_error}});
  const Json j = {{"cores", cores},
                  {"chips", chips},
                  {"boards", boards},
                  {"board_limits", board_limits},
                  {"synapses", synapses},
                  {"sdram_mb_estimate", sdram_mb},
                  {"delay_min_ticks", delay_min_ticks},
                  {"delay_max_ticks", delay_max_ticks},
                  {"populations", pops},
                  {"projections", projs},
                  {"convolution_layers", convolution_layers},
                  {"warnings", warnings}};
  return json_text(j);
}

snn::Network as_exported(const snn::Network& net, bool quantise_weights) {
  // sPyNNaker has no negative spikes (conversion_run refuses if_signed before converting).
  if (net.neuron == snn::NeuronModel::if_signed) fail_input("--neuron", "sPyNNaker has no signed (if_signed) neurons");
  snn::Network out = net;
  if (out.neuron == snn::NeuronModel::if_subtract) out.neuron = snn::NeuronModel::if_reset_zero;
  out.delay_steps = std::max(1, out.delay_steps);  // PyNN's minimum delay: one step per layer
  for (auto& l : out.layers) {
    if (l.weight.defined()) l.weight = l.weight.clone();
    if (!quantise_weights) continue;
    // The tensor holds w; each exported synapse carries w / P² (merged pooling), quantised per sign.
    const LayerProjections p = analyse_layer(l, expand_layer(l));
    const double P2 = static_cast<double>(std::max(l.pool_in, 1)) * std::max(l.pool_in, 1);
    auto q = [&](float w) {
      const double lsb = w > 0 ? p.exc.weight_lsb : p.inh.weight_lsb;
      return static_cast<float>(quantise(w / P2, lsb) * P2);
    };
    if (l.kind == LayerKind::avgpool)
      l.pool_weight = q(l.pool_weight);
    else
      for (int64_t i = 0; i < l.weight.numel(); ++i) l.weight[i] = q(l.weight[i]);
  }
  return out;
}

namespace {

void write_connections(const std::string& path, const std::vector<Synapse>& syn, bool excitatory, double delay_ms) {
  // PyNN's FromFileConnector format: a column header, then "i j weight delay" per synapse. Inhibitory
  // weights are written negative: pyNN.brian2 does not check the sign (a positive weight on an inhibitory
  // receptor silently excites); sPyNNaker takes |w| and the receptor.
  std::string out = "# columns = [\"i\", \"j\", \"weight\", \"delay\"]\n";
  char buf[96];
  for (const Synapse& s : syn) {
    if ((s.weight > 0) != excitatory) continue;
    std::snprintf(buf, sizeof buf, "%d %d %.9g %g\n", s.pre, s.post, static_cast<double>(s.weight), delay_ms);
    out += buf;
  }
  write_file_atomic(path, out);
}

}  // namespace

void check_folder(const std::string& out_dir, bool force) {
  namespace fs = std::filesystem;
  if (out_dir.empty()) fail_input("--out", "the SpiNNaker backend needs an output folder");
  if (fs::exists(out_dir) && !fs::is_empty(out_dir) && !force)
    fail_input(out_dir, "exists and is not empty; pass --force to write into it");
}

void check_export(const std::string& out_dir, bool force, snn::InputEncoding input) {
  check_folder(out_dir, force);
  if (input == snn::InputEncoding::current)
    fail_input("--input", "current input cannot be exported: PyNN inputs are spike sources (use poisson or regular)");
}

Report export_project(const snn::Network& net, const Dataset& test, const ExportOptions& o) {
  namespace fs = std::filesystem;
  check_export(o.out_dir, o.force, net.input.kind);
  if (o.images < 1 || o.images > test.size())
    fail_input("--images", std::to_string(o.images) + " requested, the test set has " + std::to_string(test.size()));
  if (o.steps < 1) fail_input("--steps", "must be > 0");
  Report report = analyse(net, o.neurons_per_core, o.conv_connector);
  // The project is written into a sibling folder and renamed into place, so a failure part-way never leaves
  // a half-written export (nor, with --force, a mix of an old and a new one).
  fs::path final_dir = fs::absolute(fs::path(o.out_dir)).lexically_normal();
  if (final_dir.filename().empty()) final_dir = final_dir.parent_path();  // "DIR/"
  const std::string dir = (final_dir.parent_path() / ("." + final_dir.filename().string() + ".partial")).string();
  fs::remove_all(dir);
  make_dirs(dir + "/connections");
  try {
    write_file_atomic(dir + "/network.json", snn::to_json(net));
    const double delay_ms = std::max(1, net.delay_steps) * net.dt_ms;
    for (const auto& l : net.layers) {
      const std::vector<Synapse> syn = expand_layer(l);
      write_connections(dir + "/connections/" + l.name + "_exc.txt", syn, true, delay_ms);
      write_connections(dir + "/connections/" + l.name + "_inh.txt", syn, false, delay_ms);
    }
    // The test images, their labels, and the input spikes the CPU backend draws for them with the same seed.
    const int64_t per = numel(net.input_shape);
    std::string images = "label,pixels...\n", spikes = "image,pixel,step\n";
    char buf[64];
    cpu::InputTrains trains;
    for (int64_t i = 0; i < o.images; ++i) {
      images += std::to_string(test.labels[i]);
      for (int64_t k = 0; k < per; ++k) {
        std::snprintf(buf, sizeof buf, ",%.6g", static_cast<double>(test.images[i * per + k]));
        images += buf;
      }
      images += "\n";
      Rng rng(cpu::image_stream_seed(o.seed, test.first_index + i));  // the CPU backend's key: the dataset index
      trains.generate(test.images.data() + i * per, per, net.input, net.dt_ms, o.steps, rng);
      for (int t = 0; t < o.steps; ++t)
        for (int32_t px : trains.at(t))
          spikes += std::to_string(i) + "," + std::to_string(px) + "," + std::to_string(t) + "\n";
    }
    write_file_atomic(dir + "/test_images.csv", images);
    write_file_atomic(dir + "/input_spikes.csv", spikes);
    write_file_atomic(dir + "/resources.json", report.json());
    write_file_atomic(dir + "/run.py", run_py(o.steps, o.neurons_per_core));
    write_file_atomic(dir + "/README.md", project_readme(net, report, o.images, o.steps));
    fs::permissions(dir + "/run.py", fs::perms::owner_exec | fs::perms::group_exec | fs::perms::others_exec,
                    fs::perm_options::add);
  } catch (...) {
    std::error_code ec;
    fs::remove_all(dir, ec);
    throw;
  }
  fs::remove_all(final_dir);
  fs::rename(dir, final_dir);
  return report;
}

}  // namespace sf::spinnaker
