// Test helper: the message of the exception a call throws ("" when it throws none).
#pragma once

#include <exception>
#include <functional>
#include <string>

inline std::string message_of(const std::function<void()>& fn) {
  try {
    fn();
  } catch (const std::exception& e) {
    return e.what();
  }
  return "";
}
