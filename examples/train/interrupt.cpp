// SIGINT/SIGTERM -> a flag polled by the training loop (see interrupt.h). The handler only touches
// a lock-free atomic and write(2), both async-signal-safe.
#include "examples/train/interrupt.h"

#include <atomic>
#include <csignal>
#include <cstring>
#include <unistd.h>

namespace tg::train {

namespace {

std::atomic<int> g_signals{0};         // SIGINT/SIGTERM received: the second one kills
std::atomic<bool> g_requested{false};  // what the training loop polls
std::atomic<bool> g_collective{false};  // under mpirun: a signal only marks this rank
static_assert(std::atomic<int>::is_always_lock_free && std::atomic<bool>::is_always_lock_free);

void on_signal(int sig) {
  if (g_signals.fetch_add(1) >= 1) {  // second signal: give up at once
    std::signal(sig, SIG_DFL);
    std::raise(sig);
    return;
  }
  static const char local[] = "\ninterrupt: finishing the current step, then saving a checkpoint (press Ctrl-C again to abort)\n";
  static const char ranks[] = "\ninterrupt: every rank stops at the end of this step or the next (all at the same one), "
                              "then a checkpoint is saved (press Ctrl-C again to abort the job)\n";
  const bool collective = g_collective.load();
  if (!collective) g_requested.store(true);
  ssize_t ignored = collective ? ::write(STDERR_FILENO, ranks, sizeof(ranks) - 1)
                               : ::write(STDERR_FILENO, local, sizeof(local) - 1);
  (void)ignored;
}

}  // namespace

void install_interrupt_handler(bool collective) {
  g_collective.store(collective);
  struct sigaction sa;
  std::memset(&sa, 0, sizeof(sa));
  sa.sa_handler = on_signal;
  sigemptyset(&sa.sa_mask);
  sigaction(SIGINT, &sa, nullptr);
  sigaction(SIGTERM, &sa, nullptr);
}

bool interrupt_requested() { return g_requested.load(); }
bool interrupt_signalled() { return g_signals.load() > 0; }
void request_interrupt() { g_requested.store(true); }
void clear_interrupt() {
  g_signals.store(0);
  g_requested.store(false);
}

}  // namespace tg::train
