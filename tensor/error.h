// Errors: every failure a user can cause is thrown as sm::Error with the message
// "[op] what went wrong, with the shapes / paths involved".
#pragma once

#include <sstream>
#include <stdexcept>
#include <string>

namespace sm {

class Error : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

// fail("matmul", "shapes ", a, " and ", b, " cannot be multiplied") throws
// "[matmul] shapes (4, 8) and (6, 3) cannot be multiplied".
template <typename... Parts> [[noreturn]] void fail(const std::string& op, const Parts&... parts) {
  std::ostringstream message;
  message << "[" << op << "] ";
  (message << ... << parts);
  throw Error(message.str());
}

template <typename... Parts> void check(bool condition, const std::string& op, const Parts&... parts) {
  if (!condition) fail(op, parts...);
}

}  // namespace sm
