// Errors. User errors (bad input, misuse of an API) throw CompileError with a message that names
// the offending thing; internal errors (a broken invariant: a Tessel bug) throw InternalError with
// file:line. Use the streaming macros:  user_check(cond) << "what is wrong";
#pragma once

#include <sstream>
#include <stdexcept>
#include <string>

namespace tessel {

class CompileError : public std::runtime_error {
 public:
  explicit CompileError(const std::string& message) : std::runtime_error(message) {}
};

class InternalError : public std::logic_error {
 public:
  explicit InternalError(const std::string& message) : std::logic_error(message) {}
};

namespace detail {

// Collects a streamed message; the check macros throw it through ErrorRaiser.
template <typename ErrorType>
class ErrorBuilder {
 public:
  ErrorBuilder(const char* file, int line, const char* condition, bool internal) {
    if (internal) stream_ << "internal error (this is a bug in Tessel) at " << file << ":" << line
                          << ": check failed: " << condition << ": ";
  }
  template <typename T>
  ErrorBuilder& operator<<(const T& value) {
    stream_ << value;
    return *this;
  }
  [[noreturn]] void raise() const { throw ErrorType(stream_.str()); }

 private:
  std::ostringstream stream_;
};

// `ErrorRaiser() & builder << ...` binds looser than <<, so the whole message is streamed first;
// the ternary in the macros makes each check a single expression (safe inside if/else).
struct ErrorRaiser {
  template <typename ErrorType>
  [[noreturn]] void operator&(const ErrorBuilder<ErrorType>& builder) const { builder.raise(); }
};

}  // namespace detail
}  // namespace tessel

#define user_check(cond)                                  \
  (cond) ? (void)0                                        \
         : ::tessel::detail::ErrorRaiser() &              \
        ::tessel::detail::ErrorBuilder<::tessel::CompileError>(__FILE__, __LINE__, #cond, false)

#define internal_check(cond)                              \
  (cond) ? (void)0                                        \
         : ::tessel::detail::ErrorRaiser() &              \
        ::tessel::detail::ErrorBuilder<::tessel::InternalError>(__FILE__, __LINE__, #cond, true)

#define user_error() user_check(false)
#define internal_error() internal_check(false)
