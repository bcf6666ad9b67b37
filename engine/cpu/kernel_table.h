// The hot CPU kernels of one ISA level as a table of function pointers (runtime dispatch, isa.h).
//
// Each level's copy of engine/cpu/kernels/*.cpp defines tg::cpu::<level>::kernel_table(); the
// public entry points (tg::cpu::sgemm, winograd_forward, ...) forward to kernels(), the table of
// cpu_isa(), chosen once. Tests compare the levels with kernels_for().
#pragma once

#include "engine/cpu/batchnorm.h"
#include "engine/cpu/conv2d_direct.h"
#include "engine/cpu/isa.h"
#include "engine/cpu/pool.h"
#include "engine/cpu/sgemm.h"
#include "engine/cpu/winograd.h"

namespace tg::cpu {

// One member per entry point, typed by its public declaration (so the signatures live in one place).
struct KernelTable {
  CpuIsa isa;
  decltype(&cpu::sgemm) sgemm;
  decltype(&cpu::sgemm_packed_a_floats) sgemm_packed_a_floats;
  decltype(&cpu::sgemm_pack_a) sgemm_pack_a;
  decltype(&cpu::sgemm_packed) sgemm_packed;
  decltype(&cpu::winograd_applies) winograd_applies;
  decltype(&cpu::winograd_forward) winograd_forward;
  decltype(&cpu::winograd_backward) winograd_backward;
  decltype(&cpu::direct_applies) direct_applies;
  decltype(&cpu::direct_forward) direct_forward;
  decltype(&cpu::direct_weight_grad) direct_weight_grad;
  decltype(&cpu::direct_input_grad) direct_input_grad;
  decltype(&cpu::batchnorm2d_forward_train) batchnorm2d_forward_train;
  decltype(&cpu::batchnorm2d_forward_eval) batchnorm2d_forward_eval;
  decltype(&cpu::batchnorm2d_backward) batchnorm2d_backward;
  decltype(&cpu::batchnorm2d_backward_eval) batchnorm2d_backward_eval;
  decltype(&cpu::batchnorm2d_relu_forward_train) batchnorm2d_relu_forward_train;
  decltype(&cpu::batchnorm2d_relu_forward_eval) batchnorm2d_relu_forward_eval;
  decltype(&cpu::batchnorm2d_relu_backward) batchnorm2d_relu_backward;
  decltype(&cpu::batchnorm2d_relu_maxpool2x2_forward_train) batchnorm2d_relu_maxpool2x2_forward_train;
  decltype(&cpu::batchnorm2d_relu_maxpool2x2_backward) batchnorm2d_relu_maxpool2x2_backward;
  decltype(&cpu::batchnorm2d_update_running) batchnorm2d_update_running;
  decltype(&cpu::max_pool2x2_forward) max_pool2x2_forward;
  decltype(&cpu::max_pool2x2_backward) max_pool2x2_backward;
};

// The table of cpu_isa() (chosen at the first call).
const KernelTable& kernels();

// The table of `isa`; throws tg::Error when this CPU cannot run it (isa > cpu_isa_supported()).
const KernelTable& kernels_for(CpuIsa isa);

}  // namespace tg::cpu
