// The train program: `train --help` lists every flag. All logic lives in run.cpp (testable).
#include <iostream>

#include "examples/train/run.h"

int main(int argc, char** argv) { return tg::train::run_train(argc, argv, std::cout, std::cerr); }
