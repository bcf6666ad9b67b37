// Whole-file reading and writing, and gzip (de)compression through zlib, for the dataset loaders.
// Every failure throws tg::IOError naming the file, what was expected and what was found.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

namespace tg::data {

using Bytes = std::vector<uint8_t>;

// The bytes of a file on disk; throws when it is missing, a directory or unreadable.
Bytes read_file(const std::string& path);
void write_file(const std::string& path, const uint8_t* data, size_t size);
inline void write_file(const std::string& path, const Bytes& bytes) { write_file(path, bytes.data(), bytes.size()); }

// True when the bytes start with the gzip magic 1f 8b.
bool is_gzip(const Bytes& bytes);

// Inflates a gzip stream (concatenated members allowed; CRC and length are checked by zlib).
// Bytes after the last member that do not start another member are refused (IOError).
// `what` names the source in error messages (usually the path).
Bytes gunzip(const Bytes& compressed, const std::string& what);

// Deflates into a gzip stream (used by tests to write .gz fixtures).
Bytes gzip(const Bytes& raw, int level = 6);

// gunzip when the content is gzip (decided by the magic bytes, not the name), else the bytes as given.
Bytes maybe_gunzip(Bytes bytes, const std::string& what);
// read_file, then maybe_gunzip.
Bytes read_maybe_gzip(const std::string& path);

}  // namespace tg::data
