// safetensors reader and atomic writer (format: https://github.com/huggingface/safetensors).
// Layout: [u64 LE header length N][N bytes JSON header, space padded][data buffer]; every tensor's
// data_offsets [begin, end) are relative to the data buffer, which they must tile exactly.
#include "io/safetensors.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <bit>
#include <cerrno>
#include <cstdint>
#include <cstring>
#include <limits>
#include <nlohmann/json.hpp>
#include <set>
#include <sstream>

#include "engine/error.h"

namespace tg::io {

static_assert(std::endian::native == std::endian::little, "safetensors I/O assumes a little-endian host");

namespace {

constexpr uint64_t kMaxHeaderBytes = 100ull * 1000 * 1000;  // 100 MB, as the reference implementation

[[noreturn]] void io_fail(const std::string& path, const std::string& what) {
  throw IOError("safetensors file '" + path + "': " + what);
}

std::string errno_str() { return std::strerror(errno); }

// ---------------------------------------------------------------- dtypes
struct DTypeInfo {
  const char* name;
  int size;  // bytes per element
};
constexpr DTypeInfo kDTypes[] = {{"F32", 4}, {"F64", 8}, {"F16", 2}, {"BF16", 2}, {"I64", 8}, {"I32", 4},
                                 {"I16", 2}, {"I8", 1},  {"U8", 1},  {"U16", 2},  {"U32", 4}, {"U64", 8},
                                 {"BOOL", 1}};

const DTypeInfo* find_dtype(const std::string& name) {
  for (const auto& d : kDTypes)
    if (name == d.name) return &d;
  return nullptr;
}

// IEEE half (1 sign, 5 exponent, 10 mantissa bits) -> float, exact (subnormals, inf, nan included).
float half_to_float(uint16_t h) {
  const uint32_t sign = static_cast<uint32_t>(h & 0x8000u) << 16;
  uint32_t exp = (h >> 10) & 0x1f;
  uint32_t mant = h & 0x3ffu;
  uint32_t bits;
  if (exp == 0x1f) {
    bits = sign | 0x7f800000u | (mant << 13);  // inf / nan
  } else if (exp != 0) {
    bits = sign | ((exp + 112) << 23) | (mant << 13);  // normal: rebias 15 -> 127
  } else if (mant == 0) {
    bits = sign;  // +-0
  } else {        // subnormal: value = mant * 2^-24; normalise it
    int e = -1;
    do {
      mant <<= 1;
      ++e;
    } while ((mant & 0x400u) == 0);
    bits = sign | (static_cast<uint32_t>(112 - e) << 23) | ((mant & 0x3ffu) << 13);
  }
  return std::bit_cast<float>(bits);
}

template <class T>
void convert_to_float(float* out, const unsigned char* src, int64_t n) {
  for (int64_t i = 0; i < n; ++i) {
    T v;
    std::memcpy(&v, src + i * sizeof(T), sizeof(T));
    out[i] = static_cast<float>(v);
  }
}

// Converts n elements of dtype `name` at src into float32 at out.
void decode(float* out, const unsigned char* src, int64_t n, const std::string& name) {
  if (name == "F32") {
    std::memcpy(out, src, static_cast<size_t>(n) * 4);
  } else if (name == "F64") {
    convert_to_float<double>(out, src, n);
  } else if (name == "F16") {
    for (int64_t i = 0; i < n; ++i) {
      uint16_t h;
      std::memcpy(&h, src + 2 * i, 2);
      out[i] = half_to_float(h);
    }
  } else if (name == "BF16") {  // bfloat16 is the top half of a float32
    for (int64_t i = 0; i < n; ++i) {
      uint16_t h;
      std::memcpy(&h, src + 2 * i, 2);
      out[i] = std::bit_cast<float>(static_cast<uint32_t>(h) << 16);
    }
  } else if (name == "I64") {
    convert_to_float<int64_t>(out, src, n);
  } else if (name == "I32") {
    convert_to_float<int32_t>(out, src, n);
  } else if (name == "I16") {
    convert_to_float<int16_t>(out, src, n);
  } else if (name == "I8") {
    convert_to_float<int8_t>(out, src, n);
  } else if (name == "U8" || name == "BOOL") {
    convert_to_float<uint8_t>(out, src, n);
  } else if (name == "U16") {
    convert_to_float<uint16_t>(out, src, n);
  } else if (name == "U32") {
    convert_to_float<uint32_t>(out, src, n);
  } else if (name == "U64") {
    convert_to_float<uint64_t>(out, src, n);
  }
}

// ---------------------------------------------------------------- file helpers
struct Fd {
  int fd = -1;
  ~Fd() {
    if (fd >= 0) ::close(fd);
  }
};

void write_all(int fd, const void* data, size_t bytes, const std::string& path) {
  const char* p = static_cast<const char*>(data);
  while (bytes > 0) {
    ssize_t w = ::write(fd, p, bytes);
    if (w < 0) {
      if (errno == EINTR) continue;
      io_fail(path, "write failed: " + errno_str());
    }
    p += w;
    bytes -= static_cast<size_t>(w);
  }
}

void read_all(int fd, void* data, size_t bytes, uint64_t offset, const std::string& path) {
  char* p = static_cast<char*>(data);
  while (bytes > 0) {
    ssize_t r = ::pread(fd, p, bytes, static_cast<off_t>(offset));
    if (r < 0) {
      if (errno == EINTR) continue;
      io_fail(path, "read failed: " + errno_str());
    }
    if (r == 0) io_fail(path, "unexpected end of file while reading (file shrank?)");
    p += r;
    bytes -= static_cast<size_t>(r);
    offset += static_cast<uint64_t>(r);
  }
}

std::string dir_of(const std::string& path) {
  auto slash = path.find_last_of('/');
  if (slash == std::string::npos) return ".";
  if (slash == 0) return "/";
  return path.substr(0, slash);
}

// ---------------------------------------------------------------- header parsing
struct Entry {
  std::string name;
  std::string dtype;
  Shape shape;
  uint64_t begin = 0, end = 0;
};

uint64_t as_u64(const nlohmann::json& v, const std::string& path, const std::string& name, const char* field) {
  if (!v.is_number_integer() || (v.is_number_integer() && !v.is_number_unsigned() && v.get<int64_t>() < 0))
    io_fail(path, "tensor '" + name + "': " + field + " must hold non-negative integers, got " + v.dump());
  return v.get<uint64_t>();
}

Entry parse_entry(const std::string& name, const nlohmann::json& info, const std::string& path) {
  if (!info.is_object()) io_fail(path, "tensor '" + name + "': header entry must be an object, got " + info.dump());
  for (const char* key : {"dtype", "shape", "data_offsets"})
    if (!info.contains(key)) io_fail(path, "tensor '" + name + "': header entry lacks \"" + key + "\"");
  Entry e;
  e.name = name;
  const auto& dt = info["dtype"];
  if (!dt.is_string()) io_fail(path, "tensor '" + name + "': dtype must be a string, got " + dt.dump());
  e.dtype = dt.get<std::string>();
  const DTypeInfo* di = find_dtype(e.dtype);
  if (!di)
    io_fail(path, "tensor '" + name + "': unknown or unsupported dtype \"" + e.dtype +
                      "\" (supported: F32 F64 F16 BF16 I64 I32 I16 I8 U8 U16 U32 U64 BOOL)");
  const auto& shape = info["shape"];
  if (!shape.is_array()) io_fail(path, "tensor '" + name + "': shape must be an array, got " + shape.dump());
  uint64_t numel = 1;
  for (const auto& d : shape) {
    uint64_t v = as_u64(d, path, name, "shape");
    if (v > static_cast<uint64_t>(std::numeric_limits<int64_t>::max()) ||
        (v != 0 && numel > std::numeric_limits<uint64_t>::max() / 8 / v))
      io_fail(path, "tensor '" + name + "': shape " + shape.dump() + " overflows");
    numel *= v;
    e.shape.push_back(static_cast<int64_t>(v));
  }
  const auto& off = info["data_offsets"];
  if (!off.is_array() || off.size() != 2)
    io_fail(path, "tensor '" + name + "': data_offsets must be [begin, end], got " + off.dump());
  e.begin = as_u64(off[0], path, name, "data_offsets");
  e.end = as_u64(off[1], path, name, "data_offsets");
  if (e.end < e.begin)
    io_fail(path, "tensor '" + name + "': data_offsets " + off.dump() + " end before begin");
  const uint64_t expect = numel * static_cast<uint64_t>(di->size);
  if (e.end - e.begin != expect) {
    std::ostringstream os;
    os << "tensor '" << name << "': shape " << shape.dump() << " of " << e.dtype << " needs " << expect
       << " bytes but data_offsets " << off.dump() << " span " << (e.end - e.begin);
    io_fail(path, os.str());
  }
  return e;
}

}  // namespace

// ================================================================ save
void save_safetensors(const std::string& path, const NamedTensors& tensors, const Metadata& metadata) {
  // Header: {name: {dtype, shape, data_offsets}}, in the given order, offsets consecutive.
  nlohmann::ordered_json header = nlohmann::ordered_json::object();
  std::set<std::string> seen;
  uint64_t offset = 0;
  for (const auto& [name, t] : tensors) {
    if (name.empty() || name == "__metadata__") io_fail(path, "cannot save a tensor named '" + name + "'");
    if (!seen.insert(name).second) io_fail(path, "tensor '" + name + "' given twice");
    if (!t.defined()) io_fail(path, "tensor '" + name + "' is undefined");
    if (t.dtype() != DType::Float32)
      io_fail(path, "tensor '" + name + "' has dtype " + dtype_name(t.dtype()) + "; only float32 is saved");
    const uint64_t bytes = static_cast<uint64_t>(t.numel()) * 4;
    header[name] = {{"dtype", "F32"}, {"shape", t.shape()}, {"data_offsets", {offset, offset + bytes}}};
    offset += bytes;
  }
  if (!metadata.empty()) {
    nlohmann::ordered_json meta = nlohmann::ordered_json::object();
    for (const auto& [k, v] : metadata) meta[k] = v;
    header["__metadata__"] = meta;
  }
  std::string js = header.dump();
  js.append((8 - js.size() % 8) % 8, ' ');  // pad so the data buffer starts 8-byte aligned
  const uint64_t header_len = js.size();

  // Atomic: write <path>.tmp.<pid>, fsync it, rename over path, fsync the directory.
  const std::string tmp = path + ".tmp." + std::to_string(::getpid());
  {
    Fd f;
    f.fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (f.fd < 0) io_fail(path, "cannot create temporary file '" + tmp + "': " + errno_str());
    try {
      unsigned char len_le[8];
      for (int i = 0; i < 8; ++i) len_le[i] = static_cast<unsigned char>(header_len >> (8 * i));
      write_all(f.fd, len_le, 8, path);
      write_all(f.fd, js.data(), js.size(), path);
      for (const auto& [name, t] : tensors) {
        if (t.numel() == 0) continue;
        Tensor host = t.device().is_cpu() ? t : t.to(Device::cpu());
        write_all(f.fd, host.data(), static_cast<size_t>(host.numel()) * 4, path);
      }
      if (::fsync(f.fd) != 0) io_fail(path, "fsync failed: " + errno_str());
      int fd = f.fd;
      f.fd = -1;
      if (::close(fd) != 0) io_fail(path, "close failed: " + errno_str());
    } catch (...) {
      ::unlink(tmp.c_str());
      throw;
    }
  }
  if (::rename(tmp.c_str(), path.c_str()) != 0) {
    std::string err = errno_str();
    ::unlink(tmp.c_str());
    io_fail(path, "cannot rename '" + tmp + "' into place: " + err);
  }
  Fd dir;
  dir.fd = ::open(dir_of(path).c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (dir.fd >= 0) ::fsync(dir.fd);  // best effort: some filesystems refuse directory fsync
}

// ================================================================ load
SafetensorsFile load_safetensors(const std::string& path) {
  Fd f;
  f.fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (f.fd < 0) io_fail(path, "cannot open: " + errno_str());
  struct stat st{};
  if (::fstat(f.fd, &st) != 0) io_fail(path, "cannot stat: " + errno_str());
  if (!S_ISREG(st.st_mode)) io_fail(path, "not a regular file");
  const uint64_t file_size = static_cast<uint64_t>(st.st_size);
  if (file_size < 8)
    io_fail(path, "file is " + std::to_string(file_size) + " bytes, too short for the 8-byte header length");

  unsigned char len_le[8];
  read_all(f.fd, len_le, 8, 0, path);
  uint64_t header_len = 0;
  for (int i = 0; i < 8; ++i) header_len |= static_cast<uint64_t>(len_le[i]) << (8 * i);
  if (header_len > kMaxHeaderBytes)
    io_fail(path, "header length " + std::to_string(header_len) + " exceeds the 100 MB limit");
  if (header_len > file_size - 8)
    io_fail(path, "header length " + std::to_string(header_len) + " runs beyond the end of the file (" +
                      std::to_string(file_size) + " bytes)");
  std::string js(header_len, '\0');
  read_all(f.fd, js.data(), header_len, 8, path);

  // Parse, rejecting duplicate top-level names (nlohmann would silently keep the last one).
  std::set<std::string> top_keys;
  std::string duplicate;
  nlohmann::json header;
  try {
    header = nlohmann::json::parse(js, [&](int depth, nlohmann::json::parse_event_t ev, nlohmann::json& parsed) {
      if (ev == nlohmann::json::parse_event_t::key && depth == 1 && parsed.is_string() &&
          !top_keys.insert(parsed.get<std::string>()).second && duplicate.empty())
        duplicate = parsed.get<std::string>();
      return true;
    });
  } catch (const nlohmann::json::exception& e) {
    io_fail(path, std::string("malformed JSON header: ") + e.what());
  }
  if (!header.is_object()) io_fail(path, "JSON header must be an object, got " + std::string(header.type_name()));
  if (!duplicate.empty()) io_fail(path, "tensor '" + duplicate + "' appears twice in the header");

  SafetensorsFile out;
  out.path = path;
  std::vector<Entry> entries;
  for (auto it = header.begin(); it != header.end(); ++it) {
    if (it.key() == "__metadata__") {
      if (it->is_null()) continue;
      if (!it->is_object()) io_fail(path, "__metadata__ must be an object of strings, got " + it->dump());
      for (auto m = it->begin(); m != it->end(); ++m) {
        if (!m->is_string())
          io_fail(path, "__metadata__ value for '" + m.key() + "' must be a string, got " + m->dump());
        out.metadata[m.key()] = m->get<std::string>();
      }
      continue;
    }
    entries.push_back(parse_entry(it.key(), *it, path));
  }

  // The data buffer must be tiled exactly: sorted by begin, each starts where the previous ended.
  const uint64_t data_start = 8 + header_len;
  const uint64_t data_size = file_size - data_start;
  std::stable_sort(entries.begin(), entries.end(), [](const Entry& a, const Entry& b) {
    return a.begin != b.begin ? a.begin < b.begin : a.end < b.end;
  });
  uint64_t cursor = 0;
  const Entry* prev = nullptr;
  for (const Entry& e : entries) {
    if (e.end > data_size) {
      std::ostringstream os;
      os << "tensor '" << e.name << "': data_offsets [" << e.begin << ", " << e.end
         << "] beyond the data buffer of " << data_size << " bytes (truncated file or bad offsets)";
      io_fail(path, os.str());
    }
    if (e.begin < cursor)
      io_fail(path, "tensor '" + e.name + "' overlaps tensor '" + (prev ? prev->name : "") + "' in the data buffer");
    if (e.begin > cursor) {
      std::ostringstream os;
      os << "tensor '" << e.name << "' starts at byte " << e.begin << " leaving a hole of " << (e.begin - cursor)
         << " bytes after " << (prev ? "tensor '" + prev->name + "'" : std::string("the header"));
      io_fail(path, os.str());
    }
    cursor = e.end;
    prev = &e;
  }
  if (cursor != data_size) {
    std::ostringstream os;
    os << "data buffer holds " << data_size << " bytes but the tensors cover only " << cursor
       << " (trailing bytes" << (prev ? " after tensor '" + prev->name + "'" : std::string()) << ")";
    io_fail(path, os.str());
  }

  // Read every tensor, converting to float32.
  std::vector<unsigned char> scratch;
  for (const Entry& e : entries) {
    Tensor t = Tensor::empty(e.shape);
    const uint64_t bytes = e.end - e.begin;
    if (bytes > 0) {
      if (e.dtype == "F32") {
        read_all(f.fd, t.data(), bytes, data_start + e.begin, path);
      } else {
        scratch.resize(bytes);
        read_all(f.fd, scratch.data(), bytes, data_start + e.begin, path);
        decode(t.data(), scratch.data(), t.numel(), e.dtype);
      }
    }
    out.tensors.emplace_back(e.name, t);
  }
  return out;
}

// ================================================================ SafetensorsFile
const Tensor* SafetensorsFile::find(const std::string& name) const {
  for (const auto& [n, t] : tensors)
    if (n == name) return &t;
  return nullptr;
}

const Tensor& SafetensorsFile::at(const std::string& name) const {
  if (const Tensor* t = find(name)) return *t;
  std::string have;
  for (size_t i = 0; i < tensors.size() && i < 20; ++i) have += (i ? ", " : "") + tensors[i].first;
  if (tensors.size() > 20) have += ", ...";
  throw IOError("safetensors file '" + path + "': no tensor named '" + name + "' (file has " + std::to_string(tensors.size()) +
                " tensors: " + have + ")");
}

}  // namespace tg::io
