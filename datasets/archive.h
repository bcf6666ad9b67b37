// Reading members out of a (compressed) tar archive with libarchive, so the original
// cifar-10-binary.tar.gz can be loaded without extracting it; and a small writer for tests.
#pragma once
#include <map>
#include <string>
#include <vector>

#include "datasets/file_io.h"

namespace tg::data {

// True when the path names a tar archive we can read (.tar, .tar.gz, .tgz).
bool looks_like_tar(const std::string& path);
// False when the library was built without libarchive: archives then throw IOError, directories work.
bool archive_supported();

// Reads the regular-file members whose path inside the archive ends with "/" + name (or equals
// name) for each of `names`; returns {name -> bytes}. Throws tg::IOError naming the archive when
// it is missing, corrupt or truncated, or when a requested member is absent (listing them).
std::map<std::string, Bytes> read_archive_members(const std::string& archive_path,
                                                  const std::vector<std::string>& names);

// Writes a gzip-compressed ustar archive holding {path inside archive -> bytes}.
void write_tar_gz(const std::string& archive_path, const std::map<std::string, Bytes>& members);

}  // namespace tg::data
