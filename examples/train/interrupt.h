// Ctrl-C handling for the train program: the first SIGINT (or SIGTERM) only sets a flag, which the
// training loop polls between steps to save a checkpoint and exit cleanly; a second one kills.
#pragma once

namespace tg::train {

// Single process: the first signal requests the interrupt. Under mpirun (`collective`) it only marks
// this rank (interrupt_signalled()): DistributedTraining::sum() carries the mark to every rank and
// calls request_interrupt() on all of them after the same step (a rank stopping alone would start
// the checkpoint's collectives while the others start the next step's). Idempotent.
void install_interrupt_handler(bool collective = false);
bool interrupt_requested();
bool interrupt_signalled();         // a SIGINT/SIGTERM reached this process
void request_interrupt();           // what the single-process handler does; also for tests
void clear_interrupt();

}  // namespace tg::train
