#include "models/mobilenet.h"

#include "models/activation_layer.h"

#include <cmath>

namespace sf {
namespace {

struct Block {
  int64_t channels;  // pointwise output channels at α = 1
  int64_t stride;    // of the depthwise convolution
};
constexpr Block kBlocks[] = {{64, 1},  {128, 2}, {128, 1}, {256, 2}, {256, 1},  {512, 2}, {512, 1},
                             {512, 1}, {512, 1}, {512, 1}, {512, 1}, {1024, 2}, {1024, 1}};

class Builder {
 public:
  Builder(Model& m, const ModelSpec& spec) : m_(m), spec_(spec), nhwc_(spec.data_format == "channels_last") {}

  // Convolution (no bias) → BN → activation; groups = channels in makes it depthwise.
  void conv_bn_act(const std::string& name, int64_t out, int64_t kernel, int64_t stride, int64_t groups) {
    const Shape& in = m_.output_shape();
    const int64_t c = in[nhwc_ ? 2 : 0], h = in[nhwc_ ? 0 : 1], w = in[nhwc_ ? 1 : 2];
    // Keras pads stride-2 layers by one pixel: a 1×1 map has nothing left to halve and Keras's model fails to
    // build there; so does ours, naming the layer rather than silently repeating the 1×1 map.
    if (stride > 1 && (h < 2 || w < 2))
      fail_input("model.strides", "layer '" + name + "' has stride " + std::to_string(stride) + " but its input is " +
                                      std::to_string(h) + "×" + std::to_string(w) +
                                      ": the input is too small for these strides (use strides: cifar or a larger "
                                      "input)");
    const int64_t pad = kernel / 2;
    Attrs a{{"stride", stride}, {"pad", pad}, {"groups", groups}, {"layout", layout()}};
    m_.add(name, "conv2d", a, {{"weight", {out, c / groups, kernel, kernel}}});
    m_.add(name + "_bn", "batchnorm", {{"momentum", 0.99}, {"eps", 1e-3}, {"layout", layout()}},
           {{"gamma", {out}}, {"beta", {out}}});
    m_.add_buffer(name + "_bn", "running_mean", Tensor::zeros({out}));
    m_.add_buffer(name + "_bn", "running_var", Tensor::full({out}, 1.0f));
    add_activation(m_, name + "_" + spec_.activation, spec_);
  }

  const char* layout() const { return nhwc_ ? "nhwc" : "nchw"; }

 private:
  Model& m_;
  const ModelSpec& spec_;
  bool nhwc_;
};

int64_t scaled(int64_t channels, double alpha) { return std::max<int64_t>(1, static_cast<int64_t>(channels * alpha)); }

}  // namespace

Model make_mobilenet_v1(const ModelSpec& spec, Rng& rng) {
  if (!(spec.alpha > 0) || !std::isfinite(spec.alpha))
    fail_input("model.alpha", "must be > 0, got " + std::to_string(spec.alpha));
  if (spec.depth_multiplier < 1)
    fail_input("model.depth_multiplier", "must be >= 1, got " + std::to_string(spec.depth_multiplier));
  if (spec.activation != "relu6" && spec.activation != "relu" && spec.activation != "qcfs")
    fail_input("model.activation", "mobilenet_v1 takes relu6, relu or qcfs, not " + spec.activation);
  if (spec.input.size() != 3 || spec.classes < 2)
    fail_input("model.arch", "mobilenet_v1 needs {C, H, W} images and 2 classes or more, not " + to_string(spec.input) +
                                 " with " + std::to_string(spec.classes));
  const int64_t side = std::max(spec.input[1], spec.input[2]);
  const bool cifar = spec.strides == "cifar" || (spec.strides == "auto" && side <= 32);

  Model m(spec.input);
  Builder b(m, spec);
  if (spec.data_format == "channels_last") m.add("to_nhwc", "to_nhwc");
  int64_t channels = scaled(32, spec.alpha);
  b.conv_bn_act("conv1", channels, 3, cifar ? 1 : 2, 1);
  int i = 1;
  for (const Block& blk : kBlocks) {
    const std::string name = "block" + std::to_string(i++);
    const int64_t dw = channels * spec.depth_multiplier;
    b.conv_bn_act(name + "_dw", dw, 3, blk.stride, channels);
    channels = scaled(blk.channels, spec.alpha);
    b.conv_bn_act(name + "_pw", channels, 1, 1, 1);
  }
  m.add("pool", "global_avgpool", {{"layout", b.layout()}});
  if (spec.dropout > 0) m.add("dropout", "dropout", {{"rate", spec.dropout}});
  m.add("dense", "dense", {}, {{"weight", {spec.classes, channels}}, {"bias", {spec.classes}}});

  for (auto& l : m.layers())
    for (auto& p : l.params) {
      if (p.name == "weight") glorot_uniform(p.value, rng);
      if (p.name == "gamma") p.value.fill(1.0f);
    }
  return m;
}

}  // namespace sf
