// The HTTP client against TestServer on one loop. Every test ends by closing client and server and
// asserting uv_loop_close() == 0, so a leaked handle or a callback that never ran fails the test.
#include <doctest/doctest.h>

#include <map>

#include "http/client.hpp"
#include "pki.hpp"
#include "test_server.hpp"

using namespace std::chrono_literals;
using vc::Error;
using vc::ErrorKind;
using vc::http::Client;
using vc::http::ClientOptions;
using vc::http::Endpoint;
using vc::http::Request;
using vc::http::Response;
using vc::http::StreamHandlers;
using vc::test::Pki;
using vc::test::Reply;
using vc::test::run_until;
using vc::test::ServerRequest;
using vc::test::TestServer;

namespace {

struct Loop {
  uv_loop_t loop{};
  Loop() { uv_loop_init(&loop); }
  uv_loop_t* get() { return &loop; }

  // Closes the client and the server, waits for both, and checks that no handle is left on the loop.
  void finish(Client& client, TestServer* server) {
    bool client_done = false, server_done = !server;
    client.close([&] { client_done = true; });
    if (server) server->close([&] { server_done = true; });
    CHECK(run_until(&loop, [&] { return client_done && server_done; }));
    uv_run(&loop, UV_RUN_DEFAULT);
    CHECK(uv_loop_close(&loop) == 0);
  }
};

struct Result {
  int calls = 0;
  Error err;
  Response resp;
};

vc::http::Callback capture(Result& r) {
  return [&r](Error e, Response resp) {
    ++r.calls;
    r.err = std::move(e);
    r.resp = std::move(resp);
  };
}

Request get(std::string target) {
  Request r;
  r.target = std::move(target);
  return r;
}

Endpoint plain(uint16_t port) {
  Endpoint ep;
  ep.host = "127.0.0.1";
  ep.port = port;
  return ep;
}

Endpoint secure(std::string host, uint16_t port, std::string ca_pem) {
  Endpoint ep;
  ep.tls = true;
  ep.host = std::move(host);
  ep.port = port;
  ep.tls_opts.ca_pem = std::move(ca_pem);
  return ep;
}

bool contains(const std::string& s, const std::string& part) {
  return s.find(part) != std::string::npos;
}

std::string big_body(size_t n) {
  std::string s(n, '\0');
  for (size_t i = 0; i < n; ++i) s[i] = static_cast<char>('a' + (i * 7 + i / 4096) % 26);
  return s;
}

}  // namespace

TEST_CASE("a plain GET returns status, headers and body, and its callback is never synchronous") {
  Loop l;
  TestServer server(l.get());
  server.set_handler([](TestServer::Conn& c, const ServerRequest&) {
    Reply r;
    r.body = "hello";
    r.headers.push_back({"X-Test", "yes"});
    c.reply(r);
  });
  Client client(l.get(), plain(server.port()));
  Result r;
  client.send(get("/hello?x=1"), capture(r));
  CHECK(r.calls == 0);  // delivered from the loop, not inside send()
  CHECK(run_until(l.get(), [&] { return r.calls == 1; }));
  CHECK(r.err.ok());
  CHECK(r.resp.status == 200);
  CHECK(r.resp.body == "hello");
  REQUIRE(r.resp.header("x-test"));
  CHECK(*r.resp.header("x-test") == "yes");
  REQUIRE(server.requests.size() == 1);
  CHECK(server.requests[0].method == "GET");
  CHECK(server.requests[0].target == "/hello?x=1");
  REQUIRE(server.requests[0].header("host"));
  CHECK(*server.requests[0].header("host") == "127.0.0.1:" + std::to_string(server.port()));
  CHECK(client.stats().requests == 1);
  l.finish(client, &server);
  CHECK(r.calls == 1);
}

TEST_CASE("keep-alive: ten sequential requests reuse one connection") {
  Loop l;
  TestServer server(l.get());
  Client client(l.get(), plain(server.port()));
  int done = 0;
  std::function<void()> next = [&] {
    client.send(get("/seq/" + std::to_string(done)), [&](Error e, Response resp) {
      CHECK(e.ok());
      CHECK(resp.body == "ok");
      if (++done < 10) next();
    });
  };
  next();
  CHECK(run_until(l.get(), [&] { return done == 10; }));
  CHECK(server.accepted == 1);
  CHECK(client.stats().connections_opened == 1);
  REQUIRE(server.requests.size() == 10);
  for (const auto& req : server.requests) CHECK(req.conn_id == server.requests[0].conn_id);
  l.finish(client, &server);
}

TEST_CASE("Connection: close from the server is honoured: the next request opens a new connection") {
  Loop l;
  TestServer server(l.get());
  server.set_handler([](TestServer::Conn& c, const ServerRequest&) {
    Reply r;
    r.body = "bye";
    r.close = true;
    c.reply(r);
  });
  Client client(l.get(), plain(server.port()));
  Result a, b;
  client.send(get("/a"), capture(a));
  CHECK(run_until(l.get(), [&] { return a.calls == 1; }));
  CHECK(client.stats().open_connections == 0);
  client.send(get("/b"), capture(b));
  CHECK(run_until(l.get(), [&] { return b.calls == 1; }));
  CHECK(a.err.ok());
  CHECK(b.err.ok());
  CHECK(b.resp.body == "bye");
  CHECK(server.accepted == 2);
  CHECK(client.stats().connections_opened == 2);
  CHECK(client.stats().retries == 0);
  l.finish(client, &server);
}

TEST_CASE("chunked, HEAD, 204 and read-until-close responses are framed correctly") {
  Loop l;
  TestServer server(l.get());
  const std::string chunked = big_body(200 * 1024 + 17);
  server.set_handler([&](TestServer::Conn& c, const ServerRequest& req) {
    if (req.target == "/chunked") {
      Reply r;
      r.body = chunked;
      r.chunked = true;
      c.reply(r);
    } else if (req.target == "/head") {
      // A HEAD answer announces the length of the body it does not send (RFC 9110 section 9.3.2).
      c.send_raw("HTTP/1.1 200 OK\r\nContent-Length: 1000\r\n\r\n");
    } else if (req.target == "/nocontent") {
      c.send_raw("HTTP/1.1 204 No Content\r\n\r\n");
    } else if (req.target == "/eof") {
      c.send_raw("HTTP/1.1 200 OK\r\n\r\nuntil the end");
      c.end();
    } else {
      Reply r;
      r.body = "ok";
      c.reply(r);
    }
  });
  Client client(l.get(), plain(server.port()));
  Result r1, r2, r3, r4, r5;
  client.send(get("/chunked"), capture(r1));
  CHECK(run_until(l.get(), [&] { return r1.calls == 1; }));
  CHECK(r1.err.ok());
  CHECK(r1.resp.body == chunked);
  Request head = get("/head");
  head.method = "HEAD";
  client.send(head, capture(r2));
  CHECK(run_until(l.get(), [&] { return r2.calls == 1; }));
  CHECK(r2.err.ok());
  CHECK(r2.resp.status == 200);
  CHECK(r2.resp.body.empty());
  client.send(get("/nocontent"), capture(r3));
  CHECK(run_until(l.get(), [&] { return r3.calls == 1; }));
  CHECK(r3.err.ok());
  CHECK(r3.resp.status == 204);
  // The bodiless answers left the connection usable: everything so far went over one connection.
  CHECK(server.accepted == 1);
  client.send(get("/eof"), capture(r4));
  CHECK(run_until(l.get(), [&] { return r4.calls == 1; }));
  CHECK(r4.err.ok());
  CHECK(r4.resp.body == "until the end");
  client.send(get("/after"), capture(r5));
  CHECK(run_until(l.get(), [&] { return r5.calls == 1; }));
  CHECK(r5.err.ok());
  CHECK(server.accepted == 2);
  l.finish(client, &server);
}

TEST_CASE("pool bound: 20 concurrent requests with max_connections 4 use at most 4 connections") {
  Loop l;
  TestServer server(l.get());
  std::vector<int> waiting;  // connections holding an unanswered request
  server.set_handler([&](TestServer::Conn& c, const ServerRequest&) { waiting.push_back(c.id()); });
  ClientOptions opts;
  opts.max_connections = 4;
  Client client(l.get(), plain(server.port()), opts);
  std::vector<Result> results(20);
  for (int i = 0; i < 20; ++i) client.send(get("/p/" + std::to_string(i)), capture(results[i]));
  CHECK(run_until(l.get(), [&] { return waiting.size() == 4; }));
  CHECK(client.stats().queued == 16);
  CHECK(client.stats().open_connections == 4);
  int answered = 0;
  while (answered < 20) {
    if (!run_until(l.get(), [&] { return !waiting.empty(); })) break;
    CHECK(server.open <= 4);
    std::vector<int> batch;
    batch.swap(waiting);
    for (int id : batch) {
      Reply r;
      r.body = std::to_string(answered++);
      server.conn(id)->reply(r);
    }
  }
  CHECK(run_until(l.get(), [&] {
    for (auto& r : results)
      if (r.calls != 1) return false;
    return true;
  }));
  for (auto& r : results) CHECK(r.err.ok());
  CHECK(server.accepted == 4);
  CHECK(server.max_open <= 4);
  CHECK(client.stats().connections_opened == 4);
  l.finish(client, &server);
}

TEST_CASE("queued requests are dispatched FIFO as the connection frees up") {
  Loop l;
  TestServer server(l.get());
  ClientOptions opts;
  opts.max_connections = 1;
  Client client(l.get(), plain(server.port()), opts);
  std::vector<int> order;
  for (int i = 0; i < 6; ++i) {
    client.send(get("/f/" + std::to_string(i)), [&order, i](Error e, Response) {
      CHECK(e.ok());
      order.push_back(i);
    });
  }
  CHECK(run_until(l.get(), [&] { return order.size() == 6; }));
  CHECK(order == std::vector<int>{0, 1, 2, 3, 4, 5});
  REQUIRE(server.requests.size() == 6);
  for (int i = 0; i < 6; ++i) CHECK(server.requests[i].target == "/f/" + std::to_string(i));
  CHECK(server.accepted == 1);
  l.finish(client, &server);
}

TEST_CASE("a stream delivers chunks as they arrive, does not use the pool, and ends on cancel") {
  Loop l;
  TestServer server(l.get());
  int watch_conn = 0;
  server.set_handler([&](TestServer::Conn& c, const ServerRequest& req) {
    if (req.target.rfind("/watch", 0) == 0) {
      watch_conn = c.id();
      c.start_chunked(200, {{"Content-Type", "application/json"}});
      c.send_chunk("{\"type\":\"ADDED\"}\n");
    } else {
      Reply r;
      r.body = "ok";
      c.reply(r);
    }
  });
  ClientOptions opts;
  opts.max_connections = 1;
  Client client(l.get(), plain(server.port()), opts);
  int head_status = 0, done_calls = 0;
  std::string data;
  Error done_err;
  StreamHandlers h;
  h.on_head = [&](const Response& head) { head_status = head.status; };
  h.on_data = [&](std::string_view chunk) { data.append(chunk); };
  h.on_done = [&](Error e) {
    ++done_calls;
    done_err = std::move(e);
  };
  Request req = get("/watch?watch=true");
  req.timeout = 0ms;
  uint64_t id = client.stream(req, h);
  CHECK(run_until(l.get(), [&] { return data == "{\"type\":\"ADDED\"}\n"; }));
  CHECK(head_status == 200);
  CHECK(done_calls == 0);  // the first event arrived while the stream is still open

  // The stream does not occupy the single pooled slot.
  Result r;
  client.send(get("/other"), capture(r));
  CHECK(run_until(l.get(), [&] { return r.calls == 1; }));
  CHECK(r.err.ok());

  server.conn(watch_conn)->send_chunk("{\"type\":\"MODIFIED\"}\n");
  CHECK(run_until(l.get(), [&] { return data.size() > 17; }));
  CHECK(data == "{\"type\":\"ADDED\"}\n{\"type\":\"MODIFIED\"}\n");

  client.cancel(id);
  CHECK(done_calls == 0);
  CHECK(run_until(l.get(), [&] { return done_calls == 1 && server.conn(watch_conn) == nullptr; }));
  CHECK(done_err.kind == ErrorKind::kCancelled);
  client.cancel(id);  // a finished id is ignored
  l.finish(client, &server);
  CHECK(done_calls == 1);
}

TEST_CASE("a stream that the server ends cleanly reports success once; a cancel from on_data is safe") {
  Loop l;
  TestServer server(l.get());
  server.set_handler([&](TestServer::Conn& c, const ServerRequest& req) {
    c.start_chunked(200);
    c.send_chunk("one");
    c.send_chunk("two");
    if (req.target == "/ends") c.end_chunked();
  });
  Client client(l.get(), plain(server.port()));
  int done_a = 0, done_b = 0;
  Error err_a, err_b;
  std::string data_a, data_b;
  StreamHandlers a;
  a.on_data = [&](std::string_view d) { data_a.append(d); };
  a.on_done = [&](Error e) {
    ++done_a;
    err_a = std::move(e);
  };
  client.stream(get("/ends"), a);
  uint64_t id_b = 0;
  StreamHandlers b;
  b.on_data = [&](std::string_view d) {
    data_b.append(d);
    client.cancel(id_b);  // re-entrant cancel from inside the parser
  };
  b.on_done = [&](Error e) {
    ++done_b;
    err_b = std::move(e);
  };
  id_b = client.stream(get("/cancel-inside"), b);
  CHECK(run_until(l.get(), [&] { return done_a == 1 && done_b == 1; }));
  CHECK(err_a.ok());
  CHECK(data_a == "onetwo");
  CHECK(err_b.kind == ErrorKind::kCancelled);
  CHECK(data_b == "one");  // nothing is delivered after the cancel
  l.finish(client, &server);
  CHECK(done_a == 1);
  CHECK(done_b == 1);
}

TEST_CASE("a silent stream times out after its silence limit") {
  Loop l;
  TestServer server(l.get());
  server.set_handler([&](TestServer::Conn& c, const ServerRequest&) {
    c.start_chunked(200);
    c.send_chunk("x");
  });
  Client client(l.get(), plain(server.port()));
  int done = 0;
  Error err;
  std::string data;
  StreamHandlers h;
  h.on_data = [&](std::string_view d) { data.append(d); };
  h.on_done = [&](Error e) {
    ++done;
    err = std::move(e);
  };
  Request req = get("/watch");
  req.timeout = 150ms;
  client.stream(req, h);
  CHECK(run_until(l.get(), [&] { return done == 1; }));
  CHECK(data == "x");
  CHECK(err.kind == ErrorKind::kTimeout);
  CHECK(contains(err.message, "received nothing for 150 ms"));
  l.finish(client, &server);
}

TEST_CASE("TLS with the right CA: verified over an IP address and over a DNS name with SNI") {
  Loop l;
  TestServer server(l.get(), {.tls = true});
  std::vector<std::string> sni;
  server.set_handler([&](TestServer::Conn& c, const ServerRequest&) {
    sni.push_back(c.sni);
    Reply r;
    r.body = "secure";
    c.reply(r);
  });
  Client by_ip(l.get(), secure("127.0.0.1", server.port(), Pki::get().ca_pem));
  Result r1, r2;
  by_ip.send(get("/"), capture(r1));
  CHECK(run_until(l.get(), [&] { return r1.calls == 1; }));
  CHECK(r1.err.ok());
  CHECK(r1.resp.body == "secure");
  by_ip.send(get("/"), capture(r2));
  CHECK(run_until(l.get(), [&] { return r2.calls == 1; }));
  CHECK(r2.err.ok());
  CHECK(by_ip.stats().tls_handshakes == 1);  // the second request reused the TLS connection
  CHECK(by_ip.stats().connections_opened == 1);

  // "localhost" goes through the resolver (maybe ::1 first, refused, then 127.0.0.1) and sends SNI.
  Client by_name(l.get(), secure("localhost", server.port(), Pki::get().ca_pem));
  Result r3;
  by_name.send(get("/"), capture(r3));
  CHECK(run_until(l.get(), [&] { return r3.calls == 1; }));
  CHECK(r3.err.ok());
  REQUIRE(sni.size() == 3);
  CHECK(sni[0].empty());  // no SNI for an IP literal (RFC 6066 section 3)
  CHECK(sni[2] == "localhost");

  bool closed = false;
  by_name.close([&] { closed = true; });
  CHECK(run_until(l.get(), [&] { return closed; }));
  l.finish(by_ip, &server);
}

TEST_CASE("TLS verification failures are clear errors naming the server and the reason") {
  Loop l;
  TestServer server(l.get(), {.tls = true});
  std::string where = "127.0.0.1:" + std::to_string(server.port());

  SUBCASE("a CA that did not sign the server certificate") {
    Client client(l.get(), secure("127.0.0.1", server.port(), Pki::get().other_ca_pem));
    Result r;
    client.send(get("/"), capture(r));
    CHECK(run_until(l.get(), [&] { return r.calls == 1; }));
    CHECK(r.err.kind == ErrorKind::kIo);
    CHECK(contains(r.err.message, where));
    CHECK(contains(r.err.message, "certificate verify failed: unable to get local issuer certificate"));
    CHECK(contains(r.err.message, "check that the CA bundle"));
    CHECK(server.requests.empty());
    l.finish(client, &server);
  }
  SUBCASE("a server name the certificate does not carry") {
    Endpoint ep = secure("127.0.0.1", server.port(), Pki::get().ca_pem);
    ep.tls_opts.server_name = "wrong.example";
    Client client(l.get(), ep);
    Result r;
    client.send(get("/"), capture(r));
    CHECK(run_until(l.get(), [&] { return r.calls == 1; }));
    CHECK(r.err.kind == ErrorKind::kIo);
    CHECK(contains(r.err.message, "hostname mismatch"));
    l.finish(client, &server);
  }
  SUBCASE("insecure_skip_verify accepts the unverifiable server") {
    Endpoint ep = secure("127.0.0.1", server.port(), Pki::get().other_ca_pem);
    ep.tls_opts.insecure_skip_verify = true;
    Client client(l.get(), ep);
    Result r;
    client.send(get("/"), capture(r));
    CHECK(run_until(l.get(), [&] { return r.calls == 1; }));
    CHECK(r.err.ok());
    CHECK(r.resp.body == "ok");
    l.finish(client, &server);
  }
  SUBCASE("a CA bundle that is not PEM") {
    Client client(l.get(), secure("127.0.0.1", server.port(), "not a certificate"));
    Result r;
    client.send(get("/"), capture(r));
    CHECK(r.calls == 0);
    CHECK(run_until(l.get(), [&] { return r.calls == 1; }));
    CHECK(r.err.kind == ErrorKind::kInvalidArgument);
    CHECK(contains(r.err.message, "certificate-authority"));
    CHECK(server.accepted == 0);
    l.finish(client, &server);
  }
}

TEST_CASE("mutual TLS: a server that requires a client certificate") {
  Loop l;
  TestServer server(l.get(), {.tls = true, .require_client_cert = true});
  std::string peer_cn;
  server.set_handler([&](TestServer::Conn& c, const ServerRequest&) {
    peer_cn = c.peer_cn;
    Reply r;
    r.body = c.peer_cert ? "hello " + c.peer_cn : "anonymous";
    c.reply(r);
  });
  const Pki& pki = Pki::get();

  SUBCASE("accepts the presented certificate") {
    Endpoint ep = secure("127.0.0.1", server.port(), pki.ca_pem);
    ep.tls_opts.cert_pem = pki.client_cert_pem;
    ep.tls_opts.key_pem = pki.client_key_pem;
    Client client(l.get(), ep);
    Result r;
    client.send(get("/"), capture(r));
    CHECK(run_until(l.get(), [&] { return r.calls == 1; }));
    CHECK(r.err.ok());
    CHECK(r.resp.body == "hello test-user");
    CHECK(peer_cn == "test-user");
    l.finish(client, &server);
  }
  SUBCASE("fails without a certificate") {
    Client client(l.get(), secure("127.0.0.1", server.port(), pki.ca_pem));
    Result r;
    client.send(get("/"), capture(r));
    CHECK(run_until(l.get(), [&] { return r.calls == 1; }));
    CHECK(r.err.kind == ErrorKind::kIo);
    CHECK(contains(r.err.message, "127.0.0.1:" + std::to_string(server.port())));
    CHECK(contains(r.err.message, "certificate"));
    CHECK(server.requests.empty());
    CHECK(server.handshake_failures == 1);
    CHECK(client.stats().retries == 0);
    l.finish(client, &server);
  }
  SUBCASE("fails with a certificate from another CA") {
    Endpoint ep = secure("127.0.0.1", server.port(), pki.ca_pem);
    ep.tls_opts.cert_pem = pki.other_client_cert_pem;
    ep.tls_opts.key_pem = pki.other_client_key_pem;
    Client client(l.get(), ep);
    Result r;
    client.send(get("/"), capture(r));
    CHECK(run_until(l.get(), [&] { return r.calls == 1; }));
    CHECK(r.err.kind == ErrorKind::kIo);
    CHECK(server.requests.empty());
    l.finish(client, &server);
  }
  SUBCASE("a key that does not belong to the certificate is a configuration error") {
    Endpoint ep = secure("127.0.0.1", server.port(), pki.ca_pem);
    ep.tls_opts.cert_pem = pki.client_cert_pem;
    ep.tls_opts.key_pem = pki.other_client_key_pem;
    Client client(l.get(), ep);
    Result r;
    client.send(get("/"), capture(r));
    CHECK(run_until(l.get(), [&] { return r.calls == 1; }));
    CHECK(r.err.kind == ErrorKind::kInvalidArgument);
    CHECK(contains(r.err.message, "does not match the client certificate"));
    l.finish(client, &server);
  }
}

TEST_CASE("a default bearer header arrives on every request; a request's own header wins") {
  Loop l;
  TestServer server(l.get());
  Client client(l.get(), plain(server.port()));
  client.set_default_header("Authorization", "Bearer s3cret");
  Result a, b;
  client.send(get("/a"), capture(a));
  Request other = get("/b");
  other.headers.push_back({"authorization", "Bearer other"});
  client.send(other, capture(b));
  CHECK(run_until(l.get(), [&] { return a.calls == 1 && b.calls == 1; }));
  REQUIRE(server.requests.size() == 2);
  std::map<std::string, std::vector<std::string>> auth;
  for (const auto& req : server.requests)
    for (const auto& h : req.headers)
      if (h.name == "Authorization" || h.name == "authorization") auth[req.target].push_back(h.value);
  CHECK(auth["/a"] == std::vector<std::string>{"Bearer s3cret"});
  CHECK(auth["/b"] == std::vector<std::string>{"Bearer other"});
  l.finish(client, &server);
}

TEST_CASE("connection refused is an I/O error naming the address") {
  Loop l;
  uint16_t port = vc::test::unused_port(l.get());
  Client client(l.get(), plain(port));
  Result r;
  client.send(get("/"), capture(r));
  CHECK(run_until(l.get(), [&] { return r.calls == 1; }));
  CHECK(r.err.kind == ErrorKind::kIo);
  CHECK(r.err.message == "cannot connect to 127.0.0.1:" + std::to_string(port) +
                             ": connection refused (is the API server running?)");
  CHECK(client.stats().connections_opened == 0);
  l.finish(client, nullptr);
}

TEST_CASE("connect timeout: a TLS handshake with a server that accepts but never answers") {
  Loop l;
  TestServer server(l.get(), {.silent = true});
  ClientOptions opts;
  opts.connect_timeout = 150ms;
  Client client(l.get(), secure("127.0.0.1", server.port(), Pki::get().ca_pem), opts);
  Result r;
  client.send(get("/"), capture(r));
  CHECK(run_until(l.get(), [&] { return r.calls == 1; }));
  CHECK(r.err.kind == ErrorKind::kTimeout);
  CHECK(contains(r.err.message, "connecting to 127.0.0.1:" + std::to_string(server.port()) + " timed out"));
  CHECK(server.accepted == 1);
  CHECK(client.stats().open_connections == 0);  // the client gave the connection up
  l.finish(client, &server);
}

TEST_CASE("request timeout: a server that reads the request but never answers") {
  Loop l;
  TestServer server(l.get());
  server.set_handler([](TestServer::Conn&, const ServerRequest&) {});
  Client client(l.get(), plain(server.port()));
  Result r;
  Request req = get("/slow");
  req.timeout = 150ms;
  client.send(req, capture(r));
  CHECK(run_until(l.get(), [&] { return r.calls == 1; }));
  CHECK(r.err.kind == ErrorKind::kTimeout);
  CHECK(contains(r.err.message, "GET /slow to 127.0.0.1:" + std::to_string(server.port()) +
                                    " did not complete within 150 ms"));
  CHECK(server.requests.size() == 1);
  CHECK(run_until(l.get(), [&] { return server.open == 0 && client.stats().open_connections == 0; }));
  l.finish(client, &server);
}

TEST_CASE("a pooled connection the server dropped: GET is retried once on a fresh one, POST is not") {
  Loop l;
  TestServer server(l.get());
  // The server answers the first request on each connection and drops the connection on the second,
  // which is what a client sees when the server's idle close crosses its next request.
  std::map<int, int> per_conn;
  server.set_handler([&](TestServer::Conn& c, const ServerRequest& req) {
    if (++per_conn[c.id()] >= 2 || req.target == "/always-dropped") {
      c.abort();
      return;
    }
    Reply r;
    r.body = "fresh";
    c.reply(r);
  });
  Client client(l.get(), plain(server.port()));
  Result first;
  client.send(get("/1"), capture(first));
  CHECK(run_until(l.get(), [&] { return first.calls == 1; }));
  CHECK(first.err.ok());

  SUBCASE("GET") {
    Result again;
    client.send(get("/2"), capture(again));
    CHECK(run_until(l.get(), [&] { return again.calls == 1; }));
    CHECK(again.err.ok());
    CHECK(again.resp.body == "fresh");
    CHECK(client.stats().retries == 1);
    CHECK(server.accepted == 2);
    REQUIRE(server.requests.size() == 3);
    CHECK(server.requests[1].conn_id == server.requests[0].conn_id);
    CHECK(server.requests[2].conn_id != server.requests[0].conn_id);
  }
  SUBCASE("GET whose retry fails too reports the error after exactly one retry") {
    Result r;
    client.send(get("/always-dropped"), capture(r));
    CHECK(run_until(l.get(), [&] { return r.calls == 1; }));
    CHECK(r.err.kind == ErrorKind::kIo);
    CHECK(contains(r.err.message, "closed the connection before answering GET /always-dropped"));
    CHECK(client.stats().retries == 1);
    CHECK(server.accepted == 2);
    CHECK(server.requests.size() == 3);
  }
  SUBCASE("POST") {
    Request post = get("/2");
    post.method = "POST";
    post.body = "{\"kind\":\"Pod\"}";
    Result r;
    client.send(post, capture(r));
    CHECK(run_until(l.get(), [&] { return r.calls == 1; }));
    CHECK(r.err.kind == ErrorKind::kIo);
    CHECK(contains(r.err.message, "closed the connection before answering POST /2"));
    CHECK(client.stats().retries == 0);
    CHECK(server.accepted == 1);
    REQUIRE(server.requests.size() == 2);
    CHECK(server.requests[1].body == "{\"kind\":\"Pod\"}");
  }
  l.finish(client, &server);
}

TEST_CASE("an idle connection closed by the server is dropped from the pool without a retry") {
  Loop l;
  TestServer server(l.get());
  int last_conn = 0;
  server.set_handler([&](TestServer::Conn& c, const ServerRequest&) {
    last_conn = c.id();
    Reply r;
    r.body = "ok";
    c.reply(r);
  });
  Client client(l.get(), plain(server.port()));
  Result a, b;
  client.send(get("/a"), capture(a));
  CHECK(run_until(l.get(), [&] { return a.calls == 1; }));
  CHECK(client.stats().open_connections == 1);
  server.conn(last_conn)->end();
  CHECK(run_until(l.get(), [&] { return client.stats().open_connections == 0; }));
  client.send(get("/b"), capture(b));
  CHECK(run_until(l.get(), [&] { return b.calls == 1; }));
  CHECK(b.err.ok());
  CHECK(client.stats().retries == 0);
  CHECK(client.stats().connections_opened == 2);
  l.finish(client, &server);
}

TEST_CASE("the idle timeout closes pooled connections") {
  Loop l;
  TestServer server(l.get());
  ClientOptions opts;
  opts.idle_timeout = 100ms;
  Client client(l.get(), plain(server.port()), opts);
  Result r;
  client.send(get("/"), capture(r));
  CHECK(run_until(l.get(), [&] { return r.calls == 1; }));
  CHECK(run_until(l.get(), [&] { return server.open == 0 && client.stats().open_connections == 0; }));
  l.finish(client, &server);
}

TEST_CASE("5 MB bodies: a Content-Length download, a chunked download over TLS and an upload") {
  Loop l;
  const std::string body = big_body(5 * 1024 * 1024 + 3);
  TestServer server(l.get());
  TestServer tls_server(l.get(), {.tls = true});
  auto handler = [&](TestServer::Conn& c, const ServerRequest& req) {
    Reply r;
    r.chunked = req.target == "/chunked";
    r.body = req.method == "PUT" ? std::to_string(req.body.size()) : body;
    c.reply(r);
  };
  server.set_handler(handler);
  tls_server.set_handler(handler);
  Client client(l.get(), plain(server.port()));
  Client tls_client(l.get(), secure("127.0.0.1", tls_server.port(), Pki::get().ca_pem));
  Result a, b, c;
  client.send(get("/big"), capture(a));
  tls_client.send(get("/chunked"), capture(b));
  Request put = get("/upload");
  put.method = "PUT";
  put.body = body;
  client.send(put, capture(c));
  CHECK(run_until(
      l.get(), [&] { return a.calls == 1 && b.calls == 1 && c.calls == 1; }, 60s));
  CHECK(a.err.ok());
  CHECK(a.resp.body.size() == body.size());
  CHECK(a.resp.body == body);
  CHECK(b.err.ok());
  CHECK(b.resp.body == body);
  CHECK(c.err.ok());
  CHECK(c.resp.body == std::to_string(body.size()));
  bool closed = false;
  tls_client.close([&] { closed = true; });
  bool tls_server_closed = false;
  tls_server.close([&] { tls_server_closed = true; });
  CHECK(run_until(l.get(), [&] { return closed && tls_server_closed; }));
  l.finish(client, &server);
}

TEST_CASE("cancel of a queued and of an in-flight request, and close() with work pending") {
  Loop l;
  TestServer server(l.get());
  server.set_handler([](TestServer::Conn& c, const ServerRequest& req) {
    if (req.target.rfind("/slow", 0) == 0) return;  // never answered
    Reply r;
    r.body = "ok";
    c.reply(r);
  });
  ClientOptions opts;
  opts.max_connections = 1;
  Client client(l.get(), plain(server.port()), opts);
  Result slow, queued, after, pending, late;
  uint64_t slow_id = client.send(get("/slow"), capture(slow));
  uint64_t queued_id = client.send(get("/queued"), capture(queued));
  CHECK(run_until(l.get(), [&] { return server.requests.size() == 1; }));
  CHECK(client.stats().queued == 1);
  client.cancel(queued_id);
  CHECK(client.stats().queued == 0);
  client.cancel(slow_id);
  CHECK(slow.calls == 0);
  CHECK(queued.calls == 0);
  CHECK(run_until(l.get(), [&] { return slow.calls == 1 && queued.calls == 1; }));
  CHECK(slow.err.kind == ErrorKind::kCancelled);
  CHECK(queued.err.kind == ErrorKind::kCancelled);
  // The connection that carried the cancelled request is not reused: its answer could still arrive.
  client.send(get("/after"), capture(after));
  CHECK(run_until(l.get(), [&] { return after.calls == 1; }));
  CHECK(after.err.ok());
  CHECK(server.accepted == 2);

  client.send(get("/slow2"), capture(pending));
  CHECK(run_until(l.get(), [&] { return server.requests.size() == 3; }));
  bool closed = false;
  client.close([&] { closed = true; });
  client.send(get("/too-late"), capture(late));
  CHECK(pending.calls == 0);
  CHECK(run_until(l.get(), [&] { return closed; }));
  CHECK(pending.calls == 1);
  CHECK(pending.err.kind == ErrorKind::kCancelled);
  CHECK(late.calls == 1);
  CHECK(late.err.kind == ErrorKind::kCancelled);
  l.finish(client, &server);
  CHECK(slow.calls == 1);
  CHECK(queued.calls == 1);
  CHECK(pending.calls == 1);
}

TEST_CASE("an invalid request is refused asynchronously with a sentence") {
  Loop l;
  Client client(l.get(), plain(1));
  Result r;
  Request bad = get("no-slash");
  client.send(bad, capture(r));
  Request injected = get("/x");
  injected.headers.push_back({"X-Evil", "a\r\nHost: elsewhere"});
  Result r2;
  client.send(injected, capture(r2));
  CHECK(r.calls == 0);
  CHECK(run_until(l.get(), [&] { return r.calls == 1 && r2.calls == 1; }));
  CHECK(r.err.kind == ErrorKind::kInvalidArgument);
  CHECK(contains(r.err.message, "no-slash"));
  CHECK(r2.err.kind == ErrorKind::kInvalidArgument);
  l.finish(client, nullptr);
}

TEST_CASE("a client that never sent anything closes at once and can be destroyed") {
  Loop l;
  { Client unused(l.get(), plain(1)); }
  Client client(l.get(), plain(1));
  l.finish(client, nullptr);
}
