// Every CUDA launcher of the backend in one include, for the op layer's `case DeviceType::CUDA:`
// branches. Each launcher has the same signature as its CPU kernel in engine/cpu/ (or optim/).
#pragma once
#include "cuda/batchnorm.h"
#include "cuda/conv2d.h"
#include "cuda/elementwise.h"
#include "cuda/gemm.h"
#include "cuda/lamb.h"
#include "cuda/pool.h"
#include "cuda/reduce.h"
#include "cuda/softmax.h"
