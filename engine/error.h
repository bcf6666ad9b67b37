// tg::Error and TG_CHECK: the one way the library reports bad input.
// The library never exits or aborts; it throws with a message that names the offending thing.
#pragma once
#include <sstream>
#include <stdexcept>
#include <string>

namespace tg {

// Every error the library throws derives from this, so callers can catch one type.
class Error : public std::runtime_error {
 public:
  explicit Error(const std::string& what) : std::runtime_error(what) {}
};

// Thrown for problems with files on disk (missing, truncated, corrupt).
class IOError : public Error {
 public:
  explicit IOError(const std::string& what) : Error(what) {}
};

}  // namespace tg

// TG_CHECK(cond, "message " << value << ...): throws tg::Error with the streamed message when cond is false.
#define TG_CHECK(cond, msg)                \
  do {                                     \
    if (!(cond)) {                         \
      std::ostringstream tg_check_stream_; \
      tg_check_stream_ << msg;             \
      throw ::tg::Error(tg_check_stream_.str()); \
    }                                      \
  } while (0)
