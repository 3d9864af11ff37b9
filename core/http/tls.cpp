#include "http/tls.hpp"

#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/x509v3.h>

#include <climits>

namespace vc::http::detail {

namespace {

// The reason of the most recent OpenSSL error, emptying the thread's error queue.
std::string drain_openssl_errors() {
  std::string reason;
  unsigned long code = 0;
  while ((code = ERR_get_error()) != 0) {
    const char* r = ERR_reason_error_string(code);
    if (r) {
      reason = r;
    } else {
      char buf[256];
      ERR_error_string_n(code, buf, sizeof buf);
      reason = buf;
    }
  }
  return reason;
}

Error tls_config_error(std::string what) {
  std::string reason = drain_openssl_errors();
  if (!reason.empty()) what += " (" + reason + ")";
  return Error(ErrorKind::kInvalidArgument, what);
}

struct BioDeleter {
  void operator()(BIO* b) const { BIO_free(b); }
};
using BioPtr = std::unique_ptr<BIO, BioDeleter>;

BioPtr mem_bio(const std::string& pem) {
  return BioPtr(BIO_new_mem_buf(pem.data(), static_cast<int>(pem.size())));
}

}  // namespace

std::unique_ptr<TlsContext> TlsContext::create(const TlsOptions& opts, Error* err) {
  ERR_clear_error();
  SSL_CTX* raw = SSL_CTX_new(TLS_client_method());
  if (!raw) {
    *err = tls_config_error("cannot create an OpenSSL client context; check the OpenSSL installation");
    return nullptr;
  }
  std::unique_ptr<TlsContext> ctx(new TlsContext(raw));
  // Kubernetes API servers speak TLS 1.2 and 1.3; anything older is refused as insecure.
  SSL_CTX_set_min_proto_version(raw, TLS1_2_VERSION);
  // Each connection would otherwise keep a read and a write record buffer (about 34 KB together) while idle;
  // the syncer holds dozens of keep-alive connections, most of them idle most of the time.
  SSL_CTX_set_mode(raw, SSL_MODE_RELEASE_BUFFERS);
  // Announce HTTP/1.1 so that a server offering h2 does not pick it: this client speaks only HTTP/1.1.
  static const unsigned char kAlpn[] = {8, 'h', 't', 't', 'p', '/', '1', '.', '1'};
  SSL_CTX_set_alpn_protos(raw, kAlpn, sizeof kAlpn);

  if (opts.insecure_skip_verify) {
    SSL_CTX_set_verify(raw, SSL_VERIFY_NONE, nullptr);
  } else {
    SSL_CTX_set_verify(raw, SSL_VERIFY_PEER, nullptr);
    if (opts.ca_pem.empty()) {
      if (SSL_CTX_set_default_verify_paths(raw) != 1) {
        *err = tls_config_error("cannot load OpenSSL's default CA paths; give the CA bundle explicitly");
        return nullptr;
      }
    } else {
      BioPtr bio = mem_bio(opts.ca_pem);
      STACK_OF(X509_INFO)* infos = PEM_X509_INFO_read_bio(bio.get(), nullptr, nullptr, nullptr);
      X509_STORE* store = SSL_CTX_get_cert_store(raw);
      int added = 0;
      if (infos) {
        for (int i = 0; i < sk_X509_INFO_num(infos); ++i) {
          X509_INFO* info = sk_X509_INFO_value(infos, i);
          if (info->x509 && X509_STORE_add_cert(store, info->x509) == 1) ++added;
        }
        sk_X509_INFO_pop_free(infos, X509_INFO_free);
      }
      if (added == 0) {
        *err = tls_config_error(
            "the CA bundle holds no readable PEM certificate; check certificate-authority(-data) in the "
            "kubeconfig");
        return nullptr;
      }
      ERR_clear_error();
    }
  }

  if (opts.cert_pem.empty() != opts.key_pem.empty()) {
    *err = Error(ErrorKind::kInvalidArgument,
                 "a client certificate needs both the certificate and its key; give both "
                 "client-certificate-data and client-key-data, or neither");
    return nullptr;
  }
  if (!opts.cert_pem.empty()) {
    BioPtr bio = mem_bio(opts.cert_pem);
    X509* leaf = PEM_read_bio_X509(bio.get(), nullptr, nullptr, nullptr);
    if (!leaf || SSL_CTX_use_certificate(raw, leaf) != 1) {
      X509_free(leaf);
      *err = tls_config_error(
          "the client certificate is not a readable PEM certificate; check client-certificate-data");
      return nullptr;
    }
    X509_free(leaf);
    // Further certificates in the same PEM are intermediates the server needs to build the chain.
    while (X509* extra = PEM_read_bio_X509(bio.get(), nullptr, nullptr, nullptr)) {
      if (SSL_CTX_add0_chain_cert(raw, extra) != 1) X509_free(extra);
    }
    ERR_clear_error();  // The loop above ends on an expected "no start line" error.
    BioPtr kbio = mem_bio(opts.key_pem);
    EVP_PKEY* key = PEM_read_bio_PrivateKey(kbio.get(), nullptr, nullptr, nullptr);
    if (!key) {
      *err = tls_config_error("the client key is not a readable unencrypted PEM key; check client-key-data");
      return nullptr;
    }
    // SSL_CTX_use_PrivateKey already refuses a key that does not match the certificate.
    int used = SSL_CTX_use_PrivateKey(raw, key);
    EVP_PKEY_free(key);
    if (used != 1 || SSL_CTX_check_private_key(raw) != 1) {
      *err = tls_config_error(
          "the client key does not match the client certificate; check that client-key-data belongs to "
          "client-certificate-data");
      return nullptr;
    }
  }
  return ctx;
}

TlsContext::~TlsContext() {
  SSL_CTX_free(ctx_);
}

std::unique_ptr<TlsSession> TlsSession::create(SSL_CTX* ctx, std::string_view host, const TlsOptions& opts,
                                               Error* err) {
  ERR_clear_error();
  SSL* ssl = SSL_new(ctx);
  BIO* rbio = BIO_new(BIO_s_mem());
  BIO* wbio = BIO_new(BIO_s_mem());
  if (!ssl || !rbio || !wbio) {
    SSL_free(ssl);
    BIO_free(rbio);
    BIO_free(wbio);
    *err = tls_config_error("cannot create a TLS session (out of memory?)");
    return nullptr;
  }
  // An empty memory BIO must mean "retry later", not end of stream: more ciphertext arrives from libuv.
  BIO_set_mem_eof_return(rbio, -1);
  BIO_set_mem_eof_return(wbio, -1);
  SSL_set_bio(ssl, rbio, wbio);
  SSL_set_connect_state(ssl);
  std::unique_ptr<TlsSession> s(new TlsSession(ssl, rbio, wbio));

  std::string name(opts.server_name.empty() ? host : std::string_view(opts.server_name));
  bool ip = is_ip_literal(name);
  // RFC 6066 section 3: a literal IPv4 or IPv6 address is not permitted in the server_name extension.
  if (!ip && SSL_set_tlsext_host_name(ssl, name.c_str()) != 1) {
    *err = tls_config_error("the server name \"" + name + "\" cannot be used for SNI; check tls-server-name");
    return nullptr;
  }
  if (!opts.insecure_skip_verify) {
    int ok = ip ? X509_VERIFY_PARAM_set1_ip_asc(SSL_get0_param(ssl), name.c_str())
                : SSL_set1_host(ssl, name.c_str());
    if (ok != 1) {
      *err = tls_config_error("the server name \"" + name +
                              "\" cannot be used for certificate verification; check tls-server-name");
      return nullptr;
    }
  }
  return s;
}

std::unique_ptr<TlsSession> TlsSession::create_server(SSL_CTX* ctx, Error* err) {
  ERR_clear_error();
  SSL* ssl = SSL_new(ctx);
  BIO* rbio = BIO_new(BIO_s_mem());
  BIO* wbio = BIO_new(BIO_s_mem());
  if (!ssl || !rbio || !wbio) {
    SSL_free(ssl);
    BIO_free(rbio);
    BIO_free(wbio);
    *err = tls_config_error("cannot create a TLS session (out of memory?)");
    return nullptr;
  }
  BIO_set_mem_eof_return(rbio, -1);
  BIO_set_mem_eof_return(wbio, -1);
  SSL_set_bio(ssl, rbio, wbio);
  SSL_set_accept_state(ssl);
  return std::unique_ptr<TlsSession>(new TlsSession(ssl, rbio, wbio));
}

void TlsSession::close_notify() {
  ERR_clear_error();
  // Only after a finished handshake: a shutdown in the middle of one would be an error to report.
  if (SSL_is_init_finished(ssl_)) SSL_shutdown(ssl_);
  ERR_clear_error();
}

TlsSession::~TlsSession() {
  SSL_free(ssl_);
}

void TlsSession::feed(const char* data, size_t len) {
  // A memory BIO grows as needed, so a write only fails on allocation failure; then the handshake or the
  // next read fails with a clear error instead.
  while (len > 0) {
    int n = BIO_write(rbio_, data, static_cast<int>(std::min<size_t>(len, INT_MAX)));
    if (n <= 0) return;
    data += n;
    len -= static_cast<size_t>(n);
  }
}

TlsSession::Status TlsSession::handshake() {
  ERR_clear_error();
  int r = SSL_do_handshake(ssl_);
  if (r == 1) return Status::kOk;
  int e = SSL_get_error(ssl_, r);
  if (e == SSL_ERROR_WANT_READ || e == SSL_ERROR_WANT_WRITE) return Status::kWantRead;
  capture_error(e);
  return Status::kError;
}

TlsSession::Status TlsSession::read(char* out, size_t cap, size_t* n) {
  ERR_clear_error();
  *n = 0;
  int r = SSL_read(ssl_, out, static_cast<int>(std::min<size_t>(cap, INT_MAX)));
  if (r > 0) {
    *n = static_cast<size_t>(r);
    return Status::kOk;
  }
  int e = SSL_get_error(ssl_, r);
  if (e == SSL_ERROR_WANT_READ || e == SSL_ERROR_WANT_WRITE) return Status::kWantRead;
  if (e == SSL_ERROR_ZERO_RETURN) return Status::kClosed;
  capture_error(e);
  return Status::kError;
}

TlsSession::Status TlsSession::write(std::string_view data) {
  // SSL_write takes an int length, so very large bodies go in slices.
  constexpr size_t kSlice = 1 << 20;
  while (!data.empty()) {
    ERR_clear_error();
    size_t len = std::min(data.size(), kSlice);
    int r = SSL_write(ssl_, data.data(), static_cast<int>(len));
    if (r <= 0) {
      capture_error(SSL_get_error(ssl_, r));
      return Status::kError;
    }
    data.remove_prefix(static_cast<size_t>(r));
  }
  return Status::kOk;
}

std::string TlsSession::take_output() {
  size_t pending = BIO_ctrl_pending(wbio_);
  std::string out(pending, '\0');
  size_t got = 0;
  while (got < pending) {
    int n = BIO_read(wbio_, out.data() + got, static_cast<int>(std::min<size_t>(pending - got, INT_MAX)));
    if (n <= 0) break;
    got += static_cast<size_t>(n);
  }
  out.resize(got);
  return out;
}

void TlsSession::capture_error(int ssl_error) {
  long verify = SSL_get_verify_result(ssl_);
  std::string reason = drain_openssl_errors();
  if (verify != X509_V_OK) {
    error_ = std::string("certificate verify failed: ") + X509_verify_cert_error_string(verify);
    if (verify == X509_V_ERR_HOSTNAME_MISMATCH || verify == X509_V_ERR_IP_ADDRESS_MISMATCH) {
      error_ +=
          "; check that the server address (or tls-server-name) is one of the names in the server's "
          "certificate";
    } else {
      error_ +=
          "; check that the CA bundle (certificate-authority-data) is the one that signed the server's "
          "certificate";
    }
    return;
  }
  if (reason.empty()) {
    error_ = ssl_error == SSL_ERROR_SYSCALL ? "the peer broke the TLS protocol" : "unknown TLS failure";
  } else {
    error_ = reason;
  }
  if (reason.find("certificate required") != std::string::npos ||
      reason.find("handshake failure") != std::string::npos ||
      reason.find("bad certificate") != std::string::npos) {
    error_ += "; the server may require a client certificate it trusts: check client-certificate-data";
  }
}

}  // namespace vc::http::detail
