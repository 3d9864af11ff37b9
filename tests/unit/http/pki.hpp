// A throwaway PKI generated in memory at test start with OpenSSL's X509 API: a CA, a server certificate
// for 127.0.0.1/::1/localhost, a client certificate, and an unrelated CA that signed nothing we trust.
#pragma once
#include <string>

namespace vc::test {

struct Pki {
  std::string ca_pem;
  std::string server_cert_pem, server_key_pem;
  std::string client_cert_pem, client_key_pem;              // CN "test-user", clientAuth
  std::string other_ca_pem;                                 // a CA that did not sign the server certificate
  std::string other_client_cert_pem, other_client_key_pem;  // signed by the other CA

  // Generated once per process (EC P-256 keys keep it fast, also under sanitizers).
  static const Pki& get();
};

}  // namespace vc::test
