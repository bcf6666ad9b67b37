// Finding a dataset by name: the training program passes "cifar10", "cifar100", "mnist" or
// "fashion-mnist" and a data directory, and gets both splits or an error listing every place tried.
#pragma once
#include <string>
#include <vector>

#include "datasets/dataset.h"

namespace tg::data {

// Canonical name for a user-given one ("CIFAR-10" -> "cifar10", "fmnist" -> "fashion-mnist");
// throws tg::Error listing the known names for anything else.
std::string canonical_dataset_name(const std::string& name);

// The places looked at, in order: directories (extracted files) and archives.
std::vector<std::string> dataset_candidates(const std::string& name, const std::string& data_dir);

// Loads train + test from the first candidate that holds the data. Throws tg::IOError listing
// every candidate and why it was rejected when none does, and scripts/download_data.sh as a hint.
// When a candidate exists but is malformed, the loader's error is rethrown with that location.
DatasetSplits load_dataset(const std::string& name, const std::string& data_dir = "data");

}  // namespace tg::data
