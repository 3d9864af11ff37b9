// TLS for the HTTP client: one SSL_CTX per Client built from PEM strings in memory, and one session per
// connection that encrypts into and decrypts from memory BIOs. The session never touches a socket; the
// connection moves ciphertext between the BIOs and libuv, so TLS never blocks the loop.
#pragma once
#include <openssl/ssl.h>

#include <memory>
#include <string>
#include <string_view>

#include "http/client.hpp"
#include "util/error.hpp"

namespace vc::http::detail {

class TlsContext {
 public:
  // Builds the context: TLS 1.2 minimum, the CA bundle (or OpenSSL's default paths), the optional client
  // certificate and key. On failure returns nullptr and sets err to a sentence naming the bad input.
  static std::unique_ptr<TlsContext> create(const TlsOptions& opts, Error* err);
  ~TlsContext();
  TlsContext(const TlsContext&) = delete;
  TlsContext& operator=(const TlsContext&) = delete;
  SSL_CTX* get() const { return ctx_; }

 private:
  explicit TlsContext(SSL_CTX* ctx) : ctx_(ctx) {}
  SSL_CTX* ctx_;
};

class TlsSession {
 public:
  enum class Status { kOk, kWantRead, kClosed, kError };

  // Creates a client session for host (or opts.server_name): SNI for DNS names, and name or IP
  // verification unless opts.insecure_skip_verify.
  static std::unique_ptr<TlsSession> create(SSL_CTX* ctx, std::string_view host, const TlsOptions& opts,
                                            Error* err);
  // Creates a server session (SSL_accept side) on a context the caller configured for serving, e.g. the
  // syncer's kubelet endpoint (core/kubelet): the same memory-BIO design, the handshake run by handshake().
  static std::unique_ptr<TlsSession> create_server(SSL_CTX* ctx, Error* err);
  ~TlsSession();
  TlsSession(const TlsSession&) = delete;
  TlsSession& operator=(const TlsSession&) = delete;

  // Hands ciphertext received from the network to OpenSSL.
  void feed(const char* data, size_t len);
  // Advances the handshake: kOk when done, kWantRead when it needs more bytes, kError (see error()).
  Status handshake();
  // Decrypts up to cap bytes into out; *n is the count for kOk. kClosed means the peer sent close_notify.
  Status read(char* out, size_t cap, size_t* n);
  // Encrypts all of data; the ciphertext is then available from take_output().
  Status write(std::string_view data);
  // Ciphertext that must be written to the network, possibly empty.
  std::string take_output();
  // Queues a close_notify alert (RFC 8446 section 6.1), to be sent with take_output() before the socket is
  // shut down, so the peer can tell a clean end from a truncation.
  void close_notify();
  // The OpenSSL session, for reading the peer's certificate after the handshake.
  SSL* ssl() const { return ssl_; }
  // After kError: OpenSSL's reason with a hint, e.g. "certificate verify failed: unable to get local
  // issuer certificate; check that ...".
  const std::string& error() const { return error_; }

 private:
  TlsSession(SSL* ssl, BIO* rbio, BIO* wbio) : ssl_(ssl), rbio_(rbio), wbio_(wbio) {}
  void capture_error(int ssl_error);

  SSL* ssl_;
  BIO* rbio_;  // network -> OpenSSL; owned by ssl_
  BIO* wbio_;  // OpenSSL -> network; owned by ssl_
  std::string error_;
};

}  // namespace vc::http::detail
