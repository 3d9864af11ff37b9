#include <doctest/doctest.h>

#include "http/client.hpp"

using vc::Error;
using vc::ErrorKind;
using vc::http::parse_url;

TEST_CASE("parse_url splits scheme, host, port and path prefix") {
  std::string prefix;
  Error err;
  auto ep = parse_url("https://127.0.0.1:6443/k8s/clusters/c-1/", &prefix, &err);
  REQUIRE(ep);
  CHECK(ep->tls);
  CHECK(ep->host == "127.0.0.1");
  CHECK(ep->port == 6443);
  CHECK(prefix == "/k8s/clusters/c-1");

  ep = parse_url("http://api.example", &prefix, &err);
  REQUIRE(ep);
  CHECK_FALSE(ep->tls);
  CHECK(ep->port == 80);
  CHECK(prefix.empty());

  ep = parse_url("HTTPS://[::1]:8443", &prefix, &err);
  REQUIRE(ep);
  CHECK(ep->host == "::1");
  CHECK(ep->port == 8443);

  ep = parse_url("https://localhost", nullptr, &err);
  REQUIRE(ep);
  CHECK(ep->port == 443);
}

TEST_CASE("parse_url rejects malformed server URLs with a sentence naming the URL") {
  const char* bad[] = {"127.0.0.1:6443",       "ftp://host",        "https://host:0",    "https://host:70000",
                       "https://host:12ab",    "https://:6443",     "https://[::1:6443", "https://::1:6443",
                       "https://u:p@host:443", "https://host/?x=1", "https://host:"};
  for (const char* url : bad) {
    Error err;
    std::string prefix;
    CAPTURE(url);
    CHECK_FALSE(parse_url(url, &prefix, &err));
    CHECK(err.kind == ErrorKind::kInvalidArgument);
    CHECK(err.message.find(url) != std::string::npos);
  }
}

TEST_CASE("is_ip_literal tells addresses from names") {
  CHECK(vc::http::is_ip_literal("127.0.0.1"));
  CHECK(vc::http::is_ip_literal("::1"));
  CHECK(vc::http::is_ip_literal("fd00::10"));
  CHECK_FALSE(vc::http::is_ip_literal("localhost"));
  CHECK_FALSE(vc::http::is_ip_literal("10.0.0"));
}

TEST_CASE("Response::header is case-insensitive") {
  vc::http::Response r;
  r.headers.push_back({"Content-Type", "application/json"});
  REQUIRE(r.header("content-type"));
  CHECK(*r.header("CONTENT-TYPE") == "application/json");
  CHECK(r.header("content-length") == nullptr);
}
