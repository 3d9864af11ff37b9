// Errors are values. An Error carries a category, an HTTP-ish code where one applies, and one sentence
// that names the thing and the fix (the developers' guide: "one clear message naming the thing and the fix").
#pragma once
#include <string>
#include <utility>

namespace vc {

enum class ErrorKind {
  kNone = 0,
  kInvalidArgument,  // bad input from a user: flags, values file, kubeconfig
  kIo,               // socket, file or TLS failure
  kTimeout,
  kHttp,   // the server answered with a non-2xx status; code holds it
  kParse,  // a body or document that does not parse
  kCancelled,
  kInternal,
};

struct Error {
  ErrorKind kind = ErrorKind::kNone;
  int code = 0;         // HTTP status for kHttp, errno/uv code for kIo, 0 otherwise
  std::string message;  // a full sentence

  Error() = default;
  Error(ErrorKind k, std::string msg, int c = 0) : kind(k), code(c), message(std::move(msg)) {}
  explicit operator bool() const { return kind != ErrorKind::kNone; }
  bool ok() const { return kind == ErrorKind::kNone; }
};

}  // namespace vc
