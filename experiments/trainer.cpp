#include "experiments/trainer.h"

#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <vector>

#include "core/error.h"
#include "ops/registry.h"

namespace sf {
namespace {

using Clock = std::chrono::steady_clock;

double seconds_since(Clock::time_point t0) { return std::chrono::duration<double>(Clock::now() - t0).count(); }

// Number of rows of `out` ([n, K]) whose argmax equals the label (first maximum wins, as numpy/Keras).
int64_t count_correct(const Tensor& out, const std::vector<int32_t>& labels, int64_t n) {
  const int64_t k = out.dim(1);
  int64_t correct = 0;
  for (int64_t i = 0; i < n; ++i) {
    const float* row = out.data() + i * k;
    int64_t best = 0;
    for (int64_t j = 1; j < k; ++j)
      if (row[j] > row[best]) best = j;
    correct += best == labels[i];
  }
  return correct;
}

}  // namespace

std::string loss_op(const std::string& loss) {
  if (loss == "mse") return "mse_loss";
  if (loss == "crossentropy") return "softmax_cross_entropy";
  fail_input("train.loss", "unknown loss '" + loss + "' (expected mse or crossentropy)");
}

struct Trainer::Net {
  Graph graph;
  NodeId images = -1, targets = -1, output = -1, loss = -1;
  std::vector<int32_t> labels;
  explicit Net(Device d) : graph(d) {}
};

Trainer::Trainer(Model& model, const TrainSpec& spec, Device device, uint64_t seed)
    : model_(model), spec_(spec), device_(device), seed_(seed), optimizer_(make_optimizer(spec.optimizer)) {
  const char* env = std::getenv("SPIKEFORGE_PROFILE");
  profiling_ = env && *env && std::string(env) != "0";
}

Trainer::~Trainer() {
  if (profiling_) std::fputs(profile_report().c_str(), stderr);
}

std::string Trainer::profile_report() const {
  std::string out = "profile (training graphs, per step):\n";
  char line[200];
  for (const auto& [key, net] : nets_) {
    if (!key.second) continue;
    const Graph& g = net->graph;
    double total = 0;
    int64_t steps = 0;
    for (NodeId i = 0; i < g.size(); ++i) steps = std::max(steps, g.timing(i).calls);
    if (!steps) continue;
    std::snprintf(line, sizeof line, "batch %lld, %lld steps\n%-10s %-22s %10s %10s\n", (long long)key.first,
                  (long long)steps, "node", "op/impl", "fwd us", "bwd us");
    out += line;
    for (NodeId i = 0; i < g.size(); ++i) {
      if (!g.op(i)) continue;
      const auto t = g.timing(i);
      total += t.forward_s + t.backward_s;
      std::snprintf(line, sizeof line, "%-10s %-22s %10.1f %10.1f\n", g.name(i).c_str(),
                    (std::string(g.op(i)->type()) + "/" + g.op(i)->impl()).c_str(), 1e6 * t.forward_s / steps,
                    1e6 * t.backward_s / steps);
      out += line;
    }
    std::snprintf(line, sizeof line, "ops total %.1f us per step\n", 1e6 * total / steps);
    out += line;
  }
  return out;
}

Trainer::Net& Trainer::net(int64_t batch, bool training) {
  auto& slot = nets_[{batch, training}];
  if (!slot) {
    auto n = std::make_unique<Net>(device_);
    Shape in = model_.input_shape();
    in.insert(in.begin(), batch);
    n->images = n->graph.input("images", in);
    n->output = model_.build(n->graph, n->images, training);
    n->targets = n->graph.input("targets", n->graph.value(n->output).shape());
    n->loss = n->graph.apply("loss", make_op(loss_op(spec_.loss), {}, device_), {n->output, n->targets});
    n->labels.resize(batch);
    n->graph.set_profiling(profiling_);
    slot = std::move(n);
  }
  return *slot;
}

std::vector<EpochStats> Trainer::fit(const Dataset& train, const Dataset* val, TrainObserver* observer) {
  BatchLoader loader(train, spec_.batch, spec_.shuffle, seed_);
  const auto params = model_.parameters();
  std::vector<EpochStats> history;
  // Build every graph this run needs before the clock starts: primitive creation is one-time work.
  for (int64_t b = 0; b < loader.batches(); ++b) net(loader.batch_size(b), true);

  for (int epoch = 1; epoch <= spec_.epochs; ++epoch) {
    const auto t0 = Clock::now();
    loader.start_epoch(epoch);
    if (observer) observer->epoch_begin(epoch, spec_.epochs, loader.batches());
    double loss_sum = 0;
    int64_t correct = 0, seen = 0;
    for (int64_t b = 0; b < loader.batches(); ++b) {
      const int64_t n = loader.batch_size(b);
      Net& net = this->net(n, true);
      loader.fill(b, net.graph.value(net.images).data(), net.graph.value(net.targets).data(), net.labels.data());
      net.graph.forward();
      const float loss = net.graph.value(net.loss)[0];
      if (!std::isfinite(loss)) {
        const NodeId bad = net.graph.first_non_finite();
        std::string culprit = bad >= 0 ? net.graph.name(bad) : "loss";
        if (bad >= 0 && net.graph.op(bad)) culprit += " (" + std::string(net.graph.op(bad)->type()) + ")";
        throw Error(ErrorKind::Numeric, "training diverged: loss is " + std::string(std::isnan(loss) ? "NaN" : "Inf") +
                                            " at epoch " + std::to_string(epoch) + ", batch " + std::to_string(b + 1) +
                                            "; first non-finite output in op '" + culprit +
                                            "' — lower train.optimizer.lr or add decay");
      }
      net.graph.backward(net.loss);
      optimizer_->step(params);
      loss_sum += loss * static_cast<double>(n);
      correct += count_correct(net.graph.value(net.output), net.labels, n);
      seen += n;
      if (observer)
        observer->batch_end(b + 1, loader.batches(), loss_sum / seen, double(correct) / seen, seen / seconds_since(t0));
    }
    EpochStats s;
    s.epoch = epoch;
    s.train_seconds = seconds_since(t0);
    s.loss = loss_sum / seen;
    s.acc = double(correct) / seen;
    s.images_per_second = seen / s.train_seconds;
    if (val) {
      const EvalResult r = evaluate(*val);
      s.val_loss = r.loss, s.val_acc = r.accuracy;
    }
    s.seconds = seconds_since(t0);
    history.push_back(s);
    if (observer) observer->epoch_end(s);
  }
  return history;
}

EvalResult Trainer::evaluate(const Dataset& data) {
  BatchLoader loader(data, spec_.eval_batch, false, 0);
  loader.start_epoch(0);
  EvalResult r;
  double loss_sum = 0;
  int64_t correct = 0;
  for (int64_t b = 0; b < loader.batches(); ++b) {
    const int64_t n = loader.batch_size(b);
    Net& net = this->net(n, false);
    loader.fill(b, net.graph.value(net.images).data(), net.graph.value(net.targets).data(), net.labels.data());
    net.graph.forward();
    loss_sum += net.graph.value(net.loss)[0] * static_cast<double>(n);
    correct += count_correct(net.graph.value(net.output), net.labels, n);
    r.count += n;
  }
  if (r.count) {
    r.loss = loss_sum / r.count;
    r.accuracy = double(correct) / r.count;
  }
  return r;
}

}  // namespace sf
