#include "pki.hpp"

#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509v3.h>

#include <stdexcept>

namespace vc::test {

namespace {

struct Key {
  EVP_PKEY* k = EVP_EC_gen("P-256");
  ~Key() { EVP_PKEY_free(k); }
};

struct Cert {
  X509* x = X509_new();
  ~Cert() { X509_free(x); }
};

void add_ext(X509* x, X509V3_CTX* ctx, int nid, const char* value) {
  X509_EXTENSION* ext = X509V3_EXT_conf_nid(nullptr, ctx, nid, value);
  if (!ext) throw std::runtime_error("cannot build a test certificate extension");
  X509_add_ext(x, ext, -1);
  X509_EXTENSION_free(ext);
}

// Fills cert as a certificate for key, signed by issuer (self-signed when issuer is null).
void make_cert(Cert& cert, Key& key, const char* cn, X509* issuer, EVP_PKEY* issuer_key, bool ca,
               const char* eku, const char* san) {
  static long serial = 1;
  X509* x = cert.x;
  X509_set_version(x, 2);
  ASN1_INTEGER_set(X509_get_serialNumber(x), serial++);
  X509_gmtime_adj(X509_getm_notBefore(x), -3600);
  X509_gmtime_adj(X509_getm_notAfter(x), 24 * 3600);
  X509_set_pubkey(x, key.k);
  X509_NAME* name = X509_get_subject_name(x);
  X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC, reinterpret_cast<const unsigned char*>(cn), -1, -1, 0);
  X509_set_issuer_name(x, issuer ? X509_get_subject_name(issuer) : name);
  X509V3_CTX ctx;
  X509V3_set_ctx_nodb(&ctx);
  X509V3_set_ctx(&ctx, issuer ? issuer : x, x, nullptr, nullptr, 0);
  add_ext(x, &ctx, NID_basic_constraints, ca ? "critical,CA:TRUE" : "critical,CA:FALSE");
  add_ext(x, &ctx, NID_key_usage, ca ? "critical,keyCertSign,cRLSign" : "critical,digitalSignature");
  add_ext(x, &ctx, NID_subject_key_identifier, "hash");
  if (issuer) add_ext(x, &ctx, NID_authority_key_identifier, "keyid:always");
  if (eku) add_ext(x, &ctx, NID_ext_key_usage, eku);
  if (san) add_ext(x, &ctx, NID_subject_alt_name, san);
  if (X509_sign(x, issuer_key ? issuer_key : key.k, EVP_sha256()) <= 0) {
    throw std::runtime_error("cannot sign a test certificate");
  }
}

std::string cert_pem(X509* x) {
  BIO* b = BIO_new(BIO_s_mem());
  PEM_write_bio_X509(b, x);
  char* data = nullptr;
  long n = BIO_get_mem_data(b, &data);
  std::string out(data, static_cast<size_t>(n));
  BIO_free(b);
  return out;
}

std::string key_pem(EVP_PKEY* k) {
  BIO* b = BIO_new(BIO_s_mem());
  PEM_write_bio_PrivateKey(b, k, nullptr, nullptr, 0, nullptr, nullptr);
  char* data = nullptr;
  long n = BIO_get_mem_data(b, &data);
  std::string out(data, static_cast<size_t>(n));
  BIO_free(b);
  return out;
}

Pki generate() {
  Pki p;
  Key ca_key, server_key, client_key, other_key, other_client_key;
  Cert ca, server, client, other, other_client;
  make_cert(ca, ca_key, "vc-test-ca", nullptr, nullptr, true, nullptr, nullptr);
  make_cert(server, server_key, "vc-test-server", ca.x, ca_key.k, false, "serverAuth",
            "IP:127.0.0.1,IP:::1,DNS:localhost");
  make_cert(client, client_key, "test-user", ca.x, ca_key.k, false, "clientAuth", nullptr);
  make_cert(other, other_key, "vc-other-ca", nullptr, nullptr, true, nullptr, nullptr);
  make_cert(other_client, other_client_key, "intruder", other.x, other_key.k, false, "clientAuth", nullptr);
  p.ca_pem = cert_pem(ca.x);
  p.server_cert_pem = cert_pem(server.x);
  p.server_key_pem = key_pem(server_key.k);
  p.client_cert_pem = cert_pem(client.x);
  p.client_key_pem = key_pem(client_key.k);
  p.other_ca_pem = cert_pem(other.x);
  p.other_client_cert_pem = cert_pem(other_client.x);
  p.other_client_key_pem = key_pem(other_client_key.k);
  return p;
}

}  // namespace

const Pki& Pki::get() {
  static const Pki pki = generate();
  return pki;
}

}  // namespace vc::test
