// This ISA level's kernel table (kernel_table.h): its copies of the entry points.
#include "engine/cpu/kernels/isa_kernels.h"

namespace tg::cpu::TG_ISA_NS {

namespace {
constexpr CpuIsa kLevel = static_cast<CpuIsa>(TG_ISA_LEVEL);

const KernelTable kTable = {
    kLevel,
    &sgemm,
    &sgemm_packed_a_floats,
    &sgemm_pack_a,
    &sgemm_packed,
    &winograd_applies,
    &winograd_forward,
    &winograd_backward,
    &direct_applies,
    &direct_forward,
    &direct_weight_grad,
    &direct_input_grad,
    &batchnorm2d_forward_train,
    &batchnorm2d_forward_eval,
    &batchnorm2d_backward,
    &batchnorm2d_backward_eval,
    &batchnorm2d_relu_forward_train,
    &batchnorm2d_relu_forward_eval,
    &batchnorm2d_relu_backward,
    &batchnorm2d_relu_maxpool2x2_forward_train,
    &batchnorm2d_relu_maxpool2x2_backward,
    &batchnorm2d_update_running,
    &max_pool2x2_forward,
    &max_pool2x2_backward,
};
}  // namespace

const KernelTable& kernel_table() { return kTable; }

}  // namespace tg::cpu::TG_ISA_NS
