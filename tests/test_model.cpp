#include <gtest/gtest.h>

#include "core/error.h"
#include "models/zoo.h"

namespace sf {
namespace {

TEST(ModelTest, LiuSmallHas3880ParametersAndLiuShapes) {
  ModelSpec spec;
  const Model m = build_model(spec, 1);
  EXPECT_EQ(m.parameter_count(), 3880);
  EXPECT_EQ(m.find("conv1")->output_shape, (Shape{6, 24, 24}));
  EXPECT_EQ(m.find("pool1")->output_shape, (Shape{6, 12, 12}));
  EXPECT_EQ(m.find("conv2")->output_shape, (Shape{12, 8, 8}));
  EXPECT_EQ(m.find("pool2")->output_shape, (Shape{12, 4, 4}));
  EXPECT_EQ(m.find("flatten")->output_shape, (Shape{192}));
  EXPECT_EQ(m.output_shape(), (Shape{10}));
  EXPECT_EQ(m.find("conv1")->params.size(), 1u) << "Liu's convolutions have no bias";
  EXPECT_EQ(m.find("dense")->params.size(), 2u);
  // 24·24·6·25 + 8·8·12·150 + 192·10
  EXPECT_EQ(m.macs(), 86400 + 115200 + 1920);
}

TEST(ModelTest, LiuLargeShapes) {
  ModelSpec spec;
  spec.arch = "liu_large";
  const Model m = build_model(spec, 1);
  EXPECT_EQ(m.find("conv2")->output_shape, (Shape{64, 8, 8}));
  EXPECT_EQ(m.parameter_count(), 16 * 25 + 64 * 16 * 25 + 1024 * 10 + 10);
}

TEST(ModelTest, GlorotUniformBoundsAndSeeding) {
  ModelSpec spec;
  Model a = build_model(spec, 5), b = build_model(spec, 5), c = build_model(spec, 6);
  const Tensor& w = a.find("conv2")->params[0].value;
  const double limit = std::sqrt(6.0 / (6 * 25 + 12 * 25));
  float lo = 1, hi = -1;
  for (int64_t i = 0; i < w.numel(); ++i) lo = std::min(lo, w[i]), hi = std::max(hi, w[i]);
  EXPECT_GE(lo, -limit);
  EXPECT_LE(hi, limit);
  EXPECT_LT(lo, -0.8 * limit);
  EXPECT_GT(hi, 0.8 * limit);
  EXPECT_EQ(w.to_vector(), b.find("conv2")->params[0].value.to_vector());
  EXPECT_NE(w.to_vector(), c.find("conv2")->params[0].value.to_vector());
  const Tensor& bias = a.find("dense")->params[1].value;
  for (int64_t i = 0; i < bias.numel(); ++i) EXPECT_EQ(bias[i], 0.0f);
}

TEST(ModelTest, StateRoundTripAndArchitectureMismatch) {
  ModelSpec spec;
  Model a = build_model(spec, 1), b = build_model(spec, 2);
  Checkpoint ck{"arch", a.state()};
  b.load_state(ck, "x.sfm");
  EXPECT_EQ(a.find("conv1")->params[0].value.to_vector(), b.find("conv1")->params[0].value.to_vector());

  spec.arch = "liu_large";
  Model large = build_model(spec, 1);
  try {
    large.load_state(ck, "x.sfm");
    FAIL() << "expected an architecture mismatch";
  } catch (const Error& e) {
    EXPECT_EQ(e.kind(), ErrorKind::BadInput);
    EXPECT_NE(std::string(e.what()).find("x.sfm"), std::string::npos);
    EXPECT_NE(std::string(e.what()).find("another architecture"), std::string::npos);
  }
  ModelSpec no_bias;
  no_bias.dense_bias = false;
  Model nb = build_model(no_bias, 1);
  EXPECT_THROW(nb.load_state(ck, "x.sfm"), Error) << "an extra tensor must be rejected too";
}

TEST(ModelTest, SummaryTable) {
  const std::string s = build_model(ModelSpec{}, 1).summary();
  for (const char* want : {"conv1", "act1", "pool1", "conv2", "pool2", "flatten", "dense", "[6,24,24]", "3880"})
    EXPECT_NE(s.find(want), std::string::npos) << want << " missing from\n" << s;
}

}  // namespace
}  // namespace sf
