// Op kernels and the autograd graph.
//   OpsTest       every non-reference CPU kernel against the "reference" oracle (forward and backward,
//                 every subset of requested input gradients, state buffers after each forward; in the case's
//                 mode, train or eval), plus registry and shape-error behaviour. A
//                 kernel is run only on the cases its supports() accepts; the others are printed as
//                 UNSUPPORTED, listed exactly in OpsTest.UnsupportedCasesAreTheExpectedOnes, and a case that
//                 no optimised kernel supports is skipped (GTEST_SKIP).
//   GradCheckTest every kernel (reference included) against central finite differences of
//                 L = Σ output ⊙ R, evaluated in double.
//   GraphTest     fan-out gradient summation, frozen parameters, overwrite semantics, a Liu-style small
//                 net run through the default kernels against the reference kernels and finite differences.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <functional>
#include <iostream>
#include <limits>
#include <ostream>
#include <set>
#include <string>
#include <vector>

#include "core/error.h"
#include "core/graph.h"
#include "core/rng.h"
#include "ops/registry.h"
#include "tests/support.h"

namespace {

using sf::test::error_message;

// Ops called directly (outside a graph) run in eval mode on the CPU.
const sf::ExecContext kCtx;

using sf::Attrs;
using sf::Device;
using sf::NodeId;
using sf::Rng;
using sf::Shape;
using sf::Tensor;

// ---------------------------------------------------------------------------------------------------------
// Helpers

enum class Gen {
  normal,       // N(0, scale²)
  uniform01,    // U[0, 1) — images
  positive,     // 0.5 + scale·U[0, 1) — variances
  offset,       // 50 + N(0, scale²) — a mean far from 0 against the spread (batch-norm statistics)
  act_special,  // N(0, 9) with exact 0, ±30, ±1e-3, ±5 planted; for FD, |x| ≥ 0.1 (relu kink avoided)
  act_relu6,    // act_special with 6, 6 ± 1e-3 planted too; for FD, also |x − 6| ≥ 0.1 (relu6's upper kink)
  onehot,       // one 1 per row of an [N, K] tensor
  soft,         // positive rows summing to 1
};

struct InputSpec {
  Shape shape;
  Gen gen = Gen::normal;
  double scale = 1.0;
  bool differentiable = true;
};

struct OpCase {
  std::string name;  // test-name suffix
  std::string type;
  Attrs attrs;
  std::vector<InputSpec> inputs;
  double fd_eps = 1e-2;
  sf::Mode mode = sf::Mode::eval;
  std::vector<InputSpec> state = {};  // bound with Op::bind_state (batch-norm running statistics)
};

// The context a case's ops run in: its mode, and a fixed random key and first sample (dropout masks).
sf::ExecContext ctx_of(const OpCase& c) {
  sf::ExecContext ctx;
  ctx.mode = c.mode;
  ctx.random_key = 0x5eedf00dULL;
  ctx.first_sample = 3;
  return ctx;
}

std::vector<std::string> impls_of(const std::string& type) {
  return sf::OpRegistry::instance().implementations(type, Device::cpu);
}

std::vector<Shape> shapes_of(const OpCase& c) {
  std::vector<Shape> s;
  for (const auto& in : c.inputs) s.push_back(in.shape);
  return s;
}

// Whether kernel `impl` covers the case (KernelEntry::supports): kernels run only where they do.
bool supported(const OpCase& c, const std::string& impl) {
  return sf::OpRegistry::instance().supports(c.type, Device::cpu, impl, c.attrs, shapes_of(c));
}

std::string joined(const std::vector<std::string>& v) {
  std::string out;
  for (const auto& s : v) out += (out.empty() ? "" : ", ") + s;
  return out;
}

// Makes the kernels a case left out visible in the output and in the XML report.
void report_unsupported(const std::string& case_name, const std::vector<std::string>& impls) {
  if (impls.empty()) return;
  testing::Test::RecordProperty("unsupported_impls", joined(impls));
  std::cout << "[ UNSUPPORTED ] " << case_name << ": " << joined(impls) << " (outside their supports())\n";
}

Tensor generate(const InputSpec& s, Rng& rng, bool for_fd) {
  Tensor t(s.shape);
  const int64_t n = t.numel();
  switch (s.gen) {
    case Gen::normal:
      for (int64_t i = 0; i < n; ++i) t[i] = static_cast<float>(rng.normal() * s.scale);
      break;
    case Gen::uniform01:
      for (int64_t i = 0; i < n; ++i) t[i] = static_cast<float>(rng.uniform());
      break;
    case Gen::positive:
      for (int64_t i = 0; i < n; ++i) t[i] = static_cast<float>(0.5 + s.scale * rng.uniform());
      break;
    case Gen::offset:
      for (int64_t i = 0; i < n; ++i) t[i] = static_cast<float>(50.0 + s.scale * rng.normal());
      break;
    case Gen::act_special:
    case Gen::act_relu6: {
      for (int64_t i = 0; i < n; ++i) t[i] = static_cast<float>(3.0 * rng.normal());
      const float planted[] = {0.0f, 30.0f, -30.0f, 1e-3f, -1e-3f, 5.0f, -5.0f, 0.0f};
      for (int64_t i = 0; i < n && i < 8; ++i) t[i * (n / 8)] = planted[i];
      if (s.gen == Gen::act_relu6) {
        const float at_six[] = {6.0f, 6.001f, 5.999f};
        for (int64_t i = 0; i < n && i < 3; ++i) t[i * (n / 8) + 1] = at_six[i];
      }
      if (for_fd)
        for (int64_t i = 0; i < n; ++i) {
          if (std::fabs(t[i]) < 0.1f) t[i] = (t[i] < 0.0f ? -0.1f : 0.1f) + t[i];
          if (s.gen == Gen::act_relu6 && std::fabs(t[i] - 6.0f) < 0.1f) t[i] += t[i] < 6.0f ? -0.1f : 0.1f;
        }
      break;
    }
    case Gen::onehot: {
      t.fill(0.0f);
      const int64_t rows = s.shape.at(0), k = s.shape.at(1);
      for (int64_t r = 0; r < rows; ++r) t[r * k + static_cast<int64_t>(rng.below(k))] = 1.0f;
      break;
    }
    case Gen::soft: {
      const int64_t rows = s.shape.at(0), k = s.shape.at(1);
      for (int64_t r = 0; r < rows; ++r) {
        double sum = 0.0;
        for (int64_t j = 0; j < k; ++j) sum += (t[r * k + j] = static_cast<float>(0.05 + rng.uniform()));
        for (int64_t j = 0; j < k; ++j) t[r * k + j] = static_cast<float>(t[r * k + j] / sum);
      }
      break;
    }
  }
  return t;
}

Tensor random_like(const Shape& shape, Rng& rng, double scale = 1.0) {
  return generate(InputSpec{shape, Gen::normal, scale}, rng, false);
}

double max_abs(const Tensor& t) {
  double m = 0.0;
  for (int64_t i = 0; i < t.numel(); ++i) m = std::max(m, static_cast<double>(std::fabs(t[i])));
  return m;
}

// |got − want| ≤ rtol · (|want| + max|want|) elementwise: relative, scaled by the tensor's magnitude so that
// entries that cancel to ~0 are judged against the size of what was summed. NaN (e.g. an unwritten,
// NaN-prefilled gradient) always fails.
void expect_close(const Tensor& got, const Tensor& want, double rtol, const std::string& what) {
  ASSERT_EQ(got.shape(), want.shape()) << what;
  const double scale = std::max(max_abs(want), 1e-6);
  int bad = 0;
  for (int64_t i = 0; i < want.numel(); ++i) {
    const double diff = std::fabs(static_cast<double>(got[i]) - want[i]);
    const double tol = rtol * (std::fabs(want[i]) + scale);
    if (!(diff <= tol)) {
      if (++bad <= 5)
        ADD_FAILURE() << what << ": element " << i << " got " << got[i] << " want " << want[i] << " (tol " << tol
                      << ")";
    }
  }
  EXPECT_EQ(bad, 0) << what << ": " << bad << " of " << want.numel() << " elements differ";
}

std::vector<const Tensor*> ptrs(const std::vector<Tensor>& ts) {
  std::vector<const Tensor*> out;
  for (const auto& t : ts) out.push_back(&t);
  return out;
}

std::vector<Tensor> make_inputs(const OpCase& c, Rng& rng, bool for_fd) {
  std::vector<Tensor> ins;
  for (const auto& spec : c.inputs) ins.push_back(generate(spec, rng, for_fd));
  return ins;
}

// The case's state buffers, drawn from their own seed so that every kernel starts from the same values.
std::vector<Tensor> make_state(const OpCase& c) {
  Rng rng(777);
  std::vector<Tensor> st;
  for (const auto& spec : c.state) st.push_back(generate(spec, rng, false));
  return st;
}

// Gradient buffers for the inputs selected by `mask` (bit i → input i), prefilled with NaN so that a kernel
// that accumulates instead of overwriting, or skips an element, is caught.
std::vector<Tensor> nan_grads(const OpCase& c, unsigned mask) {
  std::vector<Tensor> g;
  for (size_t i = 0; i < c.inputs.size(); ++i)
    g.push_back((mask >> i) & 1u ? Tensor::full(c.inputs[i].shape, std::numeric_limits<float>::quiet_NaN()) : Tensor());
  return g;
}

std::vector<Tensor*> grad_ptrs(std::vector<Tensor>& g) {
  std::vector<Tensor*> out;
  for (auto& t : g) out.push_back(t.defined() ? &t : nullptr);
  return out;
}

unsigned differentiable_mask(const OpCase& c) {
  unsigned m = 0;
  for (size_t i = 0; i < c.inputs.size(); ++i)
    if (c.inputs[i].differentiable) m |= 1u << i;
  return m;
}

// ---------------------------------------------------------------------------------------------------------
// The case table shared by OpsTest (kernel vs reference) and GradCheckTest (kernel vs finite differences).

std::vector<OpCase> all_cases() {
  std::vector<OpCase> cs;
  // x is given in the layout's own order ([N,H,W,C] for nhwc); w is always [O, C/groups, KH, KW].
  auto gconv = [&](std::string name, Shape x, Shape w, bool bias, int stride, int pad, int groups, const char* layout) {
    OpCase c{std::move(name), "conv2d", Attrs{{"stride", stride}, {"pad", pad}}, {}};
    if (groups != 1) c.attrs.set("groups", groups);
    if (std::string(layout) != "nchw") c.attrs.set("layout", layout);
    c.inputs.push_back({x, Gen::normal, 1.0});
    const double fan_in = static_cast<double>(w[1] * w[2] * w[3]);
    c.inputs.push_back({w, Gen::normal, 1.0 / std::sqrt(fan_in)});
    if (bias) c.inputs.push_back({Shape{w[0]}, Gen::normal, 0.5});
    cs.push_back(c);
  };
  auto conv = [&](std::string name, Shape x, Shape w, bool bias, int stride, int pad) {
    gconv(std::move(name), x, w, bias, stride, pad, 1, "nchw");
  };
  // Liu et al. small net: conv1 1→6 5x5 on 28x28, conv2 6→12 5x5 on 12x12.
  conv("conv_liu1_nobias", {4, 1, 28, 28}, {6, 1, 5, 5}, false, 1, 0);
  conv("conv_liu1_bias", {4, 1, 28, 28}, {6, 1, 5, 5}, true, 1, 0);
  conv("conv_liu2_nobias", {4, 6, 12, 12}, {12, 6, 5, 5}, false, 1, 0);
  conv("conv_liu2_bias", {4, 6, 12, 12}, {12, 6, 5, 5}, true, 1, 0);
  conv("conv_s1_p2", {2, 2, 9, 9}, {3, 2, 5, 5}, false, 1, 2);
  conv("conv_s1_p2_bias", {2, 2, 9, 9}, {3, 2, 5, 5}, true, 1, 2);
  conv("conv_s2_p0", {2, 3, 10, 10}, {4, 3, 3, 3}, false, 2, 0);
  conv("conv_s2_p0_bias_odd", {2, 3, 11, 11}, {4, 3, 3, 3}, true, 2, 0);
  conv("conv_s2_p2_bias", {2, 3, 12, 12}, {4, 3, 5, 5}, true, 2, 2);
  conv("conv_s2_p2_odd", {2, 3, 11, 11}, {4, 3, 5, 5}, false, 2, 2);
  conv("conv_nonsquare_p1_bias", {2, 3, 9, 11}, {4, 3, 3, 5}, true, 1, 1);
  conv("conv_nonsquare_s2_p1", {2, 2, 10, 7}, {3, 2, 2, 4}, false, 2, 1);
  conv("conv_1x1_bias", {3, 4, 5, 5}, {3, 4, 1, 1}, true, 1, 0);
  // Row-block kernels off the Liu shapes: 16-wide rows with a block tail and a partial 6-row tile, kh ≠ kw with
  // H ≠ W; and the wide data-gradient gather with zero margins (7-wide rows).
  conv("conv_rows16_tails", {2, 2, 21, 20}, {7, 2, 5, 5}, true, 1, 0);
  conv("conv_rows16_nonsquare", {2, 3, 10, 20}, {4, 3, 3, 5}, false, 1, 0);
  conv("conv_wide_gather", {2, 2, 9, 9}, {3, 2, 3, 3}, false, 1, 0);
  // 53 images: two full 25-image weight-gradient chunks and a partial third in the micro-GEMM kernel.
  conv("conv_liu2_multichunk_bias", {53, 6, 12, 12}, {12, 6, 5, 5}, true, 1, 0);
  // Outside the micro-GEMM's measured sizes (ops/cpu/conv2d_gemm.cpp): 96 output channels, K = 48·3·3 = 432,
  // a 32×32 output plane. oneDNN and the reference take them.
  conv("conv_c96_1x1_bias", {2, 96, 8, 8}, {96, 96, 1, 1}, true, 1, 0);
  conv("conv_k432", {1, 48, 10, 10}, {16, 48, 3, 3}, false, 1, 0);
  conv("conv_plane_32x32", {1, 1, 36, 36}, {2, 1, 5, 5}, false, 1, 0);
  // Grouped and depthwise (groups = C; O = C·multiplier), NCHW.
  gconv("conv_dw3x3_p1_bias", {2, 8, 9, 9}, {8, 1, 3, 3}, true, 1, 1, 8, "nchw");
  gconv("conv_dw3x3_s2_p1_odd", {2, 6, 11, 11}, {6, 1, 3, 3}, false, 2, 1, 6, "nchw");
  gconv("conv_dw_multiplier2", {2, 4, 7, 7}, {8, 1, 3, 3}, true, 1, 1, 4, "nchw");
  gconv("conv_groups2_p1", {2, 6, 7, 7}, {4, 3, 3, 3}, false, 1, 1, 2, "nchw");
  // 8-wide rows, stride 1, no padding, 12 channels: inside the micro-GEMM's measured sizes but grouped.
  gconv("conv_groups3_gemm_sized", {2, 6, 12, 12}, {12, 2, 5, 5}, true, 1, 0, 3, "nchw");
  // NHWC: x [N,H,W,C], y [N,OH,OW,O].
  gconv("conv_nhwc_1x1_bias", {3, 5, 5, 8}, {12, 8, 1, 1}, true, 1, 0, 1, "nhwc");
  gconv("conv_nhwc_3x3_s2_p1_odd", {2, 9, 11, 3}, {8, 3, 3, 3}, false, 2, 1, 1, "nhwc");
  gconv("conv_nhwc_liu_gemm_sized", {2, 12, 12, 6}, {12, 6, 5, 5}, false, 1, 0, 1, "nhwc");
  gconv("conv_nhwc_groups3_bias", {2, 7, 7, 6}, {9, 2, 3, 3}, true, 1, 1, 3, "nhwc");
  gconv("conv_nhwc_dw3x3_s2_p1", {2, 9, 9, 16}, {16, 1, 3, 3}, false, 2, 1, 16, "nhwc");
  gconv("conv_nhwc_dw_batch1_odd", {1, 5, 7, 7}, {7, 1, 3, 3}, true, 1, 1, 7, "nhwc");
  // MobileNet v1 layers at CIFAR sizes (batch 2): 64 channels on 16×16, 512 on 2×2; depthwise and pointwise.
  gconv("conv_mn_pw_32to64_16x16_nhwc", {2, 16, 16, 32}, {64, 32, 1, 1}, false, 1, 0, 1, "nhwc");
  gconv("conv_mn_dw_64_16x16_nhwc", {2, 16, 16, 64}, {64, 1, 3, 3}, false, 1, 1, 64, "nhwc");
  gconv("conv_mn_dw_64_16x16_s2_nhwc", {2, 16, 16, 64}, {64, 1, 3, 3}, false, 2, 1, 64, "nhwc");
  gconv("conv_mn_dw_512_2x2_nhwc", {2, 2, 2, 512}, {512, 1, 3, 3}, false, 1, 1, 512, "nhwc");
  gconv("conv_mn_pw_512_2x2_nhwc", {2, 2, 2, 512}, {512, 512, 1, 1}, false, 1, 0, 1, "nhwc");
  gconv("conv_mn_dw_64_16x16_nchw", {2, 64, 16, 16}, {64, 1, 3, 3}, false, 1, 1, 64, "nchw");
  gconv("conv_mn_pw_64_16x16_nchw", {2, 64, 16, 16}, {64, 64, 1, 1}, false, 1, 0, 1, "nchw");
  gconv("conv_mn_pw_512_2x2_nchw", {1, 512, 2, 2}, {512, 512, 1, 1}, true, 1, 0, 1, "nchw");

  auto pool = [&](std::string name, Shape x, int k, int stride, int pad) {
    cs.push_back({std::move(name),
                  "avgpool2d",
                  Attrs{{"kernel", k}, {"stride", stride}, {"pad", pad}},
                  {{x, Gen::normal, 1.0}}});
  };
  pool("pool_2x2_s2_liu", {4, 6, 24, 24}, 2, 2, 0);
  pool("pool_2x2_s2", {2, 3, 8, 8}, 2, 2, 0);
  pool("pool_2x2_s2_odd", {2, 2, 5, 7}, 2, 2, 0);
  pool("pool_2x2_s2_tails", {2, 2, 6, 27}, 2, 2, 0);  // 13 outputs per row: an 8-block, a 4-block, one left
  pool("pool_3x3_s2_p1", {2, 3, 12, 12}, 3, 2, 1);
  pool("pool_3x3_s2_p1_odd", {2, 3, 11, 9}, 3, 2, 1);
  pool("pool_3x3_s1_p1", {2, 2, 6, 6}, 3, 1, 1);
  // Default attrs: kernel 2, stride = kernel.
  cs.push_back({"pool_default_attrs", "avgpool2d", Attrs{}, {{{2, 3, 6, 6}, Gen::normal, 1.0}}});
  // Outside the pooling loops' measured sizes: more than 1024 channels, a 60×60 map.
  pool("pool_c1100", {1, 1100, 2, 2}, 2, 2, 0);
  pool("pool_60x60", {1, 1, 60, 60}, 2, 2, 0);

  auto dense = [&](std::string name, int64_t n, int64_t in, int64_t out, bool bias) {
    OpCase c{std::move(name), "dense", Attrs{}, {}};
    c.inputs.push_back({Shape{n, in}, Gen::normal, 1.0});
    c.inputs.push_back({Shape{out, in}, Gen::normal, 1.0 / std::sqrt(static_cast<double>(in))});
    if (bias) c.inputs.push_back({Shape{out}, Gen::normal, 0.5});
    cs.push_back(c);
  };
  dense("dense_bias", 6, 20, 10, true);
  dense("dense_nobias", 6, 20, 10, false);
  dense("dense_liu_bias", 50, 192, 10, true);
  dense("dense_single_row", 1, 7, 3, true);
  // Outside the dense loops' measured sizes: 16 outputs, 1100 inputs.
  dense("dense_out16", 4, 20, 16, true);
  dense("dense_in1100", 2, 1100, 3, false);

  cs.push_back({"flatten", "flatten", Attrs{}, {{{3, 2, 4, 5}, Gen::normal, 1.0}}});

  auto gap = [&](std::string name, Shape x, const char* layout) {
    cs.push_back({std::move(name), "global_avgpool", Attrs{{"layout", layout}}, {{x, Gen::normal, 1.0}}});
  };
  gap("gap_nchw_odd", {2, 3, 5, 7}, "nchw");
  gap("gap_nhwc_odd", {2, 5, 7, 3}, "nhwc");
  gap("gap_batch1_1x1", {1, 4, 1, 1}, "nchw");
  gap("gap_mn_64_16x16_nchw", {2, 64, 16, 16}, "nchw");
  gap("gap_mn_1024_2x2_nhwc", {3, 2, 2, 1024}, "nhwc");
  cs.push_back({"gap_default_layout", "global_avgpool", Attrs{}, {{{2, 3, 4, 4}, Gen::normal, 1.0}}});

  // Batch norm: x, gamma, beta; state running_mean, running_var. x in the layout's order.
  auto bn = [&](std::string name, Shape x, const char* layout, sf::Mode mode, Attrs attrs = {}) {
    const int64_t c = x.size() == 2 ? x[1] : std::string(layout) == "nhwc" ? x[3] : x[1];
    attrs.set("layout", layout);
    OpCase k{std::move(name), "batchnorm", attrs, {}, 1e-2, mode};
    k.inputs = {{x, Gen::normal, 1.5}, {Shape{c}, Gen::normal, 1.0}, {Shape{c}, Gen::normal, 0.5}};
    k.state = {{Shape{c}, Gen::normal, 0.5}, {Shape{c}, Gen::positive, 1.0}};
    cs.push_back(k);
  };
  for (sf::Mode mode : {sf::Mode::train, sf::Mode::eval}) {
    const std::string m = mode == sf::Mode::train ? "train" : "eval";
    bn("bn_" + m + "_nchw", {4, 3, 5, 5}, "nchw", mode);
    bn("bn_" + m + "_nhwc_odd", {3, 5, 7, 6}, "nhwc", mode);
    bn("bn_" + m + "_dense", {8, 5}, "nchw", mode);
    bn("bn_" + m + "_batch1", {1, 4, 3, 3}, "nchw", mode);
    bn("bn_" + m + "_mn_64_16x16_nhwc", {2, 16, 16, 64}, "nhwc", mode);
    bn("bn_" + m + "_mn_512_2x2_nhwc", {4, 2, 2, 512}, "nhwc", mode);
    bn("bn_" + m + "_mn_64_16x16_nchw", {2, 64, 16, 16}, "nchw", mode);
    // The loops' channel blocks: 16 (MobileNet α 0.5's first maps), and 59 = 32 + 16 + 8 + 3, every width.
    bn("bn_" + m + "_mn_16_8x8_nhwc", {2, 8, 8, 16}, "nhwc", mode);
    bn("bn_" + m + "_lanes_59_nhwc", {2, 3, 3, 59}, "nhwc", mode);
  }
  // Batch norm with its ReLU / ReLU6 fused (what Model::build makes of the MobileNet pairs), the last on every
  // channel-block width of the loops.
  bn("bn_train_relu6_nhwc", {3, 5, 7, 6}, "nhwc", sf::Mode::train, {{"activation", "relu6"}});
  bn("bn_eval_relu6_nchw", {4, 3, 5, 5}, "nchw", sf::Mode::eval, {{"activation", "relu6"}});
  bn("bn_train_relu_nchw", {4, 3, 5, 5}, "nchw", sf::Mode::train, {{"activation", "relu"}});
  // γ up to ±8 reaches both clips; a smaller step crosses fewer of the kinks the difference cannot follow.
  // Few positions per channel: a step of γ or β moves every output of its channel, and on larger maps some of
  // them cross a clip, which a finite difference cannot follow.
  bn("bn_train_relu6_lanes_59_nhwc", {2, 2, 2, 59}, "nhwc", sf::Mode::train, {{"activation", "relu6"}});
  for (size_t i = cs.size() - 4; i < cs.size(); ++i) cs[i].inputs[1].scale = 2.5, cs[i].fd_eps = 1e-3;
  bn("bn_train_momentum09_eps1e5", {4, 3, 5, 5}, "nchw", sf::Mode::train, {{"momentum", 0.9}, {"eps", 1e-5}});
  bn("bn_train_dense_batch2", {2, 7}, "nhwc", sf::Mode::train);  // m = 2: the unbiased variance doubles
  // m = 1152 values per channel: the CUDA kernel's partial sums span two chunks of 1024 rows.
  bn("bn_train_two_chunks_nhwc", {2, 24, 24, 40}, "nhwc", sf::Mode::train);
  bn("bn_train_two_chunks_nchw", {2, 3, 24, 24}, "nchw", sf::Mode::train);
  // Mean 50, spread 1: statistics that subtract E[x]² from E[x²] in float would lose most of the variance.
  for (const char* layout : {"nchw", "nhwc"}) {
    bn(std::string("bn_train_offset_mean_") + layout, {4, 6, 5, 5}, layout, sf::Mode::train);
    cs.back().inputs[0] = {{4, 6, 5, 5}, Gen::offset, 1.0};
  }

  auto dropout = [&](std::string name, Shape x, double rate, sf::Mode mode) {
    cs.push_back({std::move(name), "dropout", Attrs{{"rate", rate}}, {{x, Gen::normal, 1.0}}, 1e-2, mode});
  };
  dropout("dropout_train_nchw", {4, 3, 5, 5}, 0.3, sf::Mode::train);
  dropout("dropout_train_dense", {8, 100}, 0.5, sf::Mode::train);
  dropout("dropout_train_rate0", {2, 10}, 0.0, sf::Mode::train);
  dropout("dropout_eval", {4, 10}, 0.5, sf::Mode::eval);

  auto nhwc = [&](std::string name, Shape x) {
    cs.push_back({std::move(name), "to_nhwc", Attrs{}, {{x, Gen::normal, 1.0}}});
  };
  nhwc("to_nhwc_odd", {2, 3, 5, 7});
  nhwc("to_nhwc_1x1x1x1", {1, 1, 1, 1});
  nhwc("to_nhwc_cifar_input", {4, 3, 32, 32});

  for (const char* act : {"relu", "softplus"}) {
    cs.push_back({std::string(act) + "_small", act, Attrs{}, {{{4, 6, 8, 8}, Gen::act_special}}, 3e-3});
    // > 4096 elements: the OpenMP kernel takes its parallel path.
    cs.push_back({std::string(act) + "_large", act, Attrs{}, {{{4, 6, 24, 24}, Gen::act_special}}, 3e-3});
  }
  // oneDNN 2.6 eltwise has no output scale: only the loops and the reference take a scaled ReLU.
  cs.push_back({"relu_scaled", "relu", Attrs{{"scale", 1.085}}, {{{4, 6, 8, 8}, Gen::act_special}}, 3e-3});
  cs.push_back({"relu6_small", "relu6", Attrs{}, {{{4, 6, 8, 8}, Gen::act_relu6}}, 3e-3});
  cs.push_back({"relu6_large_nhwc", "relu6", Attrs{}, {{{4, 24, 24, 6}, Gen::act_relu6}}, 3e-3});
  cs.push_back({"relu6_dense_odd", "relu6", Attrs{}, {{{3, 37}, Gen::act_relu6}}, 3e-3});
  cs.push_back({"relu6_scaled", "relu6", Attrs{{"scale", 1.085}}, {{{4, 6, 8, 8}, Gen::act_relu6}}, 3e-3});
  cs.push_back({"noisy_softplus_default", "noisy_softplus", Attrs{}, {{{4, 6, 8, 8}, Gen::act_special}}, 3e-3});
  cs.push_back({"noisy_softplus_k017_s1_large",
                "noisy_softplus",
                Attrs{{"k", 0.17}, {"sigma", 1.0}},
                {{{4, 6, 24, 24}, Gen::act_special}},
                3e-3});
  cs.push_back({"noisy_softplus_k03_s05",
                "noisy_softplus",
                Attrs{{"k", 0.3}, {"sigma", 0.5}},
                {{{3, 50}, Gen::act_special}},
                3e-3});
  cs.push_back({"noisy_softplus_k1_s2",
                "noisy_softplus",
                Attrs{{"k", 1.0}, {"sigma", 2.0}},
                {{{3, 50}, Gen::act_special}},
                3e-3});

  auto loss = [&](std::string name, const char* type, int64_t n, int64_t k, Gen target, double logit_scale) {
    cs.push_back({std::move(name),
                  type,
                  Attrs{},
                  {{{n, k}, Gen::normal, logit_scale}, {{n, k}, target, 1.0, /*differentiable=*/false}},
                  5e-2});  // wide step: the float loss resolves ~1e-7 relative, per-element grads are ~1/N
  };
  loss("mse_onehot", "mse_loss", 8, 10, Gen::onehot, 1.0);
  loss("mse_soft", "mse_loss", 8, 10, Gen::soft, 1.0);
  loss("mse_batch64", "mse_loss", 64, 10, Gen::onehot, 1.0);  // parallel path
  loss("ce_onehot", "softmax_cross_entropy", 8, 10, Gen::onehot, 1.0);
  loss("ce_soft", "softmax_cross_entropy", 8, 10, Gen::soft, 1.0);
  loss("ce_large_logits", "softmax_cross_entropy", 8, 10, Gen::onehot, 15.0);  // logits around ±30
  loss("ce_batch64_soft", "softmax_cross_entropy", 64, 10, Gen::soft, 2.0);    // parallel path
  return cs;
}

std::string case_name(const testing::TestParamInfo<OpCase>& info) { return info.param.name; }
void PrintTo(const OpCase& c, std::ostream* os) { *os << c.name << " (" << c.type << ")"; }

// ---------------------------------------------------------------------------------------------------------
// OpsTest: every optimised kernel against the reference kernel.

class OpsTest : public testing::TestWithParam<OpCase> {};

TEST_P(OpsTest, MatchesReference) {
  const OpCase& c = GetParam();
  const auto shapes = shapes_of(c);
  const unsigned diff = differentiable_mask(c);
  int compared = 0;
  std::vector<std::string> unsupported;
  for (const std::string& impl : impls_of(c.type)) {
    if (impl == "reference") continue;
    if (!supported(c, impl)) {
      unsupported.push_back(impl);
      continue;
    }
    SCOPED_TRACE("impl " + impl);
    const sf::ExecContext ctx = ctx_of(c);
    auto ref = sf::make_op(c.type, c.attrs, Device::cpu, "reference");
    auto op = sf::make_op(c.type, c.attrs, Device::cpu, impl);
    // Each op updates its own copy of the same initial state.
    const std::vector<Tensor> ref_state = make_state(c), op_state = make_state(c);
    if (!c.state.empty()) ref->bind_state(ref_state), op->bind_state(op_state);
    EXPECT_EQ(op->impl(), impl);
    EXPECT_EQ(std::string(op->type()), c.type);
    const Shape out_shape = ref->prepare(shapes);
    ASSERT_EQ(op->prepare(shapes), out_shape);

    Rng rng(1234);
    // Two rounds with different data through the same prepared op: kernels rebind their buffers per call.
    for (int round = 0; round < 2; ++round) {
      SCOPED_TRACE("round " + std::to_string(round));
      const auto ins = make_inputs(c, rng, false);
      Tensor want(out_shape), got = Tensor::full(out_shape, std::numeric_limits<float>::quiet_NaN());
      ref->forward(ctx, ptrs(ins), want);
      op->forward(ctx, ptrs(ins), got);
      expect_close(got, want, 1e-4, "forward");
      for (size_t i = 0; i < ref_state.size(); ++i)
        expect_close(op_state[i], ref_state[i], 1e-5, "state buffer " + std::to_string(i) + " after forward");

      const Tensor gout = random_like(out_shape, rng);
      // Every subset of requested gradients, the empty one included (must not crash or write anything).
      for (unsigned mask = 0; mask <= diff; ++mask) {
        if ((mask & ~diff) != 0) continue;
        SCOPED_TRACE("grad mask " + std::to_string(mask));
        auto gwant = nan_grads(c, mask), ggot = nan_grads(c, mask);
        const auto pw = grad_ptrs(gwant), pg = grad_ptrs(ggot);
        ref->backward(ctx, ptrs(ins), want, gout, pw);
        op->backward(ctx, ptrs(ins), got, gout, pg);
        for (size_t i = 0; i < c.inputs.size(); ++i)
          if (pg[i]) expect_close(*pg[i], *pw[i], 1e-4, "grad of input " + std::to_string(i));
      }
    }
    ++compared;
  }
  report_unsupported(c.name, unsupported);
  if (compared == 0 && !unsupported.empty())
    GTEST_SKIP() << "no optimised kernel supports " << c.name << " (" << joined(unsupported) << ")";
  // Nothing to compare when the oracle is the only CPU kernel (flatten); GradCheckTest still covers it.
  if (compared == 0) {
    EXPECT_EQ(impls_of(c.type), std::vector<std::string>{"reference"});
  }
}

INSTANTIATE_TEST_SUITE_P(Ops, OpsTest, testing::ValuesIn(all_cases()), case_name);

// ---------------------------------------------------------------------------------------------------------
// CudaOpsTest: every CUDA kernel against the reference kernel on the CPU, on the same cases and at the same
// tolerance as the CPU kernels: inputs are uploaded, outputs and gradients (NaN-prefilled on the device)
// copied back.

std::vector<OpCase> cuda_cases() {
  std::vector<OpCase> cs;
  for (const OpCase& c : all_cases())
    if (!sf::OpRegistry::instance().implementations(c.type, Device::cuda).empty()) cs.push_back(c);
  return cs;
}

std::vector<Tensor> on_gpu(const std::vector<Tensor>& ts) {
  std::vector<Tensor> out;
  for (const Tensor& t : ts) out.push_back(t.defined() ? t.to(Device::cuda) : Tensor());
  return out;
}

class CudaOpsTest : public testing::TestWithParam<OpCase> {};

TEST_P(CudaOpsTest, MatchesReference) {
  SF_REQUIRE_GPU();
  const OpCase& c = GetParam();
  const auto shapes = shapes_of(c);
  const unsigned diff = differentiable_mask(c);
  for (const std::string& impl : sf::OpRegistry::instance().implementations(c.type, Device::cuda)) {
    if (!sf::OpRegistry::instance().supports(c.type, Device::cuda, impl, c.attrs, shapes)) continue;
    SCOPED_TRACE("impl " + impl);
    sf::ExecContext ctx = ctx_of(c), gpu_ctx = ctx_of(c);
    gpu_ctx.device = Device::cuda;
    auto ref = sf::make_op(c.type, c.attrs, Device::cpu, "reference");
    auto op = sf::make_op(c.type, c.attrs, Device::cuda, impl);
    const std::vector<Tensor> ref_state = make_state(c), op_state = on_gpu(make_state(c));
    if (!c.state.empty()) ref->bind_state(ref_state), op->bind_state(op_state);
    const Shape out_shape = ref->prepare(shapes);
    ASSERT_EQ(op->prepare(shapes), out_shape);
    Rng rng(1234);
    for (int round = 0; round < 2; ++round) {
      SCOPED_TRACE("round " + std::to_string(round));
      const auto ins = make_inputs(c, rng, false);
      const auto gpu_ins = on_gpu(ins);
      Tensor want(out_shape), got = Tensor::full(out_shape, std::numeric_limits<float>::quiet_NaN(), Device::cuda);
      ref->forward(ctx, ptrs(ins), want);
      op->forward(gpu_ctx, ptrs(gpu_ins), got);
      expect_close(got.to(Device::cpu), want, 1e-4, "forward");
      for (size_t i = 0; i < ref_state.size(); ++i)
        expect_close(op_state[i].to(Device::cpu), ref_state[i], 1e-5, "state buffer " + std::to_string(i));
      const Tensor gout = random_like(out_shape, rng), gpu_gout = gout.to(Device::cuda);
      for (unsigned mask = 0; mask <= diff; ++mask) {
        if ((mask & ~diff) != 0) continue;
        SCOPED_TRACE("grad mask " + std::to_string(mask));
        auto gwant = nan_grads(c, mask), ggot = on_gpu(nan_grads(c, mask));
        const auto pw = grad_ptrs(gwant), pg = grad_ptrs(ggot);
        ref->backward(ctx, ptrs(ins), want, gout, pw);
        op->backward(gpu_ctx, ptrs(gpu_ins), got, gpu_gout, pg);
        for (size_t i = 0; i < c.inputs.size(); ++i)
          if (pg[i]) expect_close(pg[i]->to(Device::cpu), *pw[i], 1e-4, "grad of input " + std::to_string(i));
      }
    }
  }
}

INSTANTIATE_TEST_SUITE_P(Cuda, CudaOpsTest, testing::ValuesIn(cuda_cases()), case_name);
// A build without CUDA registers no CUDA kernel, so the suite has no cases (tests/test_cuda.cpp says why).
GTEST_ALLOW_UNINSTANTIATED_PARAMETERIZED_TEST(CudaOpsTest);

// ---------------------------------------------------------------------------------------------------------
// GradCheckTest: central differences of L = Σ y ⊙ R (so dL/dy = R), in double, for every kernel.

class GradCheckTest : public testing::TestWithParam<OpCase> {};

double objective(sf::Op& op, const sf::ExecContext& ctx, const std::vector<Tensor>& ins, Tensor& out, const Tensor& r) {
  op.forward(ctx, ptrs(ins), out);
  double l = 0.0;
  for (int64_t i = 0; i < out.numel(); ++i) l += static_cast<double>(out[i]) * r[i];
  return l;
}

TEST_P(GradCheckTest, FiniteDifference) {
  const OpCase& c = GetParam();
  const auto shapes = shapes_of(c);
  const unsigned diff = differentiable_mask(c);
  std::vector<std::string> unsupported;
  for (const std::string& impl : impls_of(c.type)) {
    if (!supported(c, impl)) {
      unsupported.push_back(impl);
      continue;
    }
    SCOPED_TRACE("impl " + impl);
    const sf::ExecContext ctx = ctx_of(c);
    auto op = sf::make_op(c.type, c.attrs, Device::cpu, impl);
    // Train-mode batch norm updates its running statistics on every evaluation; its output does not read them.
    const std::vector<Tensor> state = make_state(c);
    if (!state.empty()) op->bind_state(state);
    const Shape out_shape = op->prepare(shapes);
    Rng rng(99);
    auto ins = make_inputs(c, rng, /*for_fd=*/true);
    const Tensor r = random_like(out_shape, rng);
    Tensor out(out_shape);
    objective(*op, ctx, ins, out, r);
    auto grads = nan_grads(c, diff);
    op->backward(ctx, ptrs(ins), out, r, grad_ptrs(grads));

    for (size_t k = 0; k < c.inputs.size(); ++k) {
      if (!c.inputs[k].differentiable) continue;
      SCOPED_TRACE("input " + std::to_string(k));
      Tensor& x = ins[k];
      // All elements of small tensors; for large ones the corners plus a fixed random sample.
      std::set<int64_t> idx;
      if (x.numel() <= 64) {
        for (int64_t i = 0; i < x.numel(); ++i) idx.insert(i);
      } else {
        idx.insert(0);
        idx.insert(x.numel() - 1);
        while (idx.size() < 48) idx.insert(static_cast<int64_t>(rng.below(x.numel())));
      }
      std::vector<std::pair<int64_t, double>> fd;
      double scale = 0.0;
      for (int64_t i : idx) {
        const float orig = x[i];
        const float xp = orig + static_cast<float>(c.fd_eps), xm = orig - static_cast<float>(c.fd_eps);
        x[i] = xp;
        const double lp = objective(*op, ctx, ins, out, r);
        x[i] = xm;
        const double lm = objective(*op, ctx, ins, out, r);
        x[i] = orig;
        const double d = (lp - lm) / (static_cast<double>(xp) - xm);
        fd.emplace_back(i, d);
        scale = std::max(scale, std::fabs(d));
      }
      // A one-element (loss) output is a rounded float: a few of its ulps over the step bound what a
      // difference can resolve. Outputs with many elements are summed in double, so no floor there.
      double noise = 1e-9;
      if (out.numel() == 1) {
        const float y = out[0];
        noise += 4.0 * (std::nextafter(std::fabs(y), INFINITY) - std::fabs(y)) * std::fabs(r[0]) / (2.0 * c.fd_eps);
      }
      int bad = 0;
      for (auto [i, d] : fd) {
        const double an = grads[k][i];
        const double tol = 2e-3 * scale + 2e-2 * std::fabs(d) + noise;
        if (!(std::fabs(an - d) <= tol) && ++bad <= 5)
          ADD_FAILURE() << "element " << i << " (x=" << x[i] << "): analytic " << an << " finite difference " << d;
      }
      EXPECT_EQ(bad, 0) << bad << " of " << fd.size() << " checked elements differ";
    }
  }
  report_unsupported(c.name, unsupported);  // the reference supports every case, so nothing is skipped whole
}

INSTANTIATE_TEST_SUITE_P(GradCheck, GradCheckTest, testing::ValuesIn(all_cases()), case_name);

// ---------------------------------------------------------------------------------------------------------
// OpsTest: registry and shape errors.

TEST(OpsTest, EveryOpTypeHasReferenceKernel) {
  for (const char* type : {"conv2d", "avgpool2d", "dense", "flatten", "relu", "relu6", "softplus", "noisy_softplus",
                           "mse_loss", "softmax_cross_entropy", "batchnorm", "global_avgpool", "dropout", "to_nhwc"}) {
    SCOPED_TRACE(type);
    EXPECT_TRUE(sf::OpRegistry::instance().has_type(type));
    const auto impls = impls_of(type);
    EXPECT_NE(std::find(impls.begin(), impls.end(), "reference"), impls.end());
    EXPECT_EQ(std::set<std::string>(impls.begin(), impls.end()).size(), impls.size()) << "duplicate impl";
  }
}

// Every (case, kernel) pair the case table leaves out because the kernel's supports() rejects it — exactly
// these, so that a change to a supports() that drops (or adds) coverage shows up here.
TEST(OpsTest, UnsupportedCasesAreTheExpectedOnes) {
  std::set<std::string> got;
  for (const OpCase& c : all_cases())
    for (const std::string& impl : impls_of(c.type))
      if (!supported(c, impl)) got.insert(c.name + "/" + impl);
  // The micro-GEMM supports only its row-block path (stride 1, unpadded, output rows a multiple of 8) up to
  // the Liu sizes, ungrouped and NCHW only; the loops up to their measured sizes (batch-norm loops: NCHW maps
  // of at least 16 floats); oneDNN eltwise no output scale.
  const std::set<std::string> want = {
      "conv_s1_p2/gemm",
      "conv_s1_p2_bias/gemm",
      "conv_s2_p0/gemm",
      "conv_s2_p0_bias_odd/gemm",
      "conv_s2_p2_bias/gemm",
      "conv_s2_p2_odd/gemm",
      "conv_nonsquare_p1_bias/gemm",
      "conv_nonsquare_s2_p1/gemm",
      "conv_1x1_bias/gemm",
      "conv_wide_gather/gemm",
      "conv_c96_1x1_bias/gemm",
      "conv_k432/gemm",
      "conv_plane_32x32/gemm",
      "conv_dw3x3_p1_bias/gemm",
      "conv_dw3x3_s2_p1_odd/gemm",
      "conv_dw_multiplier2/gemm",
      "conv_groups2_p1/gemm",
      "conv_groups3_gemm_sized/gemm",
      "conv_nhwc_1x1_bias/gemm",
      "conv_nhwc_3x3_s2_p1_odd/gemm",
      "conv_nhwc_liu_gemm_sized/gemm",
      "conv_nhwc_groups3_bias/gemm",
      "conv_nhwc_dw3x3_s2_p1/gemm",
      "conv_nhwc_dw_batch1_odd/gemm",
      "conv_mn_pw_32to64_16x16_nhwc/gemm",
      "conv_mn_dw_64_16x16_nhwc/gemm",
      "conv_mn_dw_64_16x16_s2_nhwc/gemm",
      "conv_mn_dw_512_2x2_nhwc/gemm",
      "conv_mn_pw_512_2x2_nhwc/gemm",
      "conv_mn_dw_64_16x16_nchw/gemm",
      "conv_mn_pw_512_2x2_nchw/gemm",
      "pool_c1100/loops",
      "pool_60x60/loops",
      "dense_out16/loops",
      "dense_in1100/loops",
      "relu_scaled/onednn",
      "relu6_scaled/onednn",
      "bn_train_batch1/loops",
      "bn_eval_batch1/loops",
      "bn_train_relu6_lanes_59_nhwc/onednn", "bn_train_relu6_nhwc/onednn",
      "bn_eval_relu6_nchw/onednn",
      "bn_train_relu_nchw/onednn",
  };
  EXPECT_EQ(got, want);
  for (const OpCase& c : all_cases()) EXPECT_TRUE(supported(c, "reference")) << c.name;
}

// The kernel chosen for the shapes an op is prepared with.
std::string chosen(const std::string& type, const Attrs& attrs, const std::vector<Shape>& shapes) {
  auto op = sf::make_op(type, attrs);
  op->prepare(shapes);
  return op->impl();
}

TEST(OpsTest, DefaultPicksHighestPriorityKernel) {
  // On the Liu nets' shapes (batch 50) the measured-fastest kernel wins: the micro-GEMM for conv, loops for
  // pooling (both faster than oneDNN 2.6 on these small NCHW maps), loops for dense (a oneDNN call costs more
  // than the Liu net's 192→10 layer inside a step), OpenMP loops for activations and losses.
  EXPECT_EQ(chosen("conv2d", {{"stride", 1}}, {{50, 1, 28, 28}, {6, 1, 5, 5}}), "gemm");
  EXPECT_EQ(chosen("dense", {}, {{50, 192}, {10, 192}, {10}}), "loops");
  EXPECT_EQ(chosen("avgpool2d", {}, {{50, 6, 24, 24}}), "loops");
  EXPECT_EQ(chosen("relu", {}, {{50, 6, 24, 24}}), "openmp");
  EXPECT_EQ(chosen("noisy_softplus", {}, {{50, 6, 24, 24}}), "openmp");
  EXPECT_EQ(chosen("mse_loss", {}, {{50, 10}, {50, 10}}), "openmp");
  EXPECT_EQ(chosen("flatten", {}, {{50, 12, 4, 4}}), "reference");
  // MobileNet's ops: grouped and NHWC convolutions and layout changes go to oneDNN; the batch-norm and global
  // pooling loops beat oneDNN (bench_ops BM_mn_bn_sweep, mn_gap1024_*), except on 2×2 NCHW maps; dropout has
  // its one kernel.
  EXPECT_EQ(chosen("conv2d", {{"groups", 64}, {"pad", 1}, {"layout", "nhwc"}}, {{64, 16, 16, 64}, {64, 1, 3, 3}}),
            "onednn");
  EXPECT_EQ(chosen("conv2d", {{"layout", "nhwc"}}, {{50, 28, 28, 1}, {6, 1, 5, 5}}), "onednn");
  EXPECT_EQ(chosen("conv2d", {{"groups", 2}}, {{50, 6, 12, 12}, {12, 3, 5, 5}}), "onednn");
  EXPECT_EQ(chosen("batchnorm", {{"layout", "nhwc"}}, {{64, 8, 8, 256}, {256}, {256}}), "loops");
  EXPECT_EQ(chosen("batchnorm", {}, {{64, 256, 8, 8}, {256}, {256}}), "loops");
  EXPECT_EQ(chosen("batchnorm", {}, {{64, 1024}, {1024}, {1024}}), "loops");
  EXPECT_EQ(chosen("batchnorm", {}, {{64, 1024, 2, 2}, {1024}, {1024}}), "onednn");
  EXPECT_EQ(chosen("batchnorm", {{"layout", "nhwc"}}, {{64, 2, 2, 2048}, {2048}, {2048}}), "onednn");
  EXPECT_EQ(chosen("relu6", {}, {{64, 8, 8, 256}}), "openmp");
  EXPECT_EQ(chosen("global_avgpool", {{"layout", "nhwc"}}, {{64, 2, 2, 1024}}), "loops");
  EXPECT_EQ(chosen("dropout", {{"rate", 0.001}}, {{64, 1024}}), "reference");
  EXPECT_EQ(chosen("to_nhwc", {}, {{64, 3, 32, 32}}), "onednn");
  auto ref = sf::make_op("dense", {}, Device::cpu, "reference");
  EXPECT_STREQ(ref->impl(), "reference");
  ref->prepare(std::vector<Shape>{{50, 192}, {10, 192}});
  EXPECT_STREQ(ref->impl(), "reference");
}

TEST(OpsTest, UnknownOpTypeOrImplThrows) {
  EXPECT_THROW(sf::make_op("conv3d"), sf::Error);
  EXPECT_NE(error_message([] { sf::make_op("conv3d"); }).find("conv3d"), std::string::npos);
  EXPECT_THROW(sf::make_op("conv2d", {}, Device::cpu, "no_such_impl"), sf::Error);
  EXPECT_NE(error_message([] { sf::make_op("conv2d", {}, Device::cpu, "no_such_impl"); }).find("conv2d"),
            std::string::npos);
  // Noisy Softplus has no oneDNN form.
  EXPECT_THROW(sf::make_op("noisy_softplus", {}, Device::cpu, "onednn"), sf::Error);
  // An op type that a device has no kernel for is refused naming the op and the device (every op type has a
  // CUDA kernel now, so a registry of its own stands in).
  sf::OpRegistry cpu_only;
  cpu_only.add({"relu", Device::cpu, "reference", 0, [](const sf::Attrs&) -> sf::OpPtr { return nullptr; }});
  const std::string msg = error_message([&] { cpu_only.make("relu", {}, Device::cuda); });
  EXPECT_NE(msg.find("relu"), std::string::npos) << msg;
  EXPECT_NE(msg.find("cuda"), std::string::npos) << msg;
  EXPECT_TRUE(impls_of("conv3d").empty());
  EXPECT_FALSE(sf::OpRegistry::instance().has_type("conv3d"));
}

TEST(OpsTest, BadAttrsThrow) {
  for (const std::string& impl : impls_of("conv2d")) {
    EXPECT_THROW(sf::make_op("conv2d", {{"stride", 0}}, Device::cpu, impl), sf::Error) << impl;
    EXPECT_THROW(sf::make_op("conv2d", {{"pad", -1}}, Device::cpu, impl), sf::Error) << impl;
    EXPECT_NE(error_message([&] {
                sf::make_op("conv2d", {{"groups", 0}}, Device::cpu, impl);
              }).find("groups"),
              std::string::npos)
        << impl;
    EXPECT_THROW(sf::make_op("conv2d", {{"layout", "nchw16c"}}, Device::cpu, impl), sf::Error) << impl;
  }
  for (const std::string& impl : impls_of("batchnorm")) {
    for (const Attrs& bad : {Attrs{{"momentum", 1.5}}, Attrs{{"momentum", -0.1}}, Attrs{{"eps", 0.0}},
                             Attrs{{"eps", -1e-3}}, Attrs{{"layout", "chwn"}}}) {
      const std::string msg = error_message([&] { sf::make_op("batchnorm", bad, Device::cpu, impl); });
      EXPECT_NE(msg.find("batchnorm"), std::string::npos) << impl << ": " << msg;
      EXPECT_NE(msg.find(bad.values().begin()->first), std::string::npos) << impl << ": " << msg;
    }
  }
  for (double rate : {1.0, 1.5, -0.1}) {
    const std::string msg = error_message([&] { sf::make_op("dropout", {{"rate", rate}}); });
    EXPECT_NE(msg.find("dropout"), std::string::npos) << msg;
    EXPECT_NE(msg.find("'rate'"), std::string::npos) << msg;
  }
  EXPECT_NO_THROW(sf::make_op("dropout", {{"rate", 0.0}}));
  EXPECT_NO_THROW(sf::make_op("dropout", {{"rate", 0.999}}));
  EXPECT_THROW(sf::make_op("global_avgpool", {{"layout", "hwc"}}), sf::Error);
  for (const std::string& impl : impls_of("avgpool2d")) {
    EXPECT_NE(error_message([&] {
                sf::make_op("avgpool2d", {{"kernel", 2}, {"pad", 2}}, Device::cpu, impl);
              }).find("avgpool2d"),
              std::string::npos)
        << impl;
    EXPECT_THROW(sf::make_op("avgpool2d", {{"kernel", 0}}, Device::cpu, impl), sf::Error) << impl;
  }
  for (const std::string& impl : impls_of("noisy_softplus")) {
    EXPECT_THROW(sf::make_op("noisy_softplus", {{"k", 0.0}}, Device::cpu, impl), sf::Error) << impl;
    EXPECT_THROW(sf::make_op("noisy_softplus", {{"sigma", -1.0}}, Device::cpu, impl), sf::Error) << impl;
  }
}

// prepare() on bad shapes must raise sf::Error naming the op, for every implementation.
void expect_prepare_fails(const std::string& type, const Attrs& attrs, const std::vector<Shape>& shapes) {
  for (const std::string& impl : impls_of(type)) {
    SCOPED_TRACE(type + "/" + impl);
    const std::string msg = error_message([&] { sf::make_op(type, attrs, Device::cpu, impl)->prepare(shapes); });
    EXPECT_NE(msg.find(type), std::string::npos) << "message: " << msg;
    EXPECT_EQ(msg.find("WRONG EXCEPTION"), std::string::npos) << msg;
  }
}

TEST(OpsTest, ShapeMismatchNamesOp) {
  const Attrs none;
  expect_prepare_fails("conv2d", none, {{1, 3, 8, 8}, {4, 2, 3, 3}});       // channels
  expect_prepare_fails("conv2d", none, {{3, 8, 8}, {4, 3, 3, 3}});          // input rank
  expect_prepare_fails("conv2d", none, {{1, 3, 8, 8}, {4, 3, 3}});          // weight rank
  expect_prepare_fails("conv2d", none, {{1, 3, 8, 8}, {4, 3, 3, 3}, {5}});  // bias
  expect_prepare_fails("conv2d", none, {{1, 1, 3, 3}, {1, 1, 5, 5}});       // kernel > input
  // (4 − 5) / 2 + 1 truncates to 1: the check must not rely on the output size.
  expect_prepare_fails("conv2d", {{"stride", 2}}, {{1, 1, 4, 4}, {1, 1, 5, 5}});
  expect_prepare_fails("conv2d", {{"stride", 3}, {"pad", 1}}, {{1, 1, 8, 2}, {1, 1, 3, 5}});
  expect_prepare_fails("conv2d", none, {{1, 1, 8, 8}});                          // arity
  expect_prepare_fails("conv2d", none, {{1, 1, 8, 8}, {1, 1, 3, 3}, {1}, {1}});  // arity
  const Attrs g4{{"groups", 4}}, nhwc{{"layout", "nhwc"}};
  expect_prepare_fails("conv2d", g4, {{1, 30, 8, 8}, {8, 7, 3, 3}});   // channels % groups
  expect_prepare_fails("conv2d", g4, {{1, 32, 8, 8}, {6, 8, 3, 3}});   // out-channels % groups
  expect_prepare_fails("conv2d", g4, {{1, 32, 8, 8}, {8, 32, 3, 3}});  // weight dim 1 != C/groups
  expect_prepare_fails("conv2d", nhwc, {{1, 8, 8, 3}, {4, 8, 3, 3}});  // nhwc channels are last
  expect_prepare_fails("conv2d", nhwc, {{1, 2, 2, 3}, {4, 3, 3, 3}});  // kernel > input (nhwc)
  expect_prepare_fails("batchnorm", none, {{2, 3, 4, 4}, {3}});        // arity
  expect_prepare_fails("batchnorm", none, {{2, 3, 4, 4}, {4}, {4}});   // gamma/beta vs C
  expect_prepare_fails("batchnorm", nhwc, {{2, 3, 4, 4}, {3}, {3}});   // nhwc: C = 4
  expect_prepare_fails("batchnorm", none, {{2, 3, 4}, {3}, {3}});      // rank 3
  expect_prepare_fails("batchnorm", none, {{2, 3}, {3}, {2}});         // beta
  expect_prepare_fails("global_avgpool", none, {{2, 3, 4}});
  expect_prepare_fails("global_avgpool", none, {{2, 3, 4, 4}, {2, 3, 4, 4}});
  expect_prepare_fails("global_avgpool", nhwc, {{2, 3, 0, 4}});
  expect_prepare_fails("to_nhwc", none, {{2, 3, 4}});
  expect_prepare_fails("to_nhwc", none, {});
  expect_prepare_fails("dropout", none, {Shape{}});
  expect_prepare_fails("dropout", none, {{2, 3}, {2, 3}});
  expect_prepare_fails("dense", none, {{2, 5}, {3, 4}});
  expect_prepare_fails("dense", none, {{2, 3, 4}, {3, 4}});
  expect_prepare_fails("dense", none, {{2, 4}, {3, 4}, {4}});
  expect_prepare_fails("dense", none, {{2, 4}});
  expect_prepare_fails("avgpool2d", none, {{2, 3, 4}});
  expect_prepare_fails("avgpool2d", none, {{1, 1, 1, 1}});  // (1 − 2) / 2 + 1 truncates to 1
  expect_prepare_fails("avgpool2d", {{"kernel", 3}, {"stride", 2}}, {{1, 1, 8, 2}});
  expect_prepare_fails("avgpool2d", {{"kernel", 3}, {"stride", 2}, {"pad", 1}}, {{1, 1, 8, 0}});
  expect_prepare_fails("avgpool2d", none, {{1, 1, 4, 4}, {1, 1, 4, 4}});
  expect_prepare_fails("flatten", none, {});
  expect_prepare_fails("flatten", none, {Shape{}});
  for (const char* act : {"relu", "relu6", "softplus", "noisy_softplus"}) {
    expect_prepare_fails(act, none, {{2, 3}, {2, 3}});
    expect_prepare_fails(act, none, {});
  }
  for (const char* loss : {"mse_loss", "softmax_cross_entropy"}) {
    expect_prepare_fails(loss, none, {{2, 3}, {2, 4}});
    expect_prepare_fails(loss, none, {{2, 3, 1}, {2, 3, 1}});
    expect_prepare_fails(loss, none, {{2, 3}});
  }
}

TEST(OpsTest, ShapeErrorSurfacesFromGraphApply) {
  sf::Graph g;
  const NodeId x = g.input("x", {2, 5});
  const NodeId w = g.parameter("w", Tensor::zeros({3, 4}));
  const std::string msg = error_message([&] { g.apply("fc", sf::make_op("dense"), {x, w}); });
  EXPECT_NE(msg.find("dense"), std::string::npos) << msg;
}

// Flatten shares no storage with its input and round-trips the gradient.
TEST(OpsTest, FlattenShapeAndData) {
  auto op = sf::make_op("flatten");
  EXPECT_EQ(op->prepare(std::vector<Shape>{{3, 2, 4, 5}}), (Shape{3, 40}));
  Rng rng(5);
  const Tensor x = random_like({3, 2, 4, 5}, rng);
  Tensor y({3, 40});
  op->forward(kCtx, std::vector<const Tensor*>{&x}, y);
  EXPECT_NE(y.data(), x.data());
  EXPECT_EQ(y.to_vector(), x.to_vector());
}

// ---------------------------------------------------------------------------------------------------------
// GraphTest

Tensor random_tensor(const Shape& s, Rng& rng, double scale) { return random_like(s, rng, scale); }

// Central difference of the graph's loss with respect to one element of a tensor the graph reads.
double graph_fd(sf::Graph& g, NodeId loss, Tensor& t, int64_t i, float eps) {
  const float orig = t[i];
  const float xp = orig + eps, xm = orig - eps;
  t[i] = xp;
  g.forward();
  const double lp = g.value(loss)[0];
  t[i] = xm;
  g.forward();
  const double lm = g.value(loss)[0];
  t[i] = orig;
  g.forward();
  return (lp - lm) / (static_cast<double>(xp) - xm);
}

void expect_grad_matches_fd(sf::Graph& g, NodeId loss, Tensor& value, const Tensor& grad, const std::string& what,
                            int max_checks = 1 << 30, float eps = 1e-2f) {
  std::vector<std::pair<int64_t, double>> fd;
  double scale = 0.0;
  const int64_t step = std::max<int64_t>(1, value.numel() / max_checks);
  for (int64_t i = 0; i < value.numel(); i += step) {
    fd.emplace_back(i, graph_fd(g, loss, value, i, eps));
    scale = std::max(scale, std::fabs(fd.back().second));
  }
  ASSERT_GT(scale, 0.0) << what << ": finite differences all zero — degenerate test";
  // The loss is float: a few ulps of it, divided by the step, is the floor of what a difference resolves.
  const double noise = 1e-6 * std::max(1.0, std::fabs(static_cast<double>(g.value(loss)[0]))) / eps;
  for (auto [i, d] : fd) {
    const double tol = 2e-3 * scale + 2e-2 * std::fabs(d) + noise;
    EXPECT_NEAR(grad[i], d, tol) << what << " element " << i;
  }
}

std::vector<std::string> graph_impls() { return {"", "reference"}; }  // default (highest priority), oracle

// A parameter used by two ops: h = dense(x, W); y = dense(h, W); loss = mse(y, t). dL/dW is the sum of the
// two uses' contributions.
TEST(GraphTest, ParameterFanOutSumsGradients) {
  for (const std::string& impl : graph_impls()) {
    SCOPED_TRACE("impl '" + impl + "'");
    Rng rng(11);
    const int64_t n = 4, d = 5;
    sf::Graph g;
    Tensor w = random_tensor({d, d}, rng, 0.6), wg = Tensor::full({d, d}, 123.0f);
    const NodeId x = g.input("x", {n, d});
    const NodeId t = g.input("t", {n, d});
    const NodeId wid = g.parameter("W", w, wg);
    const NodeId h = g.apply("h", sf::make_op("dense", {}, Device::cpu, impl), {x, wid});
    const NodeId y = g.apply("y", sf::make_op("dense", {}, Device::cpu, impl), {h, wid});
    const NodeId loss = g.apply("loss", sf::make_op("mse_loss", {}, Device::cpu, impl), {y, t});
    g.value(x).copy_from(random_tensor({n, d}, rng, 1.0));
    g.value(t).copy_from(random_tensor({n, d}, rng, 1.0));
    g.forward();
    g.backward(loss);
    EXPECT_EQ(g.grad(wid).data(), wg.data()) << "the graph must write into the caller's gradient tensor";
    EXPECT_FALSE(g.grad(x).defined());
    EXPECT_FALSE(g.grad(t).defined());

    // Analytic: the two per-use contributions computed by hand with the reference kernels.
    auto d1 = sf::make_op("dense", {}, Device::cpu, "reference");
    auto d2 = sf::make_op("dense", {}, Device::cpu, "reference");
    d1->prepare(std::vector<Shape>{{n, d}, {d, d}});
    d2->prepare(std::vector<Shape>{{n, d}, {d, d}});
    Tensor dy({n, d}), dh({n, d}), dw1({d, d}), dw2({d, d});
    for (int64_t i = 0; i < dy.numel(); ++i) dy[i] = 2.0f * (g.value(y)[i] - g.value(t)[i]) / (n * d);
    d2->backward(kCtx, std::vector<const Tensor*>{&g.value(h), &w}, g.value(y), dy, std::vector<Tensor*>{&dh, &dw2});
    d1->backward(kCtx, std::vector<const Tensor*>{&g.value(x), &w}, g.value(h), dh,
                 std::vector<Tensor*>{nullptr, &dw1});
    Tensor sum({d, d});
    for (int64_t i = 0; i < sum.numel(); ++i) sum[i] = dw1[i] + dw2[i];
    expect_close(wg, sum, 1e-4, "dW vs sum of both uses");
    expect_grad_matches_fd(g, loss, w, wg, "dW");
  }
}

// An intermediate node read twice by the same op: h = softplus(x); y = dense(h, h) = h·hᵀ.
TEST(GraphTest, IntermediateFanOutSumsGradients) {
  for (const std::string& impl : graph_impls()) {
    SCOPED_TRACE("impl '" + impl + "'");
    Rng rng(12);
    const int64_t n = 3, d = 4;
    sf::Graph g;
    Tensor x = random_tensor({n, d}, rng, 1.0), xg({n, d});
    const NodeId xid = g.parameter("x", x, xg);
    const NodeId t = g.input("t", {n, n});
    const NodeId h = g.apply("h", sf::make_op("softplus", {}, Device::cpu, impl), {xid});
    const NodeId y = g.apply("y", sf::make_op("dense", {}, Device::cpu, impl), {h, h});
    const NodeId loss = g.apply("loss", sf::make_op("mse_loss", {}, Device::cpu, impl), {y, t});
    g.value(t).copy_from(random_tensor({n, n}, rng, 1.0));
    g.forward();
    g.backward(loss);
    expect_grad_matches_fd(g, loss, x, xg, "dx", 1 << 30, 3e-3f);
  }
}

TEST(GraphTest, ParameterWithoutGradStaysUntouched) {
  for (const std::string& impl : graph_impls()) {
    SCOPED_TRACE("impl '" + impl + "'");
    Rng rng(13);
    sf::Graph g;
    Tensor w = random_tensor({3, 6}, rng, 0.5), wg({3, 6});
    Tensor b = random_tensor({3}, rng, 0.5);      // frozen: no gradient tensor
    Tensor w2 = random_tensor({2, 3}, rng, 0.5);  // frozen weight of a later layer
    const Tensor b_before = b.clone(), w2_before = w2.clone();
    const NodeId x = g.input("x", {4, 6});
    const NodeId t = g.input("t", {4, 2});
    const NodeId wid = g.parameter("w", w, wg);
    const NodeId bid = g.parameter("b", b);
    const NodeId w2id = g.parameter("w2", w2);
    const NodeId h = g.apply("h", sf::make_op("dense", {}, Device::cpu, impl), {x, wid, bid});
    const NodeId a = g.apply("a", sf::make_op("softplus", {}, Device::cpu, impl), {h});
    const NodeId y = g.apply("y", sf::make_op("dense", {}, Device::cpu, impl), {a, w2id});
    const NodeId loss = g.apply("loss", sf::make_op("softmax_cross_entropy", {}, Device::cpu, impl), {y, t});
    g.value(x).copy_from(random_tensor({4, 6}, rng, 1.0));
    g.value(t).copy_from(generate({{4, 2}, Gen::onehot}, rng, false));
    g.forward();
    g.backward(loss);
    EXPECT_FALSE(g.grad(bid).defined());
    EXPECT_FALSE(g.grad(w2id).defined());
    EXPECT_FALSE(g.grad(x).defined());
    EXPECT_EQ(b.to_vector(), b_before.to_vector());
    EXPECT_EQ(w2.to_vector(), w2_before.to_vector());
    expect_grad_matches_fd(g, loss, w, wg, "dw", 1 << 30, 3e-3f);
  }
}

TEST(GraphTest, LossMustBeOneElement) {
  sf::Graph g;
  Tensor w = Tensor::full({2, 3}, 0.1f), wg({2, 3});
  const NodeId x = g.input("x", {4, 3});
  const NodeId wid = g.parameter("w", w, wg);
  const NodeId y = g.apply("y", sf::make_op("dense"), {x, wid});
  g.forward();
  EXPECT_THROW(g.backward(y), sf::Error);
  EXPECT_THROW(g.backward(-1), sf::Error);
  EXPECT_THROW(g.backward(g.size()), sf::Error);
}

// Backward overwrites: running it again (with or without a new forward) gives bit-identical gradients,
// including for the fan-out buffers.
TEST(GraphTest, BackwardTwiceIsIdentical) {
  for (const std::string& impl : graph_impls()) {
    SCOPED_TRACE("impl '" + impl + "'");
    Rng rng(14);
    const int64_t n = 4, d = 5;
    sf::Graph g;
    Tensor w = random_tensor({d, d}, rng, 0.6), wg({d, d});
    Tensor b = random_tensor({d}, rng, 0.2), bg({d});
    const NodeId x = g.input("x", {n, d});
    const NodeId t = g.input("t", {n, d});
    const NodeId wid = g.parameter("W", w, wg);
    const NodeId bid = g.parameter("b", b, bg);
    const NodeId h = g.apply("h", sf::make_op("dense", {}, Device::cpu, impl), {x, wid, bid});
    const NodeId a = g.apply("a", sf::make_op("noisy_softplus", {}, Device::cpu, impl), {h});
    const NodeId y = g.apply("y", sf::make_op("dense", {}, Device::cpu, impl), {a, wid, bid});
    const NodeId loss = g.apply("loss", sf::make_op("mse_loss", {}, Device::cpu, impl), {y, t});
    g.value(x).copy_from(random_tensor({n, d}, rng, 1.0));
    g.value(t).copy_from(random_tensor({n, d}, rng, 1.0));
    g.forward();
    g.backward(loss);
    const auto w1 = wg.to_vector(), b1 = bg.to_vector();
    const float l1 = g.value(loss)[0];
    g.backward(loss);
    EXPECT_EQ(wg.to_vector(), w1);
    EXPECT_EQ(bg.to_vector(), b1);
    g.forward();
    g.backward(loss);
    EXPECT_EQ(g.value(loss)[0], l1);
    EXPECT_EQ(wg.to_vector(), w1);
    EXPECT_EQ(bg.to_vector(), b1);
    expect_grad_matches_fd(g, loss, w, wg, "dW", 1 << 30, 3e-3f);
    expect_grad_matches_fd(g, loss, b, bg, "db", 1 << 30, 3e-3f);
  }
}

// Liu et al. small net (conv 1→6 5x5, Noisy Softplus, avgpool 2, conv 6→12 5x5, Noisy Softplus, avgpool 2,
// flatten, dense 192→10, softmax cross-entropy) at batch 2: the default kernels against the reference ones,
// then a finite-difference spot check of every parameter.
struct SmallNet {
  sf::Graph g;
  NodeId x, t, loss;
  std::vector<NodeId> params;
  std::vector<Tensor> grads;
};

void build_small_net(SmallNet& net, const std::string& impl, const std::vector<Tensor>& values, bool conv_bias) {
  auto& g = net.g;
  auto op = [&](const char* type, Attrs a = {}) { return sf::make_op(type, a, Device::cpu, impl); };
  net.x = g.input("x", {2, 1, 28, 28});
  net.t = g.input("t", {2, 10});
  for (size_t i = 0; i < values.size(); ++i) {
    net.grads.emplace_back(values[i].shape());
    net.params.push_back(g.parameter("p" + std::to_string(i), values[i], net.grads.back()));
  }
  const auto& p = net.params;
  std::vector<NodeId> c1in{net.x, p[0]}, c2in;
  size_t next = 1;
  if (conv_bias) c1in.push_back(p[next++]);
  NodeId h = g.apply("conv1", op("conv2d"), c1in);
  h = g.apply("act1", op("noisy_softplus", {{"k", 0.17}, {"sigma", 1.0}}), {h});
  h = g.apply("pool1", op("avgpool2d", {{"kernel", 2}}), {h});
  c2in = {h, p[next++]};
  if (conv_bias) c2in.push_back(p[next++]);
  h = g.apply("conv2", op("conv2d"), c2in);
  h = g.apply("act2", op("noisy_softplus", {{"k", 0.17}, {"sigma", 1.0}}), {h});
  h = g.apply("pool2", op("avgpool2d", {{"kernel", 2}}), {h});
  h = g.apply("flat", op("flatten"), {h});
  h = g.apply("fc", op("dense"), {h, p[next], p[next + 1]});
  net.loss = g.apply("loss", op("softmax_cross_entropy"), {h, net.t});
}

TEST(GraphTest, SmallNetDefaultKernelsMatchReferenceAndFiniteDifferences) {
  for (bool conv_bias : {false, true}) {
    SCOPED_TRACE(conv_bias ? "conv bias" : "no conv bias");
    Rng rng(15);
    std::vector<Tensor> values;
    values.push_back(random_tensor({6, 1, 5, 5}, rng, 0.3));
    if (conv_bias) values.push_back(random_tensor({6}, rng, 0.1));
    values.push_back(random_tensor({12, 6, 5, 5}, rng, 0.1));
    if (conv_bias) values.push_back(random_tensor({12}, rng, 0.1));
    values.push_back(random_tensor({10, 192}, rng, 0.3));
    values.push_back(random_tensor({10}, rng, 0.1));
    const Tensor image = generate({{2, 1, 28, 28}, Gen::uniform01}, rng, false);
    const Tensor target = generate({{2, 10}, Gen::onehot}, rng, false);

    SmallNet fast, ref;
    build_small_net(fast, "", values, conv_bias);
    build_small_net(ref, "reference", values, conv_bias);
    for (SmallNet* net : {&fast, &ref}) {
      net->g.value(net->x).copy_from(image);
      net->g.value(net->t).copy_from(target);
      net->g.forward();
      net->g.backward(net->loss);
    }
    EXPECT_NEAR(fast.g.value(fast.loss)[0], ref.g.value(ref.loss)[0], 1e-4 * std::fabs(ref.g.value(ref.loss)[0]));
    for (size_t i = 0; i < values.size(); ++i) {
      expect_close(fast.grads[i], ref.grads[i], 1e-4, "param " + std::to_string(i) + " vs reference");
      expect_grad_matches_fd(fast.g, fast.loss, values[i], fast.grads[i], "param " + std::to_string(i), 6, 1e-2f);
    }
  }
}

}  // namespace
