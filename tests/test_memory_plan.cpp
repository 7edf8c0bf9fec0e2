// The graph's memory planner: arena offsets that never let two live buffers meet, and graphs that reuse memory
// (with and without recomputing batch norm in backward) computing bit for bit what graphs with a buffer per
// node compute, forward and backward, over several steps, for every architecture and the ops with fan-out.
#include <gtest/gtest.h>

#include <cmath>
#include <limits>
#include <string>
#include <vector>

#include "core/error.h"
#include "core/graph.h"
#include "core/memory_plan.h"
#include "core/rng.h"
#include "models/zoo.h"
#include "ops/registry.h"

namespace sf {
namespace {

TEST(ArenaPlanTest, LiveBuffersNeverOverlapAndTheArenaIsNearItsLowerBound) {
  Rng rng(3);
  std::vector<BufferLife> buffers;
  for (int i = 0; i < 300; ++i) {
    const int first = static_cast<int>(rng.uniform(0, 100));
    buffers.push_back(
        {16 * static_cast<int64_t>(1 + rng.uniform(0, 500)), first, first + static_cast<int>(rng.uniform(0, 12))});
  }
  const ArenaPlan plan = plan_arena(buffers, 16);
  ASSERT_EQ(plan.offsets.size(), buffers.size());
  for (size_t a = 0; a < buffers.size(); ++a) {
    EXPECT_EQ(plan.offsets[a] % 16, 0);
    EXPECT_LE(plan.offsets[a] + buffers[a].floats, plan.floats);
    for (size_t b = a + 1; b < buffers.size(); ++b) {
      const bool in_time = buffers[a].first <= buffers[b].last && buffers[b].first <= buffers[a].last;
      const bool in_memory = plan.offsets[a] < plan.offsets[b] + buffers[b].floats &&
                             plan.offsets[b] < plan.offsets[a] + buffers[a].floats;
      ASSERT_FALSE(in_time && in_memory) << a << " and " << b;
    }
  }
  EXPECT_GE(plan.floats, plan.peak_live);
  EXPECT_LE(plan.floats, plan.peak_live * 13 / 10) << "greedy by size should stay near the bound";
}

TEST(ArenaPlanTest, AChainNeedsTwoBuffersAndDisjointLifetimesShareOne) {
  std::vector<BufferLife> chain;
  for (int i = 0; i < 10; ++i) chain.push_back({64, i, i + 1});  // each read by the next step only
  EXPECT_EQ(plan_arena(chain, 16).floats, 128);
  EXPECT_EQ(plan_arena({{100 * 16, 0, 3}, {50 * 16, 4, 9}}, 16).floats, 100 * 16);
}

Tensor random_tensor(Shape s, Rng& rng, double scale) {
  Tensor t(std::move(s));
  for (int64_t i = 0; i < t.numel(); ++i) t[i] = static_cast<float>(rng.uniform(-scale, scale));
  return t;
}

// One training graph (and its evaluation twin) of `model`, with gradient buffers of its own.
struct Net {
  Graph g, eval;
  NodeId x = -1, t = -1, out = -1, loss = -1, ex = -1, eout = -1;
  std::vector<Tensor> grads;
};

void build(Net& net, Model& model, int64_t batch, bool reuse, int64_t recompute_above) {
  if (reuse) net.g.reuse_memory(recompute_above), net.eval.reuse_memory(recompute_above);
  net.g.context().mode = Mode::train;
  net.g.context().random_key = 77;
  // The three nets share the model's running statistics; none moves them, so every eval pass reads the same.
  net.g.context().update_state = false;
  for (Parameter* p : model.parameters()) net.grads.push_back(Tensor::zeros(p->value.shape()));
  Shape in = model.input_shape();
  in.insert(in.begin(), batch);
  net.x = net.g.input("x", in);
  net.out = model.build(net.g, net.x, net.grads);
  net.t = net.g.input("t", net.g.shape(net.out));
  net.loss = net.g.apply("loss", make_op("softmax_cross_entropy"), {net.out, net.t});
  net.g.keep(net.out);
  net.g.keep(net.loss);
  net.ex = net.eval.input("x", in);
  net.eout = model.build(net.eval, net.ex, false);
  net.eval.keep(net.eout);
}

void expect_same(const Tensor& a, const Tensor& b, const std::string& what) {
  ASSERT_EQ(a.shape(), b.shape()) << what;
  for (int64_t i = 0; i < a.numel(); ++i) ASSERT_EQ(a[i], b[i]) << what << " at " << i;
}

ModelSpec spec(const std::string& arch, const std::string& activation, Shape input) {
  ModelSpec s;
  s.arch = arch;
  s.activation = activation;
  s.input = std::move(input);
  s.classes = 5;
  if (arch == "mobilenet_v1") s.alpha = 0.25, s.data_format = "channels_last", s.dropout = 0.2;
  return s;
}

struct Case {
  std::string name;
  ModelSpec spec;
};

void PrintTo(const Case& c, std::ostream* os) { *os << c.name; }

class ReuseTest : public ::testing::TestWithParam<Case> {};

// Three steps with fresh inputs each: whatever a reused buffer held from the last step or from another
// node must never show.
TEST_P(ReuseTest, ReusingGraphsComputeWhatBufferPerNodeGraphsDo) {
  Model model = build_model(GetParam().spec, 5);
  const int64_t batch = 6;
  Net plain, reuse, recompute;
  build(plain, model, batch, false, Graph::kNever);
  build(reuse, model, batch, true, Graph::kNever);
  build(recompute, model, batch, true, 0);
  Rng rng(11);
  for (int step = 0; step < 3; ++step) {
    SCOPED_TRACE("step " + std::to_string(step));
    const Tensor image = random_tensor(plain.g.shape(plain.x), rng, 1.0);
    Tensor target = Tensor::zeros(plain.g.shape(plain.t));
    for (int64_t n = 0; n < batch; ++n) target[n * 5 + (n + step) % 5] = 1.0f;
    for (Net* net : {&plain, &reuse, &recompute}) {
      net->g.value(net->x).copy_from(image);
      net->g.value(net->t).copy_from(target);
      net->g.forward();
      net->g.backward(net->loss);
      net->eval.value(net->ex).copy_from(image);
      net->eval.forward();
    }
    for (const Net* net : {&reuse, &recompute}) {
      const std::string who = net == &reuse ? "reuse" : "recompute";
      expect_same(net->g.value(net->loss), plain.g.value(plain.loss), who + " loss");
      expect_same(net->g.value(net->out), plain.g.value(plain.out), who + " output");
      expect_same(net->eval.value(net->eout), plain.eval.value(plain.eout), who + " eval output");
      for (size_t p = 0; p < plain.grads.size(); ++p)
        expect_same(net->grads[p], plain.grads[p], who + " gradient " + std::to_string(p));
    }
  }
  const Graph::MemoryStats& m = reuse.g.memory_stats();
  EXPECT_GT(m.arena_bytes, 0);
  EXPECT_GE(m.arena_bytes, m.peak_live_bytes);
  EXPECT_LT(m.arena_bytes, m.unplanned_bytes);
  EXPECT_EQ(m.recomputed, 0);
  EXPECT_LT(reuse.eval.memory_stats().arena_bytes, m.arena_bytes) << "nothing is held for a backward pass";
  if (GetParam().spec.arch == "mobilenet_v1") {
    // Every fused batch norm but the last, whose output only the pooling reads, and its backward does not.
    EXPECT_EQ(recompute.g.memory_stats().recomputed, 26);
    EXPECT_LT(recompute.g.memory_stats().arena_bytes, m.arena_bytes);
  }
}

INSTANTIATE_TEST_SUITE_P(Architectures, ReuseTest,
                         ::testing::Values(Case{"liu_small_relu", spec("liu_small", "relu", {1, 28, 28})},
                                           Case{"liu_large_softplus", spec("liu_large", "softplus", {1, 28, 28})},
                                           Case{"liu_small_qcfs", spec("liu_small", "qcfs", {1, 28, 28})},
                                           Case{"liu_small_per_neuron_nsp",
                                                [] {
                                                  ModelSpec s = spec("liu_small", "noisy_softplus", {1, 28, 28});
                                                  s.nsp_per_neuron =
                                                      true;  // reads the layer's input and weights again: fan-out
                                                  return s;
                                                }()},
                                           Case{"liu_small_ldr",
                                                [] {
                                                  ModelSpec s = spec("liu_small", "relu", {1, 28, 28});
                                                  s.weight_quant.bits =
                                                      3;  // weight_q nodes between parameters and convolutions
                                                  s.weight_quant.fsr = 0;
                                                  return s;
                                                }()},
                                           Case{"mobilenet_nhwc", spec("mobilenet_v1", "relu6", {3, 16, 16})},
                                           Case{"mobilenet_nchw_relu",
                                                [] {
                                                  ModelSpec s = spec("mobilenet_v1", "relu", {3, 16, 16});
                                                  s.data_format = "channels_first";
                                                  return s;
                                                }()}),
                         [](const auto& info) { return info.param.name; });

TEST(ReuseTest, OnlyKeptValuesAreReadableAndTheGraphIsPlannedOnce) {
  Graph g;
  g.reuse_memory();
  const NodeId x = g.input("x", {2, 3});
  const NodeId h = g.apply("h", make_op("relu"), {x});
  const NodeId y = g.apply("y", make_op("relu"), {h});
  g.keep(y);
  g.value(x).fill(-1.0f);
  g.forward();
  EXPECT_EQ(g.value(y)[0], 0.0f);
  EXPECT_EQ(g.shape(h), (Shape{2, 3}));
  try {
    (void)g.value(h);
    FAIL() << "an unkept value was readable";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("'h'"), std::string::npos) << e.what();
  }
  EXPECT_THROW(g.apply("z", make_op("relu"), {y}), Error);
  EXPECT_THROW(g.keep(h), Error);
  Graph built;
  built.input("x", {1});
  EXPECT_THROW(built.reuse_memory(), Error);
}

// Two graphs on one arena, the second larger: it grows the arena (the old buffer goes at once), the first lays
// itself out again at its next pass and computes what it did, and a backward whose forward another graph's
// pass has since overwritten is refused.
TEST(ReuseTest, GraphsSharingAnArenaLayThemselvesOutAgainWhenItGrows) {
  const auto arena = std::make_shared<Graph::SharedArena>();
  Rng rng(5);
  const Tensor w = random_tensor({4, 6}, rng, 1.0);
  Tensor gw = Tensor::zeros({4, 6});
  auto make = [&](Graph& g, int64_t n, NodeId& x, NodeId& y, NodeId& loss) {
    g.reuse_memory();
    g.share_arena(arena);
    g.context().mode = Mode::train;
    x = g.input("x", {n, 6});
    const NodeId h = g.apply("h", make_op("dense"), {x, g.parameter("w", w, gw)});
    y = g.apply("y", make_op("relu"), {h});
    loss = g.apply("loss", make_op("softmax_cross_entropy"), {y, g.input("t", {n, 4})});
    g.keep(y);
    g.keep(loss);
  };
  Graph small, large;
  NodeId sx, sy, sl, lx, ly, ll;
  make(small, 2, sx, sy, sl);
  make(large, 64, lx, ly, ll);
  small.value(sx).copy_from(random_tensor({2, 6}, rng, 1.0));
  large.value(lx).copy_from(random_tensor({64, 6}, rng, 1.0));
  small.forward();
  small.backward(sl);
  const std::vector<float> y0 = small.value(sy).to_vector(), g0 = gw.to_vector();
  const uint64_t generation = arena->generation;
  large.forward();
  EXPECT_GT(arena->generation, generation) << "the larger plan grows the arena";
  EXPECT_EQ(arena->buffer.numel() * 4, large.memory_stats().arena_bytes);
  EXPECT_THROW(small.backward(sl), Error) << "its forward values were overwritten";
  small.forward();
  small.backward(sl);
  EXPECT_EQ(small.value(sy).to_vector(), y0);
  EXPECT_EQ(gw.to_vector(), g0);
  EXPECT_THROW(large.backward(ll), Error) << "small ran after large's forward";
}

// The culprit of a divergence is named even though the values that showed it are gone by the time it is
// looked for: the pass runs again.
TEST(ReuseTest, TheFirstNonFiniteOutputIsFoundByRunningTheForwardPassAgain) {
  Graph g;
  g.reuse_memory();
  const NodeId x = g.input("x", {2, 4});
  const NodeId w = g.parameter("w", Tensor::full({3, 4}, 1e30f));
  const NodeId a = g.apply("a", make_op("relu"), {x});
  const NodeId d = g.apply("d", make_op("dense"), {a, w});
  const NodeId y = g.apply("y", make_op("relu"), {d});
  g.keep(y);
  g.value(x).fill(1e-30f);
  g.forward();
  EXPECT_EQ(g.first_non_finite(), -1);
  g.value(x).fill(1e30f);  // finite, and so are the weights: the product overflows in d
  g.forward();
  EXPECT_EQ(g.first_non_finite(), d);
  EXPECT_FALSE(std::isfinite(g.value(y)[0]));
}

}  // namespace
}  // namespace sf
