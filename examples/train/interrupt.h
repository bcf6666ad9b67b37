// Ctrl-C handling for the train program: the first SIGINT (or SIGTERM) only sets a flag, which the
// training loop polls between steps to save a checkpoint and exit cleanly; a second one kills.
#pragma once

namespace tg::train {

void install_interrupt_handler();  // idempotent
bool interrupt_requested();
void request_interrupt();           // what the handler does; also for tests
void clear_interrupt();

}  // namespace tg::train
