// The layers' options (nn/layer_options.h): defaults equal PyTorch's keyword defaults, the setters
// chain and build the layer they describe (shapes, parameter counts, bias presence), bad values are
// named by the layer's error.
#include <doctest/doctest.h>

#include <climits>

#include "engine/error.h"
#include "nn/nn.h"

using namespace tg;
using namespace tg::nn;

TEST_CASE("layer options: defaults are PyTorch's") {
  // torch.nn.Conv2d(in, out, kernel_size, stride=1, padding=0, dilation=1, groups=1, bias=True)
  const Conv2dOptions conv(3, 8, 5);
  CHECK(conv.in_channels() == 3);
  CHECK(conv.out_channels() == 8);
  CHECK(conv.kernel_size() == 5);
  CHECK(conv.stride() == 1);
  CHECK(conv.padding() == 0);
  CHECK(conv.groups() == 1);
  CHECK(conv.bias());
  // torch.nn.Linear(in_features, out_features, bias=True)
  const LinearOptions lin(4, 2);
  CHECK(lin.in_features() == 4);
  CHECK(lin.out_features() == 2);
  CHECK(lin.bias());
  // torch.nn.BatchNorm2d(num_features, eps=1e-05, momentum=0.1, affine=True, track_running_stats=True)
  const BatchNorm2dOptions bn(6);
  CHECK(bn.num_features() == 6);
  CHECK(bn.eps() == 1e-5f);
  CHECK(bn.momentum() == 0.1f);
  CHECK(bn.affine());
  CHECK(bn.track_running_stats());
  // torch.nn.MaxPool2d / AvgPool2d(kernel_size, stride=None -> kernel_size, padding=0)
  const MaxPool2dOptions pool(3);
  CHECK(pool.kernel_size() == 3);
  CHECK(pool.stride() == 3);
  CHECK(pool.padding() == 0);
  CHECK(MaxPool2dOptions(3).kernel_size(4).stride() == 4);  // an unset stride follows kernel_size
  CHECK(AvgPool2dOptions(3).stride(1).kernel_size(4).stride() == 1);
  // torch.nn.Dropout(p=0.5)
  CHECK(DropoutOptions().p() == 0.5f);
}

TEST_CASE("layer options: the setters chain and build the layer they describe") {
  Generator gen(3);
  Conv2d conv(Conv2dOptions(4, 8, 3).stride(2).padding(1).bias(false).groups(2), gen);
  CHECK(conv.weight.shape() == Shape{8, 2, 3, 3});  // (K, C/groups, k, k)
  CHECK_FALSE(conv.bias.defined());
  CHECK(conv.num_parameters() == 8 * 2 * 3 * 3);
  CHECK(conv.named_parameters().size() == 1);
  CHECK(conv.describe() == "Conv2d(4, 8, kernel_size=3, stride=2, padding=1, groups=2, bias=false)");
  CHECK(conv(Tensor::zeros({1, 4, 9, 9})).shape() == Shape{1, 8, 5, 5});  // (9 + 2 - 3) / 2 + 1

  Conv2d conv_bias(Conv2dOptions(3, 5, 1), gen);
  CHECK(conv_bias.bias.shape() == Shape{5});
  CHECK(conv_bias.num_parameters() == 3 * 5 + 5);

  Linear lin(LinearOptions(10, 4).bias(false), gen);
  CHECK(lin.weight.shape() == Shape{4, 10});
  CHECK_FALSE(lin.bias.defined());
  CHECK(lin.num_parameters() == 40);
  Linear lin_bias(LinearOptions(10, 4), gen);
  CHECK(lin_bias.num_parameters() == 44);
  CHECK(lin_bias.describe() == "Linear(10, 4, bias=true)");

  BatchNorm2d bn(BatchNorm2dOptions(8).momentum(0.3f).eps(1e-3f));
  CHECK(bn.options.momentum() == 0.3f);
  CHECK(bn.options.eps() == 1e-3f);
  CHECK(bn.num_parameters() == 16);  // weight, bias
  CHECK(bn.named_buffers().size() == 3);  // running_mean, running_var, num_batches_tracked
  BatchNorm2d plain(BatchNorm2dOptions(8).affine(false).track_running_stats(false));
  CHECK(plain.num_parameters() == 0);
  CHECK(plain.named_buffers().empty());

  MaxPool2d mp(MaxPool2dOptions(3).stride(2).padding(1));
  CHECK(mp(Tensor::zeros({1, 1, 7, 7})).shape() == Shape{1, 1, 4, 4});  // (7 + 2 - 3) / 2 + 1
  AvgPool2d ap(AvgPool2dOptions(2));
  CHECK(ap(Tensor::zeros({1, 1, 6, 6})).shape() == Shape{1, 1, 3, 3});
  CHECK(ap.describe() == "AvgPool2d(kernel_size=2, stride=2, padding=0)");

  Dropout drop(DropoutOptions(0.25f), 9);
  CHECK(drop.options.p() == 0.25f);
}

TEST_CASE("layer options: bad values are named when the layer is built") {
  using doctest::Contains;
  CHECK_THROWS_WITH_AS(Conv2d(Conv2dOptions(6, 4, 3).groups(4)), Contains("divisible by groups 4"), Error);
  CHECK_THROWS_WITH_AS(Conv2d(Conv2dOptions(3, 4, 3).stride(0)), Contains("Conv2d: invalid configuration"), Error);
  CHECK_THROWS_WITH_AS(Linear(LinearOptions(0, 2)), Contains("in_features 0"), Error);
  CHECK_THROWS_WITH_AS(BatchNorm2d(BatchNorm2dOptions(4).momentum(1.5f)), Contains("momentum must be in [0, 1]"), Error);
  CHECK_THROWS_WITH_AS(BatchNorm2d(BatchNorm2dOptions(4).eps(0.f)), Contains("eps must be positive"), Error);
  CHECK_THROWS_WITH_AS(MaxPool2d(MaxPool2dOptions(2).stride(0)), Contains("MaxPool2d: invalid kernel_size 2, stride 0"),
                       Error);
  CHECK_THROWS_WITH_AS(AvgPool2d(AvgPool2dOptions(2).padding(2)), Contains("padding must be at most kernel_size/2"),
                       Error);
  CHECK_THROWS_WITH_AS(Dropout(DropoutOptions(1.f)), Contains("Dropout: p must be in [0, 1), got 1"), Error);
}

TEST_CASE("layer options: sizes whose products overflow are named, not wrapped") {
  using doctest::Contains;
  // The weight (4, 1, k, k) has about 2^64 elements.
  CHECK_THROWS_WITH_AS(Conv2d(Conv2dOptions(1, 4, INT_MAX)),
                       Contains("shape (4, 1, 2147483647, 2147483647) is too large"), Error);
  // 2 * padding is 2^31: past int, and past half the kernel.
  CHECK_THROWS_WITH_AS(AvgPool2d(AvgPool2dOptions(INT_MAX).padding(INT_MAX / 2 + 1)),
                       Contains("AvgPool2d: invalid kernel_size 2147483647, stride 2147483647, padding 1073741824"),
                       Error);
  // small_cnn's classifier takes 128 * (side / 8)^2 features, an int.
  CHECK_THROWS_WITH_AS(small_cnn(1, 1 << 20), Contains("small_cnn: side 1048576 is too large"), Error);
  CHECK_THROWS_WITH_AS(small_cnn(1, INT_MAX), Contains("128 * (2147483647 / 8)^2 = 9223371968135299200 features"),
                       Error);
  CHECK_THROWS_WITH_AS(make_model("small_cnn", 3, 32776), Contains("side 32776 is too large"), Error);
}
