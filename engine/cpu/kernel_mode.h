// Which CPU kernels the ops run: the fast ones (blocked, vectorised, threaded: engine/cpu/) or the
// reference ones (plain nested loops over the documented shapes, single-threaded, one file per
// concept: engine/cpu/reference/), so a student can run a whole training on kernels they can read
// and step through in a debugger.
//
// Process-wide state, like the thread settings: initialised at the first call from the environment
// variable TG_KERNELS=fast|reference (unset or empty: fast; any other value throws tg::Error naming
// the variable and the allowed values), changed by set_kernel_mode. Each CPU kernel entry point
// checks it in one line at its top (engine/cpu/*.cpp, kernel_dispatch.cpp). CUDA tensors are
// unaffected: their kernels are always the CUDA ones. The two modes agree to rounding (the reference
// kernels sum in double, in index order), not bit for bit.
#pragma once

namespace tg {

enum class KernelMode { Fast, Reference };

// The mode in use (reads TG_KERNELS at the first call; throws tg::Error on a bad value).
KernelMode kernel_mode();
void set_kernel_mode(KernelMode mode);

// "fast" or "reference".
const char* kernel_mode_name(KernelMode mode);
inline const char* kernel_mode_name() { return kernel_mode_name(kernel_mode()); }

// The mode named by `name` ("fast", "reference"); throws tg::Error naming `what` (the variable or
// flag the value came from) and the allowed values.
KernelMode parse_kernel_mode(const char* name, const char* what = "TG_KERNELS");

// True in Reference mode: the one-line check at each CPU kernel's entry point.
inline bool reference_kernels() { return kernel_mode() == KernelMode::Reference; }

}  // namespace tg
