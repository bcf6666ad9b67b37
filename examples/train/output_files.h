// Checked, crash-safe file output of the train program. Every write is checked and fails with a
// tg::IOError naming the file and the system's reason (the documented policy: a run that cannot
// write its logs stops; it never goes on with silently truncated files). Whole files (summary,
// config, report) are written atomically: <path>.tmp.<pid>, fsync, rename. Appended logs are
// buffered and written with checked write(2) calls at flush points (checkpoints, epoch ends).
// Also: removing stale temporaries of dead processes, and probing that a directory is writable.
#pragma once
#include <cstdint>
#include <string>

namespace tg::train {

// Test hook: the Nth checked write (1-based, counted over every flush, atomic file and checkpoint
// of one Trainer) fails as a full disk would (ENOSPC). 0 = never. The train program reads N from
// the environment variable TG_TRAIN_FAIL_WRITE.
class WriteFaults {
 public:
  explicit WriteFaults(int64_t fail_at = 0) : fail_at_(fail_at) {}
  // Counts one write of `path`; true when this one is to fail.
  bool next_fails();
  int64_t writes() const { return count_; }

 private:
  int64_t fail_at_;
  int64_t count_ = 0;
};

// N from TG_TRAIN_FAIL_WRITE (0 when unset or not a positive integer).
int64_t write_faults_from_env();

// Writes `content` to `path` atomically. On any failure (or an injected one, after writing part of
// the temporary) the temporary is removed, `path` is left as it was, and IOError names `path`.
void write_file_atomic(const std::string& path, const std::string& content, WriteFaults* faults = nullptr);

// An append-only file: append() buffers, flush() writes the buffer with checked write(2) calls.
class AppendFile {
 public:
  AppendFile(std::string path, WriteFaults* faults);  // opens (creating) for appending; throws IOError
  ~AppendFile();
  AppendFile(const AppendFile&) = delete;
  AppendFile& operator=(const AppendFile&) = delete;
  void append(const std::string& text);
  void flush();  // throws IOError naming the file; what was written before the failure stays
  bool empty_on_disk() const { return size_at_open_ == 0; }
  const std::string& path() const { return path_; }

 private:
  std::string path_;
  WriteFaults* faults_;
  int fd_ = -1;
  int64_t size_at_open_ = 0;
  std::string buffer_;
};

// Removes "<name>.tmp.<pid>" files in `dir` whose process is gone (left by a kill during an atomic
// write). Returns how many were removed. A missing directory holds none.
int remove_stale_temp_files(const std::string& dir);

// Creates `dir` if needed and checks a file can be created in it; throws IOError naming `what`
// (e.g. "--checkpoint-dir") and the directory otherwise.
void require_writable_dir(const std::string& dir, const std::string& what);

}  // namespace tg::train
