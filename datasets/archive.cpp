// libarchive-backed tar(.gz) member reader and writer (see archive.h).
#include "datasets/archive.h"

#include <filesystem>
#include <memory>
#include <set>

#include "engine/error.h"

#ifdef TRUSTGRAD_WITH_LIBARCHIVE
#include <archive.h>
#include <archive_entry.h>
#endif

namespace tg::data {

namespace {

bool ends_with(const std::string& s, const std::string& suffix) {
  return s.size() >= suffix.size() && s.compare(s.size() - suffix.size(), suffix.size(), suffix) == 0;
}

}  // namespace

bool looks_like_tar(const std::string& path) {
  return ends_with(path, ".tar.gz") || ends_with(path, ".tgz") || ends_with(path, ".tar");
}

#ifndef TRUSTGRAD_WITH_LIBARCHIVE
bool archive_supported() { return false; }

std::map<std::string, Bytes> read_archive_members(const std::string& archive_path, const std::vector<std::string>&) {
  throw IOError("cannot read archive '" + archive_path +
                "': this build has no libarchive (install libarchive-dev and rebuild), so extract it first and "
                "point the loader at the directory");
}

void write_tar_gz(const std::string& archive_path, const std::map<std::string, Bytes>&) {
  throw IOError("cannot write archive '" + archive_path + "': this build has no libarchive");
}
#else
bool archive_supported() { return true; }

namespace {

// Which requested name (if any) an archive member path matches.
const std::string* match_member(const std::string& member, const std::vector<std::string>& names) {
  for (const auto& n : names)
    if (member == n || ends_with(member, "/" + n)) return &n;
  return nullptr;
}

struct ReadCloser {
  void operator()(archive* a) const { archive_read_free(a); }
};
struct WriteCloser {
  void operator()(archive* a) const { archive_write_free(a); }
};

std::string archive_message(archive* a) {
  const char* s = archive_error_string(a);
  return s ? s : "unknown libarchive error";
}

}  // namespace

std::map<std::string, Bytes> read_archive_members(const std::string& archive_path,
                                                  const std::vector<std::string>& names) {
  std::error_code ec;
  if (!std::filesystem::is_regular_file(archive_path, ec))
    throw IOError("cannot open archive '" + archive_path + "': expected a file, found " +
                  (std::filesystem::exists(archive_path, ec) ? "something that is not a regular file" : "nothing"));
  std::unique_ptr<archive, ReadCloser> a(archive_read_new());
  archive_read_support_filter_all(a.get());
  archive_read_support_format_tar(a.get());
  archive_read_support_format_gnutar(a.get());
  if (archive_read_open_filename(a.get(), archive_path.c_str(), 1 << 16) != ARCHIVE_OK)
    throw IOError("cannot open archive '" + archive_path + "': " + archive_message(a.get()));

  std::map<std::string, Bytes> found;
  archive_entry* entry = nullptr;
  while (found.size() < names.size()) {
    const int rc = archive_read_next_header(a.get(), &entry);
    if (rc == ARCHIVE_EOF) break;
    if (rc < ARCHIVE_WARN)
      throw IOError("corrupt or truncated archive '" + archive_path + "': expected a tar header, libarchive says " +
                    archive_message(a.get()));
    if (archive_entry_filetype(entry) != AE_IFREG) continue;
    const char* member_path = archive_entry_pathname(entry);
    const std::string* name = member_path ? match_member(member_path, names) : nullptr;
    if (!name || found.count(*name)) continue;
    const la_int64_t declared = archive_entry_size(entry);
    Bytes data;
    if (declared > 0) data.reserve(static_cast<size_t>(declared));
    uint8_t buf[1 << 16];
    while (true) {
      const la_ssize_t n = archive_read_data(a.get(), buf, sizeof(buf));
      if (n == 0) break;
      if (n < 0)
        throw IOError("corrupt or truncated archive '" + archive_path + "' while reading member '" + member_path +
                      "' (" + std::to_string(data.size()) + " of " + std::to_string(declared) +
                      " bytes read): " + archive_message(a.get()));
      data.insert(data.end(), buf, buf + n);
    }
    if (declared >= 0 && static_cast<la_int64_t>(data.size()) != declared)
      throw IOError("truncated member '" + std::string(member_path) + "' in archive '" + archive_path + "': expected " +
                    std::to_string(declared) + " bytes, found " + std::to_string(data.size()));
    found.emplace(*name, std::move(data));
  }
  if (found.size() < names.size()) {
    std::string missing;
    for (const auto& n : names)
      if (!found.count(n)) missing += (missing.empty() ? "" : ", ") + n;
    throw IOError("archive '" + archive_path + "' lacks expected member(s): " + missing);
  }
  return found;
}

void write_tar_gz(const std::string& archive_path, const std::map<std::string, Bytes>& members) {
  std::unique_ptr<archive, WriteCloser> a(archive_write_new());
  archive_write_add_filter_gzip(a.get());
  archive_write_set_format_ustar(a.get());
  if (archive_write_open_filename(a.get(), archive_path.c_str()) != ARCHIVE_OK)
    throw IOError("cannot create archive '" + archive_path + "': " + archive_message(a.get()));
  std::set<std::string> dirs;  // write parent directory entries first, like `tar czf` does
  for (const auto& [path, bytes] : members) {
    for (size_t slash = path.find('/'); slash != std::string::npos; slash = path.find('/', slash + 1)) {
      const std::string dir = path.substr(0, slash);
      if (!dirs.insert(dir).second) continue;
      archive_entry* e = archive_entry_new();
      archive_entry_set_pathname(e, (dir + "/").c_str());
      archive_entry_set_filetype(e, AE_IFDIR);
      archive_entry_set_perm(e, 0755);
      archive_write_header(a.get(), e);
      archive_entry_free(e);
    }
    archive_entry* e = archive_entry_new();
    archive_entry_set_pathname(e, path.c_str());
    archive_entry_set_filetype(e, AE_IFREG);
    archive_entry_set_perm(e, 0644);
    archive_entry_set_size(e, static_cast<la_int64_t>(bytes.size()));
    const int rc = archive_write_header(a.get(), e);
    archive_entry_free(e);
    if (rc != ARCHIVE_OK) throw IOError("cannot add '" + path + "' to '" + archive_path + "': " + archive_message(a.get()));
    if (!bytes.empty() && archive_write_data(a.get(), bytes.data(), bytes.size()) != static_cast<la_ssize_t>(bytes.size()))
      throw IOError("failed writing '" + path + "' into '" + archive_path + "': " + archive_message(a.get()));
  }
  if (archive_write_close(a.get()) != ARCHIVE_OK)
    throw IOError("failed closing archive '" + archive_path + "': " + archive_message(a.get()));
}

#endif  // TRUSTGRAD_WITH_LIBARCHIVE

}  // namespace tg::data
