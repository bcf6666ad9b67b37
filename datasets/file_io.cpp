// Whole-file I/O and zlib gzip streams (see file_io.h).
#include "datasets/file_io.h"

#include <zlib.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "engine/error.h"

namespace tg::data {

namespace fs = std::filesystem;

Bytes read_file(const std::string& path) {
  std::error_code ec;
  if (!fs::exists(path, ec)) throw IOError("cannot open '" + path + "': expected a file, found nothing at that path");
  if (fs::is_directory(path, ec)) throw IOError("cannot read '" + path + "': expected a file, found a directory");
  std::ifstream in(path, std::ios::binary);
  if (!in) throw IOError("cannot open '" + path + "' for reading: " + std::strerror(errno));
  in.seekg(0, std::ios::end);
  const std::streamoff size = in.tellg();
  in.seekg(0, std::ios::beg);
  if (size < 0) throw IOError("cannot determine the size of '" + path + "'");
  Bytes bytes(static_cast<size_t>(size));
  if (size > 0 && !in.read(reinterpret_cast<char*>(bytes.data()), size)) {
    std::ostringstream msg;
    msg << "short read from '" << path << "': expected " << size << " bytes, got " << in.gcount();
    throw IOError(msg.str());
  }
  return bytes;
}

void write_file(const std::string& path, const uint8_t* data, size_t size) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  if (!out) throw IOError("cannot open '" + path + "' for writing: " + std::strerror(errno));
  out.write(reinterpret_cast<const char*>(data), static_cast<std::streamsize>(size));
  if (!out) throw IOError("failed writing " + std::to_string(size) + " bytes to '" + path + "'");
}

bool is_gzip(const Bytes& bytes) { return bytes.size() >= 2 && bytes[0] == 0x1f && bytes[1] == 0x8b; }

Bytes gunzip(const Bytes& compressed, const std::string& what) {
  if (!is_gzip(compressed)) throw IOError("'" + what + "': expected gzip data (magic 1f 8b), found something else");
  Bytes out;
  // The last 4 bytes of a gzip member hold the uncompressed size mod 2^32: a good first guess,
  // trusted only within deflate's possible ratios (a truncated file ends in arbitrary bytes).
  if (compressed.size() >= 18) {
    const size_t n = compressed.size();
    const size_t isize = uint32_t(compressed[n - 4]) | uint32_t(compressed[n - 3]) << 8 |
                         uint32_t(compressed[n - 2]) << 16 | uint32_t(compressed[n - 1]) << 24;
    if (isize + 1024 >= n / 2 && isize <= n * 1032) out.reserve(isize);
  }
  z_stream zs{};
  if (inflateInit2(&zs, 16 + MAX_WBITS) != Z_OK) throw IOError("'" + what + "': zlib inflateInit2 failed");
  size_t in_pos = 0;
  uint8_t chunk[1 << 16];
  bool member_done = false;
  while (true) {
    const size_t avail = std::min<size_t>(compressed.size() - in_pos, 1u << 30);
    zs.next_in = const_cast<Bytef*>(compressed.data() + in_pos);
    zs.avail_in = static_cast<uInt>(avail);
    zs.next_out = chunk;
    zs.avail_out = sizeof(chunk);
    const int rc = inflate(&zs, Z_NO_FLUSH);
    const size_t consumed = avail - zs.avail_in;
    in_pos += consumed;
    out.insert(out.end(), chunk, chunk + (sizeof(chunk) - zs.avail_out));
    if (rc == Z_STREAM_END) {
      member_done = true;
      if (in_pos == compressed.size()) break;
      // Another gzip member may follow (`cat a.gz b.gz` is valid gzip); anything else is garbage
      // that gzip(1) itself only warns about: refuse it, the file was damaged or mis-assembled.
      if (in_pos + 2 <= compressed.size() && compressed[in_pos] == 0x1f && compressed[in_pos + 1] == 0x8b) {
        inflateReset(&zs);
        member_done = false;
        continue;
      }
      inflateEnd(&zs);
      throw IOError("trailing garbage in '" + what + "': expected another gzip member (1f 8b) or the end of the file after the member ending at compressed byte " +
                    std::to_string(in_pos) + ", found " + std::to_string(compressed.size() - in_pos) + " more bytes");
    }
    if (rc != Z_OK && rc != Z_BUF_ERROR) {
      std::string msg = "corrupt gzip data in '" + what + "' at compressed byte " + std::to_string(in_pos) +
                        ": zlib says " + (zs.msg ? zs.msg : "error " + std::to_string(rc));
      inflateEnd(&zs);
      throw IOError(msg);
    }
    if (consumed == 0 && zs.avail_out == sizeof(chunk)) break;  // no progress: input exhausted
  }
  inflateEnd(&zs);
  if (!member_done) {
    throw IOError("truncated gzip stream in '" + what + "': expected the end of the compressed data, found end of file after " +
                  std::to_string(compressed.size()) + " bytes (" + std::to_string(out.size()) + " bytes inflated)");
  }
  return out;
}

Bytes gzip(const Bytes& raw, int level) {
  z_stream zs{};
  if (deflateInit2(&zs, level, Z_DEFLATED, 16 + MAX_WBITS, 8, Z_DEFAULT_STRATEGY) != Z_OK)
    throw IOError("zlib deflateInit2 failed");
  Bytes out(deflateBound(&zs, static_cast<uLong>(raw.size())) + 32);
  zs.next_in = const_cast<Bytef*>(raw.data());
  zs.avail_in = static_cast<uInt>(raw.size());
  zs.next_out = out.data();
  zs.avail_out = static_cast<uInt>(out.size());
  const int rc = deflate(&zs, Z_FINISH);
  out.resize(zs.total_out);
  deflateEnd(&zs);
  if (rc != Z_STREAM_END) throw IOError("zlib deflate failed (code " + std::to_string(rc) + ")");
  return out;
}

Bytes maybe_gunzip(Bytes bytes, const std::string& what) { return is_gzip(bytes) ? gunzip(bytes, what) : bytes; }

Bytes read_maybe_gzip(const std::string& path) { return maybe_gunzip(read_file(path), path); }

}  // namespace tg::data
