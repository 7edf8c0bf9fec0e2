#include "ops/noisy_softplus_liu.h"

#include <cmath>

#include "ops/pool2d.h"
#include "ops/registry.h"
#include "ops/shape_check.h"
#include "ops/simd_math.h"

namespace sf {

namespace {
constexpr std::pair<SigmaSource, const char*> kSources[] = {
    {SigmaSource::conv2d, "conv2d"}, {SigmaSource::dense, "dense"}, {SigmaSource::avgpool2d, "avgpool2d"}};
}  // namespace

const char* sigma_source_type(SigmaSource s) {
  for (const auto& [e, name] : kSources)
    if (e == s) return name;
  return "?";
}

SigmaSource parse_sigma_source(const std::string& type) {
  for (const auto& [e, name] : kSources)
    if (type == name) return e;
  fail_internal("op noisy_softplus_liu: source must be conv2d, dense or avgpool2d, not '" + type + "'");
}

NoisySoftplusLiuOp::NoisySoftplusLiuOp(const Attrs& a, std::string inner_impl, Device device)
    : inner_impl_(std::move(inner_impl)), device_(device) {
  const OpSchema& s = kNoisySoftplusLiuSchema;
  k_ = static_cast<float>(s.get_float(a, "k"));
  scale_ = static_cast<float>(s.get_float(a, "scale"));
  expect(k_ > 0 && scale_ > 0, "noisy_softplus_liu", "k and scale must be > 0");
  source_ = parse_sigma_source(s.get_string(a, "source"));
  // Only the attributes the source op takes (a dense source takes none).
  const OpSchema* src = find_schema(sigma_source_type(source_));
  for (const char* g : {"stride", "pad", "kernel"})
    if (const AttrValue* v = a.find(g); v && src->find(g)) source_attrs_.set(g, *v);
}

Shape NoisySoftplusLiuOp::prepare(std::span<const Shape> in) {
  const bool weighted = source_ != SigmaSource::avgpool2d;
  expect_inputs("noisy_softplus_liu", in, weighted ? 3 : 2, weighted ? 3 : 2);
  std::vector<Shape> inner_in{in[1]};
  if (weighted) inner_in.push_back(in[2]);
  // The shapes are known here: the registry picks the source's kernel for them (gemm for the Liu convolutions).
  inner_ = make_op(sigma_source_type(source_), source_attrs_, device_, inner_in, inner_impl_);
  const Shape s2 = inner_->prepare(inner_in);
  expect(s2 == in[0], "noisy_softplus_liu",
         "input " + to_string(in[0]) + " is not what the source layer makes of " + to_string(in[1]));
  if (source_ == SigmaSource::avgpool2d) {
    const double kk = static_cast<double>(kAvgPool2dSchema.get_int(source_attrs_, "kernel"));
    pool_factor_ = static_cast<float>(0.5 / (kk * kk));
  }
  abs_in_ = Tensor(in[1], device_);
  if (weighted) half_w2_ = Tensor(in[2], device_);
  sigma2_ = Tensor(in[0], device_);
  return in[0];
}

void NoisySoftplusLiuOp::forward(const ExecContext& ctx, std::span<const Tensor* const> in, Tensor& out) {
  // σ² = source(|a|, ½w²)
  const bool weighted = source_ != SigmaSource::avgpool2d;
  abs_and_half_square(ctx, in[1]->raw(), abs_in_.raw(), abs_in_.numel(), weighted ? in[2]->raw() : nullptr,
                      weighted ? half_w2_.raw() : nullptr, weighted ? half_w2_.numel() : 0);
  std::vector<const Tensor*> inner_in{&abs_in_};
  if (weighted) inner_in.push_back(&half_w2_);
  inner_->forward(ctx, inner_in, sigma2_);
  if (!weighted) scale(ctx, sigma2_.raw(), sigma2_.numel(), pool_factor_);  // avg = Σ/k²; ½Σ/k⁴ = avg·½/k²
  activate(ctx, in[0]->raw(), sigma2_.raw(), out.raw(), out.numel());
}

// dx = p·logistic(x/(kσ))·dy; σ is a constant of the backward pass, so a and w get no gradient from here.
void NoisySoftplusLiuOp::backward(const ExecContext& ctx, std::span<const Tensor* const> in, const Tensor&,
                                  const Tensor& gout, std::span<Tensor* const> gin) {
  if (Tensor* g = gin[0]) gradient(ctx, in[0]->raw(), sigma2_.raw(), gout.raw(), g->raw(), g->numel());
  for (size_t j = 1; j < gin.size(); ++j)
    if (gin[j]) gin[j]->fill(0.0f);
}

void NoisySoftplusLiuOp::abs_and_half_square(const ExecContext&, const float* a, float* abs_a, int64_t na,
                                             const float* w, float* half_w2, int64_t nw) {
  for (int64_t i = 0; i < na; ++i) abs_a[i] = std::fabs(a[i]);
  for (int64_t i = 0; i < nw; ++i) half_w2[i] = 0.5f * w[i] * w[i];
}

void NoisySoftplusLiuOp::scale(const ExecContext&, float* s2, int64_t n, float factor) {
  for (int64_t i = 0; i < n; ++i) s2[i] *= factor;
}

// The reference kernel (inner_impl_ "reference") stays scalar with log1p; the CPU kernel vectorises.
void NoisySoftplusLiuOp::activate(const ExecContext&, const float* __restrict x, const float* __restrict s2,
                                  float* __restrict y, int64_t n) {
  const NspLiu f = math();
  if (!inner_impl_.empty()) {
    for (int64_t i = 0; i < n; ++i) y[i] = f.value(x[i], s2[i]);
    return;
  }
  const float p = scale_;
#pragma omp simd
  for (int64_t i = 0; i < n; ++i) {
    const float ks = f.ks(s2[i]);
    y[i] = p * ks * simd::softplus(x[i] / ks);
  }
}

void NoisySoftplusLiuOp::gradient(const ExecContext&, const float* __restrict x, const float* __restrict s2,
                                  const float* __restrict dy, float* __restrict dx, int64_t n) {
  const NspLiu f = math();
  const float p = scale_;
#pragma omp simd
  for (int64_t i = 0; i < n; ++i) dx[i] = p * dy[i] * simd::logistic(x[i] / f.ks(s2[i]));
}

}  // namespace sf
