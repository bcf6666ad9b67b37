// Checked appends, atomic whole-file writes, stale temporaries and writability probes (see output_files.h).
#include "examples/train/output_files.h"

#include <fcntl.h>
#include <signal.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <filesystem>

#include "engine/error.h"

namespace tg::train {

namespace fs = std::filesystem;

namespace {

std::string errno_text(int err) { return std::strerror(err); }

[[noreturn]] void fail(const std::string& path, const std::string& what, int err) {
  throw IOError("cannot write '" + path + "': " + what + ": " + errno_text(err));
}

// Writes all of [data, data + n) to fd; returns 0 or the errno of the failed write.
int write_all(int fd, const char* data, size_t n) {
  while (n > 0) {
    const ssize_t w = ::write(fd, data, n);
    if (w < 0) {
      if (errno == EINTR) continue;
      return errno;
    }
    if (w == 0) return EIO;
    data += w;
    n -= static_cast<size_t>(w);
  }
  return 0;
}

// "<name>.tmp.<digits>" -> the pid, else -1.
long temp_file_pid(const std::string& name) {
  const size_t at = name.rfind(".tmp.");
  if (at == std::string::npos || at + 5 >= name.size()) return -1;
  const std::string digits = name.substr(at + 5);
  for (char ch : digits)
    if (ch < '0' || ch > '9') return -1;
  return digits.size() > 9 ? -1 : std::atol(digits.c_str());
}

}  // namespace

bool WriteFaults::next_fails() {
  ++count_;
  return fail_at_ > 0 && count_ == fail_at_;
}

int64_t write_faults_from_env() {
  const char* v = std::getenv("TG_TRAIN_FAIL_WRITE");
  if (v == nullptr) return 0;
  char* end = nullptr;
  const long long n = std::strtoll(v, &end, 10);
  return (end != v && *end == '\0' && n > 0) ? n : 0;
}

void write_file_atomic(const std::string& path, const std::string& content, WriteFaults* faults) {
  const std::string tmp = path + ".tmp." + std::to_string(::getpid());
  const int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd < 0) fail(path, "cannot create temporary file '" + tmp + "'", errno);
  const bool injected = faults != nullptr && faults->next_fails();
  // An injected failure writes half the content first, as a disk filling up mid-write would.
  int err = write_all(fd, content.data(), injected ? content.size() / 2 : content.size());
  if (err == 0 && injected) err = ENOSPC;
  if (err == 0 && ::fsync(fd) != 0) err = errno;
  if (::close(fd) != 0 && err == 0) err = errno;
  if (err != 0) {
    ::unlink(tmp.c_str());
    fail(path, std::string(injected ? "injected write failure (TG_TRAIN_FAIL_WRITE)" : "write failed") +
                   "; the previous file, if any, is unchanged", err);
  }
  if (::rename(tmp.c_str(), path.c_str()) != 0) {
    err = errno;
    ::unlink(tmp.c_str());
    fail(path, "cannot rename '" + tmp + "' into place", err);
  }
  const std::string dir = fs::path(path).parent_path().empty() ? "." : fs::path(path).parent_path().string();
  const int dfd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (dfd >= 0) {
    ::fsync(dfd);  // best effort: some file systems refuse a directory fsync
    ::close(dfd);
  }
}

AppendFile::AppendFile(std::string path, WriteFaults* faults) : path_(std::move(path)), faults_(faults) {
  fd_ = ::open(path_.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
  if (fd_ < 0) throw IOError("cannot open '" + path_ + "' for appending: " + errno_text(errno));
  const off_t end = ::lseek(fd_, 0, SEEK_END);
  size_at_open_ = end > 0 ? static_cast<int64_t>(end) : 0;
}

AppendFile::~AppendFile() {
  if (fd_ >= 0) ::close(fd_);
}

void AppendFile::append(const std::string& text) { buffer_ += text; }

void AppendFile::flush() {
  if (buffer_.empty()) return;
  const bool injected = faults_ != nullptr && faults_->next_fails();
  int err = write_all(fd_, buffer_.data(), injected ? buffer_.size() / 2 : buffer_.size());
  if (err == 0 && injected) err = ENOSPC;
  buffer_.clear();
  if (err != 0) fail(path_, injected ? "injected write failure (TG_TRAIN_FAIL_WRITE)" : "append failed", err);
}

int remove_stale_temp_files(const std::string& dir) {
  std::error_code ec;
  if (!fs::is_directory(dir, ec)) return 0;
  int removed = 0;
  for (const auto& e : fs::directory_iterator(dir, ec)) {
    const long pid = temp_file_pid(e.path().filename().string());
    if (pid <= 0 || !e.is_regular_file(ec)) continue;
    const bool alive = pid == static_cast<long>(::getpid()) || ::kill(static_cast<pid_t>(pid), 0) == 0 || errno == EPERM;
    if (!alive && fs::remove(e.path(), ec)) ++removed;
  }
  return removed;
}

void require_writable_dir(const std::string& dir, const std::string& what) {
  std::error_code ec;
  fs::create_directories(dir, ec);
  if (ec) throw IOError(what + ": cannot create directory '" + dir + "': " + ec.message());
  if (!fs::is_directory(dir, ec)) throw IOError(what + ": '" + dir + "' is not a directory");
  const std::string probe = (fs::path(dir) / (".write-probe.tmp." + std::to_string(::getpid()))).string();
  const int fd = ::open(probe.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd < 0) throw IOError(what + ": cannot create files in '" + dir + "': " + errno_text(errno));
  ::close(fd);
  ::unlink(probe.c_str());
}

}  // namespace tg::train
