// Typed errors of the native core. Each class maps to one Python class in
// seawall.errors (translated once, in bindings/errors.cpp), so a caller error in C++
// reaches Python as e.g. InvalidInputError, which is also a ValueError.
#pragma once

#include <sstream>
#include <stdexcept>
#include <string>

namespace seawall {

// Base of every error the core throws on purpose.
class Error : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

// The caller passed a value the operation cannot accept (NaN where none is allowed, a bad size...).
class InvalidInput : public Error {
 public:
  using Error::Error;
};

// A column (or request field) the operation needs is not there.
class MissingColumn : public InvalidInput {
 public:
  using InvalidInput::InvalidInput;
};

// The caller passed data of the wrong type (a string where a number was fit...).
class TypeMismatch : public Error {
 public:
  using Error::Error;
};

// Serialized state that fails validation (truncated, wrong magic, bad hash).
class CorruptState : public Error {
 public:
  using Error::Error;
};

// device="cuda" asked of a build without CUDA, or of a machine without a device.
class CudaUnavailable : public Error {
 public:
  using Error::Error;
};

// The batcher's queue is at max_queue_size: the request was refused at once, never queued.
class QueueFull : public Error {
 public:
  using Error::Error;
};

// A request waited in the batcher's queue past its timeout and was removed without running.
class RequestTimeout : public Error {
 public:
  using Error::Error;
};

// The batcher was closed: new requests are refused, and pending ones too when not drained.
class BatcherClosed : public Error {
 public:
  using Error::Error;
};

namespace detail {
template <typename... Parts>
std::string concat(const Parts&... parts) {
  std::ostringstream out;
  (out << ... << parts);
  return out.str();
}
}  // namespace detail

}  // namespace seawall

// Caller errors: always checked, in every build type. The message parts are streamed.
#define SEAWALL_CHECK(cond, ...)                                      \
  do {                                                                \
    if (!(cond)) throw ::seawall::InvalidInput(::seawall::detail::concat(__VA_ARGS__)); \
  } while (0)

#define SEAWALL_CHECK_TYPE(cond, ...)                                 \
  do {                                                                \
    if (!(cond)) throw ::seawall::TypeMismatch(::seawall::detail::concat(__VA_ARGS__)); \
  } while (0)
