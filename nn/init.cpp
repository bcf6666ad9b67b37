// PyTorch-default parameter initialisation (Kaiming uniform with a = sqrt(5)) on an explicit generator.
#include "nn/init.h"

#include <cmath>
#include <vector>

#include "engine/error.h"

namespace tg::nn {

void uniform_(Tensor t, float lo, float hi, Generator& gen) {
  TG_CHECK(t.defined(), "uniform_: tensor is undefined");
  TG_CHECK(lo <= hi, "uniform_: lo " << lo << " > hi " << hi);
  std::vector<float> values(static_cast<size_t>(t.numel()));
  for (float& v : values) v = gen.uniform(lo, hi);
  t.copy_(Tensor::from_vector(values, t.shape()));
}

float default_init_bound(int64_t fan_in) {
  TG_CHECK(fan_in > 0, "default_init_bound: fan_in must be positive, got " << fan_in);
  return static_cast<float>(1.0 / std::sqrt(static_cast<double>(fan_in)));
}

void init_default_weight_and_bias(Tensor weight, Tensor bias, int64_t fan_in, Generator& gen) {
  const float bound = default_init_bound(fan_in);
  uniform_(weight, -bound, bound, gen);
  if (bias.defined()) uniform_(bias, -bound, bound, gen);
}

}  // namespace tg::nn
