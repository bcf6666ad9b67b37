// SIGINT/SIGTERM -> a flag polled by the training loop (see interrupt.h). The handler only touches
// a lock-free atomic and write(2), both async-signal-safe.
#include "examples/train/interrupt.h"

#include <atomic>
#include <csignal>
#include <cstring>
#include <unistd.h>

namespace tg::train {

namespace {

std::atomic<int> g_interrupts{0};
static_assert(std::atomic<int>::is_always_lock_free);

void on_signal(int sig) {
  if (g_interrupts.fetch_add(1) >= 1) {  // second signal: give up at once
    std::signal(sig, SIG_DFL);
    std::raise(sig);
    return;
  }
  const char msg[] = "\ninterrupt: finishing the current step, then saving a checkpoint (press Ctrl-C again to abort)\n";
  ssize_t ignored = ::write(STDERR_FILENO, msg, sizeof(msg) - 1);
  (void)ignored;
}

}  // namespace

void install_interrupt_handler() {
  struct sigaction sa;
  std::memset(&sa, 0, sizeof(sa));
  sa.sa_handler = on_signal;
  sigemptyset(&sa.sa_mask);
  sigaction(SIGINT, &sa, nullptr);
  sigaction(SIGTERM, &sa, nullptr);
}

bool interrupt_requested() { return g_interrupts.load() > 0; }
void request_interrupt() { g_interrupts.store(1); }
void clear_interrupt() { g_interrupts.store(0); }

}  // namespace tg::train
