# The programs scripts/gpu_check.sh runs, sourced by it and by scripts/gpu_prebuild.sh (which builds
# them ahead): their CMake targets and their paths under the build tree, the study's apart (only
# gpu_check.sh --study runs it).
# shellcheck shell=bash disable=SC2034  # read by the scripts that source this file
gpu_targets="test_cuda test_engine test_nn test_optim test_dist bench_train_step bench_cuda trustgrad_train"
gpu_programs="tests/test_cuda tests/test_engine tests/test_nn tests/test_optim tests/dist/test_dist
  bench/bench_train_step bench/bench_cuda examples/train/train"
gpu_study_target=trust_clipping_study
gpu_study_program=examples/trust_clipping_study/trust_clipping_study
