// The kubelet endpoint on one loop: callers are vc::http clients with and without client certificates, and
// TestServer (TLS) plays the host API server, answering the pod lookup and the log stream. Every test ends
// with uv_loop_close() == 0, so a leaked handle fails it.
#include <doctest/doctest.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <csignal>

#include "http/client.hpp"
#include "kube/client.hpp"
#include "kubelet/server.hpp"
#include "pki.hpp"
#include "test_server.hpp"

using namespace std::chrono_literals;
using vc::Error;
using vc::http::Client;
using vc::http::Endpoint;
using vc::http::Request;
using vc::http::Response;
using vc::test::Pki;
using vc::test::Reply;
using vc::test::run_until;
using vc::test::ServerRequest;
using vc::test::TestServer;

namespace {

// A host pod as the pods plugin writes it for virtual pod demo/web-1 of vcluster vc.
std::string host_pod(const std::string& managed_by = "vc", const std::string& object_name = "web-1") {
  return R"({"apiVersion":"v1","kind":"Pod","metadata":{"name":"web-1-x-demo-x-vc","namespace":"vcluster-vc",)"
         R"("labels":{"vcluster.loft.sh/managed-by":")" +
         managed_by + R"("},"annotations":{"vcluster.loft.sh/object-name":")" + object_name +
         R"(","vcluster.loft.sh/object-namespace":"demo"}}})";
}

struct Bed {
  uv_loop_t loop{};
  std::unique_ptr<TestServer> host;
  std::unique_ptr<vc::kube::Client> host_client;
  std::unique_ptr<vc::kubelet::Server> kubelet;

  explicit Bed(std::vector<std::string> allowed = {"test-user"}, bool host_up = true) {
    uv_loop_init(&loop);
    const Pki& pki = Pki::get();
    vc::kube::RestConfig hc;
    uint16_t port = 0;
    if (host_up) {
      TestServer::Options o;
      o.tls = true;
      host = std::make_unique<TestServer>(&loop, o);
      port = host->port();
    } else {
      port = vc::test::unused_port(&loop);
    }
    hc.server = "https://127.0.0.1:" + std::to_string(port);
    hc.ca_pem = pki.ca_pem;
    hc.token = "host-token";
    vc::kube::ClientOptions co;
    REQUIRE(vc::kube::Client::create(&loop, hc, co, &host_client).ok());
    vc::kubelet::Options ko;
    ko.address = "127.0.0.1:0";
    ko.cert_pem = pki.server_cert_pem;
    ko.key_pem = pki.server_key_pem;
    ko.client_ca_pem = pki.ca_pem;
    ko.allowed_cns = std::move(allowed);
    ko.vcluster_name = "vc";
    ko.host_namespace = "vcluster-vc";
    ko.host = hc;
    REQUIRE(vc::kubelet::Server::create(&loop, ko, host_client.get(), &kubelet).ok());
    REQUIRE(kubelet->listen().ok());
  }

  Endpoint endpoint(bool with_cert, bool other_ca = false) const {
    const Pki& pki = Pki::get();
    Endpoint ep;
    ep.tls = true;
    ep.host = "127.0.0.1";
    ep.port = static_cast<uint16_t>(kubelet->port());
    ep.tls_opts.ca_pem = pki.ca_pem;
    if (with_cert) {
      ep.tls_opts.cert_pem = other_ca ? pki.other_client_cert_pem : pki.client_cert_pem;
      ep.tls_opts.key_pem = other_ca ? pki.other_client_key_pem : pki.client_key_pem;
    }
    return ep;
  }

  // One GET through a fresh client; returns the response (status 0 on a transport error).
  Response get(const std::string& target, bool with_cert = true, bool other_ca = false) {
    Client c(&loop, endpoint(with_cert, other_ca));
    Request r;
    r.target = target;
    Response out;
    bool done = false;
    c.send(r, [&](Error e, Response resp) {
      if (!e) out = std::move(resp);
      done = true;
    });
    CHECK(run_until(&loop, [&] { return done; }));
    bool closed = false;
    c.close([&] { closed = true; });
    CHECK(run_until(&loop, [&] { return closed; }));
    return out;
  }

  void finish() {
    bool k = false, hc = false, h = !host;
    kubelet->close([&] { k = true; });
    host_client->close([&] { hc = true; });
    if (host) host->close([&] { h = true; });
    CHECK(run_until(&loop, [&] { return k && hc && h; }));
    uv_run(&loop, UV_RUN_DEFAULT);
    CHECK(uv_loop_close(&loop) == 0);
  }
};

bool contains(const std::string& s, const std::string& part) {
  return s.find(part) != std::string::npos;
}

}  // namespace

TEST_CASE("only a client certificate of the virtual cluster's CA with an allowed name is answered") {
  SUBCASE("trusted") {
    Bed b;
    Response r = b.get("/healthz");
    CHECK(r.status == 200);
    CHECK(r.body == "ok\n");
    b.finish();
  }
  SUBCASE("no certificate: 401") {
    Bed b;
    Response r = b.get("/containerLogs/demo/web-1/nginx", false);
    CHECK(r.status == 401);
    CHECK(contains(r.body, "kubelet client certificate"));
    CHECK(b.host->requests.empty());
    b.finish();
  }
  SUBCASE("a certificate of another CA: 401") {
    Bed b;
    Response r = b.get("/healthz", true, true);
    CHECK(r.status == 401);
    CHECK(contains(r.body, "not trusted"));
    b.finish();
  }
  SUBCASE("a trusted certificate with another common name: 403") {
    Bed b({"kube-apiserver-kubelet-client"});
    Response r = b.get("/exec/demo/web-1/nginx?command=ls");
    CHECK(r.status == 403);
    CHECK(contains(r.body, "\"test-user\""));
    CHECK(b.host->requests.empty());
    CHECK(b.kubelet->stats().forbidden == 1);
    b.finish();
  }
}

TEST_CASE("paths outside the relayed ones are forbidden, malformed names a bad request") {
  Bed b;
  CHECK(b.get("/configz").status == 403);
  CHECK(b.get("/pods").status == 403);
  Response bad = b.get("/containerLogs/demo/..%2Fx/nginx");
  CHECK(bad.status == 400);
  CHECK(b.host->requests.empty());
  b.finish();
}

TEST_CASE("logs: the host pod is checked, then its log is streamed back chunk by chunk") {
  Bed b;
  b.host->set_handler([](TestServer::Conn& c, const ServerRequest& req) {
    if (req.target == "/api/v1/namespaces/vcluster-vc/pods/web-1-x-demo-x-vc") {
      Reply r;
      r.body = host_pod();
      r.headers.push_back({"Content-Type", "application/json"});
      c.reply(r);
      return;
    }
    c.start_chunked(200, {{"Content-Type", "text/plain"}});
    c.send_chunk("line 1\n");
    c.send_chunk("line 2\n");
    c.end_chunked();
  });
  Response r = b.get("/containerLogs/demo/web-1/nginx?tailLines=2&follow=true");
  CHECK(r.status == 200);
  CHECK(r.body == "line 1\nline 2\n");
  REQUIRE(b.host->requests.size() == 2);
  const ServerRequest& log = b.host->requests[1];
  CHECK(log.target ==
        "/api/v1/namespaces/vcluster-vc/pods/web-1-x-demo-x-vc/log?container=nginx&tailLines=2&follow=true");
  REQUIRE(log.header("authorization"));
  CHECK(*log.header("authorization") == "Bearer host-token");
  CHECK(b.kubelet->stats().logs == 1);
  b.finish();
}

TEST_CASE("the host's own error for a log (an unknown container) is passed back as it is") {
  Bed b;
  b.host->set_handler([](TestServer::Conn& c, const ServerRequest& req) {
    Reply r;
    if (req.target.find("/log") == std::string::npos) {
      r.body = host_pod();
    } else {
      r.status = 400;
      r.body = R"({"kind":"Status","message":"container nope is not valid for pod web-1-x-demo-x-vc"})";
    }
    c.reply(r);
  });
  Response r = b.get("/containerLogs/demo/web-1/nope");
  CHECK(r.status == 400);
  CHECK(contains(r.body, "container nope is not valid"));
  b.finish();
}

TEST_CASE("a pod this vcluster did not sync is not found, and nothing of it is read") {
  SUBCASE("no host pod") {
    Bed b;
    b.host->set_handler([](TestServer::Conn& c, const ServerRequest&) {
      Reply r;
      r.status = 404;
      r.body = R"({"kind":"Status","reason":"NotFound","code":404})";
      c.reply(r);
    });
    Response r = b.get("/containerLogs/demo/web-1/nginx");
    CHECK(r.status == 404);
    CHECK(contains(r.body, "not a pod of vcluster vc"));
    CHECK(b.host->requests.size() == 1);
    b.finish();
  }
  SUBCASE("a host pod of another vcluster under the same name") {
    Bed b;
    b.host->set_handler([](TestServer::Conn& c, const ServerRequest&) {
      Reply r;
      r.body = host_pod("other");
      c.reply(r);
    });
    Response r = b.get("/exec/demo/web-1/nginx?command=ls");
    CHECK(r.status == 404);
    CHECK(contains(r.body, "not managed by it"));
    CHECK(b.host->requests.size() == 1);
    b.finish();
  }
}

TEST_CASE("a host API server that is down: 502 naming it") {
  Bed b({"test-user"}, false);
  Response r = b.get("/containerLogs/demo/web-1/nginx");
  CHECK(r.status == 502);
  CHECK(contains(r.body, "the host API server https://127.0.0.1:"));
  CHECK(b.kubelet->stats().upstream_failures == 1);
  b.finish();
}

TEST_CASE("close ends an open log stream") {
  Bed b;
  bool streaming = false;
  b.host->set_handler([&](TestServer::Conn& c, const ServerRequest& req) {
    if (req.target.find("/log") == std::string::npos) {
      Reply r;
      r.body = host_pod();
      c.reply(r);
      return;
    }
    c.start_chunked(200);
    c.send_chunk("first\n");
    streaming = true;
  });
  Client c(&b.loop, b.endpoint(true));
  Request req;
  req.target = "/containerLogs/demo/web-1/nginx?follow=true";
  req.timeout = 0ms;
  std::string got;
  bool done = false;
  c.stream(req, {nullptr, [&](std::string_view d) { got.append(d); }, [&](Error) { done = true; }});
  CHECK(run_until(&b.loop, [&] { return got == "first\n"; }));
  CHECK(b.kubelet->stats().open == 1);
  bool k = false;
  b.kubelet->close([&] { k = true; });
  CHECK(run_until(&b.loop, [&] { return k && done; }));
  bool closed = false;
  c.close([&] { closed = true; });
  CHECK(run_until(&b.loop, [&] { return closed; }));
  bool hc = false, h = false;
  b.host_client->close([&] { hc = true; });
  b.host->close([&] { h = true; });
  CHECK(run_until(&b.loop, [&] { return hc && h; }));
  uv_run(&b.loop, UV_RUN_DEFAULT);
  CHECK(uv_loop_close(&b.loop) == 0);
  CHECK(streaming);
}

TEST_CASE("a peer that has gone does not end the process: SIGPIPE is ignored once the endpoint exists") {
  // The syncer died without a log line during `kubectl cp` of 10 MB into a pod: the host closed the upgraded
  // connection when the remote tar exited, the relay's next write(2) raised SIGPIPE, whose default action
  // ends the process. The same write, to a socket whose peer is closed, must now fail with EPIPE instead.
  std::signal(SIGPIPE, SIG_DFL);
  Bed b;
  struct sigaction now {};
  REQUIRE(sigaction(SIGPIPE, nullptr, &now) == 0);
  CHECK((now.sa_handler == SIG_IGN));
  int fds[2];
  REQUIRE(socketpair(AF_UNIX, SOCK_STREAM, 0, fds) == 0);
  close(fds[1]);
  errno = 0;
  CHECK(write(fds[0], "x", 1) == -1);
  CHECK(errno == EPIPE);
  close(fds[0]);
  b.finish();
}
