#include "cli/pki.hpp"

#include <openssl/bio.h>
#include <openssl/bn.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/rand.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include <memory>

namespace vc::cli {

namespace {

template <typename T, void (*F)(T*)>
struct Deleter {
  void operator()(T* p) const { F(p); }
};
using PKey = std::unique_ptr<EVP_PKEY, Deleter<EVP_PKEY, EVP_PKEY_free>>;
using Cert = std::unique_ptr<X509, Deleter<X509, X509_free>>;
using Bio = std::unique_ptr<BIO, Deleter<BIO, BIO_free_all>>;

Error ssl_error(const std::string& what) {
  return Error(ErrorKind::kInternal,
               "cannot " + what + " (OpenSSL error " + std::to_string(ERR_get_error()) + ")");
}

PKey ec_key() {
  return PKey(EVP_EC_gen("P-256"));
}

std::string bio_string(BIO* b) {
  char* data = nullptr;
  long n = BIO_get_mem_data(b, &data);
  return n > 0 ? std::string(data, static_cast<size_t>(n)) : std::string();
}

std::string key_pem(EVP_PKEY* k) {
  Bio b(BIO_new(BIO_s_mem()));
  PEM_write_bio_PrivateKey(b.get(), k, nullptr, nullptr, 0, nullptr, nullptr);
  return bio_string(b.get());
}

std::string pub_pem(EVP_PKEY* k) {
  Bio b(BIO_new(BIO_s_mem()));
  PEM_write_bio_PUBKEY(b.get(), k);
  return bio_string(b.get());
}

std::string cert_pem(X509* c) {
  Bio b(BIO_new(BIO_s_mem()));
  PEM_write_bio_X509(b.get(), c);
  return bio_string(b.get());
}

bool add_ext(X509* cert, X509* issuer, int nid, const std::string& value) {
  X509V3_CTX ctx;
  X509V3_set_ctx_nodb(&ctx);
  X509V3_set_ctx(&ctx, issuer, cert, nullptr, nullptr, 0);
  X509_EXTENSION* ext = X509V3_EXT_conf_nid(nullptr, &ctx, nid, value.c_str());
  if (ext == nullptr) return false;
  bool ok = X509_add_ext(cert, ext, -1) == 1;
  X509_EXTENSION_free(ext);
  return ok;
}

struct Spec {
  std::string cn, org;
  bool ca = false;
  std::string eku;  // serverAuth, clientAuth
  std::string san;  // "DNS:a,IP:1.2.3.4"
};

// Makes a certificate for `key` signed by issuer/issuer_key (self-signed when issuer is null), valid for
// ten years from one hour ago (tolerating clock skew between this machine and the cluster).
Error make_cert(const Spec& s, EVP_PKEY* key, X509* issuer, EVP_PKEY* issuer_key, Cert* out) {
  Cert c(X509_new());
  if (!c) return ssl_error("allocate a certificate");
  X509_set_version(c.get(), 2);
  unsigned char serial[16];
  if (RAND_bytes(serial, sizeof serial) != 1) return ssl_error("draw a serial number");
  serial[0] &= 0x7f;  // positive
  BIGNUM* bn = BN_bin2bn(serial, sizeof serial, nullptr);
  BN_to_ASN1_INTEGER(bn, X509_get_serialNumber(c.get()));
  BN_free(bn);
  X509_gmtime_adj(X509_getm_notBefore(c.get()), -3600);
  X509_gmtime_adj(X509_getm_notAfter(c.get()), 10L * 365 * 24 * 3600);
  X509_set_pubkey(c.get(), key);
  X509_NAME* name = X509_get_subject_name(c.get());
  if (!s.org.empty())
    X509_NAME_add_entry_by_txt(name, "O", MBSTRING_UTF8,
                               reinterpret_cast<const unsigned char*>(s.org.c_str()), -1, -1, 0);
  X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_UTF8, reinterpret_cast<const unsigned char*>(s.cn.c_str()),
                             -1, -1, 0);
  X509_set_issuer_name(c.get(), issuer != nullptr ? X509_get_subject_name(issuer) : name);
  X509* iss = issuer != nullptr ? issuer : c.get();
  bool ok = true;
  if (s.ca) {
    ok = add_ext(c.get(), iss, NID_basic_constraints, "critical,CA:TRUE") &&
         add_ext(c.get(), iss, NID_key_usage, "critical,keyCertSign,cRLSign,digitalSignature") &&
         add_ext(c.get(), iss, NID_subject_key_identifier, "hash");
  } else {
    ok = add_ext(c.get(), iss, NID_basic_constraints, "critical,CA:FALSE") &&
         add_ext(c.get(), iss, NID_key_usage, "critical,digitalSignature,keyEncipherment") &&
         add_ext(c.get(), iss, NID_ext_key_usage, s.eku) &&
         add_ext(c.get(), iss, NID_authority_key_identifier, "keyid:always");
    if (ok && !s.san.empty()) ok = add_ext(c.get(), iss, NID_subject_alt_name, s.san);
  }
  if (!ok) return ssl_error("add the extensions of the certificate " + s.cn);
  if (X509_sign(c.get(), issuer_key != nullptr ? issuer_key : key, EVP_sha256()) <= 0)
    return ssl_error("sign the certificate " + s.cn);
  *out = std::move(c);
  return {};
}

// A new key and a certificate for it signed by the CA, as PEM.
Error leaf(const Spec& s, X509* ca, EVP_PKEY* ca_key, KeyPair* out) {
  PKey k = ec_key();
  if (!k) return ssl_error("generate a P-256 key");
  Cert c;
  if (Error e = make_cert(s, k.get(), ca, ca_key, &c)) return e;
  out->cert_pem = cert_pem(c.get());
  out->key_pem = key_pem(k.get());
  return {};
}

}  // namespace

Error make_serving_cert(const KeyPair& ca, const std::string& cn, const std::vector<std::string>& ips,
                        KeyPair* out) {
  Bio cb(BIO_new_mem_buf(ca.cert_pem.data(), static_cast<int>(ca.cert_pem.size())));
  Cert ca_cert(PEM_read_bio_X509(cb.get(), nullptr, nullptr, nullptr));
  Bio kb(BIO_new_mem_buf(ca.key_pem.data(), static_cast<int>(ca.key_pem.size())));
  PKey ca_key(PEM_read_bio_PrivateKey(kb.get(), nullptr, nullptr, nullptr));
  if (!ca_cert || !ca_key)
    return Error(ErrorKind::kInvalidArgument, "the CA certificate or key is not readable PEM");
  std::string san;
  for (auto& ip : ips) san += (san.empty() ? "IP:" : ",IP:") + ip;
  return leaf({cn, "", false, "serverAuth", san}, ca_cert.get(), ca_key.get(), out);
}

Error make_pki(const PkiOptions& o, Pki* out) {
  Pki p;
  PKey ca_key = ec_key(), fp_key = ec_key();
  if (!ca_key || !fp_key) return ssl_error("generate a P-256 key");
  Cert ca, fp;
  if (Error e = make_cert({o.cluster_name + "-ca", "", true, "", ""}, ca_key.get(), nullptr, nullptr, &ca))
    return e;
  if (Error e = make_cert({o.cluster_name + "-front-proxy-ca", "", true, "", ""}, fp_key.get(), nullptr,
                          nullptr, &fp))
    return e;
  p.ca = {cert_pem(ca.get()), key_pem(ca_key.get())};
  p.front_proxy_ca = {cert_pem(fp.get()), key_pem(fp_key.get())};

  std::string san;
  for (auto& d : o.dns_names) san += (san.empty() ? "" : ",") + std::string("DNS:") + d;
  for (auto& ip : o.ips) san += (san.empty() ? "" : ",") + std::string("IP:") + ip;
  if (Error e = leaf({"kube-apiserver", "", false, "serverAuth", san}, ca.get(), ca_key.get(), &p.apiserver))
    return e;
  // system:masters is bound to cluster-admin by the bootstrap RBAC policy.
  if (Error e = leaf({"admin", "system:masters", false, "clientAuth", ""}, ca.get(), ca_key.get(), &p.admin))
    return e;
  if (Error e = leaf({"system:kube-controller-manager", "", false, "clientAuth", ""}, ca.get(), ca_key.get(),
                     &p.controller_manager))
    return e;
  // The bootstrap RBAC policy binds this user name to the role system:kube-scheduler.
  if (Error e =
          leaf({"system:kube-scheduler", "", false, "clientAuth", ""}, ca.get(), ca_key.get(), &p.scheduler))
    return e;
  if (Error e = leaf({"front-proxy-client", "", false, "clientAuth", ""}, fp.get(), fp_key.get(),
                     &p.front_proxy_client))
    return e;

  // ES256 tokens: the virtual API server signs one per synced pod (TokenRequest), and P-256 signs about
  // 40 times faster than RSA 2048 in Go (docs/benchmarks.md).
  PKey sa = ec_key();
  if (!sa) return ssl_error("generate the ECDSA P-256 service-account key");
  p.sa_key_pem = key_pem(sa.get());
  p.sa_pub_pem = pub_pem(sa.get());
  *out = std::move(p);
  return {};
}

bool unbase64(const std::string& in, std::string* out) {
  static const std::string t = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  uint32_t acc = 0;
  int bits = 0;
  out->clear();
  for (char c : in) {
    if (c == '=' || c == '\n' || c == '\r' || c == ' ') continue;
    size_t v = t.find(c);
    if (v == std::string::npos) return false;
    acc = (acc << 6) | static_cast<uint32_t>(v);
    bits += 6;
    if (bits >= 8) {
      bits -= 8;
      out->push_back(static_cast<char>((acc >> bits) & 0xff));
    }
  }
  return true;
}

std::string base64(const std::string& in) {
  static const char* t = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  std::string out;
  size_t i = 0;
  for (; i + 2 < in.size(); i += 3) {
    uint32_t v = (uint32_t(uint8_t(in[i])) << 16) | (uint32_t(uint8_t(in[i + 1])) << 8) | uint8_t(in[i + 2]);
    out += t[v >> 18];
    out += t[(v >> 12) & 63];
    out += t[(v >> 6) & 63];
    out += t[v & 63];
  }
  if (i + 1 == in.size()) {
    uint32_t v = uint32_t(uint8_t(in[i])) << 16;
    out += t[v >> 18];
    out += t[(v >> 12) & 63];
    out += "==";
  } else if (i + 2 == in.size()) {
    uint32_t v = (uint32_t(uint8_t(in[i])) << 16) | (uint32_t(uint8_t(in[i + 1])) << 8);
    out += t[v >> 18];
    out += t[(v >> 12) & 63];
    out += t[(v >> 6) & 63];
    out += '=';
  }
  return out;
}

}  // namespace vc::cli
