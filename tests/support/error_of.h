// The message of the tg::Error a callable throws, for tests that check what an error says.
#pragma once
#include <string>

#include "engine/error.h"

namespace tg::test {

// Runs fn; returns the message of the tg::Error it throws, "" when it throws none.
template <class F>
std::string error_of(F&& fn) {
  try {
    fn();
  } catch (const Error& e) {
    return e.what();
  }
  return "";
}

inline bool contains(const std::string& text, const std::string& part) { return text.find(part) != std::string::npos; }

}  // namespace tg::test
