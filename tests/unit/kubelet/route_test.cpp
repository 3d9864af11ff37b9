// The kubelet paths the virtual API server sends (pkg/registry/core/pod/strategy.go, v1.20) and the host
// API server requests they become.
#include <doctest/doctest.h>

#include "kubelet/route.hpp"

using namespace vc::kubelet;

TEST_CASE("containerLogs maps to the host pod's log with the PodLogOptions query") {
  Route r = parse_target("/containerLogs/demo/web-1/nginx?follow=true&tailLines=5&limitBytes=100&x=1");
  REQUIRE(r.kind == Kind::kLogs);
  CHECK(r.ns == "demo");
  CHECK(r.pod == "web-1");
  CHECK(r.container == "nginx");
  CHECK(host_target(r, "vcluster-vc", "web-1-x-demo-x-vc") ==
        "/api/v1/namespaces/vcluster-vc/pods/web-1-x-demo-x-vc/log?container=nginx&follow=true&tailLines=5&"
        "limitBytes=100");
  Route p = parse_target(
      "/containerLogs/demo/web-1/nginx?previous=true&timestamps=true&sinceTime=2020-01-01T00%3A00%3A00Z");
  CHECK(host_target(p, "h", "p") ==
        "/api/v1/namespaces/h/pods/p/log?container=nginx&previous=true&timestamps=true&"
        "sinceTime=2020-01-01T00%3A00%3A00Z");
}

TEST_CASE("exec: the kubelet's input/output/error become stdin/stdout/stderr, commands keep their order") {
  Route r =
      parse_target("/exec/demo/web-1/nginx?command=sh&command=-c&command=echo+a+b&input=1&output=1&tty=1");
  REQUIRE(r.kind == Kind::kExec);
  CHECK(is_upgrade(r.kind));
  CHECK(host_target(r, "h", "p") ==
        "/api/v1/namespaces/h/pods/p/exec?container=nginx&command=sh&command=-c&command=echo%20a%20b&"
        "stdin=true&stdout=true&tty=true");
  Route a = parse_target("/attach/demo/web-1/nginx?output=1&error=1&command=ignored");
  REQUIRE(a.kind == Kind::kAttach);
  CHECK(host_target(a, "h", "p") ==
        "/api/v1/namespaces/h/pods/p/attach?container=nginx&stdout=true&stderr=true");
  Route off = parse_target("/exec/demo/web-1/nginx?command=true&input=0&tty=false");
  CHECK(host_target(off, "h", "p") ==
        "/api/v1/namespaces/h/pods/p/exec?container=nginx&command=true&stdin=false&tty=false");
}

TEST_CASE("portForward takes the ports from the port parameter") {
  Route r = parse_target("/portForward/demo/web-1?port=80&port=8080");
  REQUIRE(r.kind == Kind::kPortForward);
  CHECK(r.container.empty());
  CHECK(host_target(r, "h", "p") == "/api/v1/namespaces/h/pods/p/portforward?ports=80&ports=8080");
  CHECK(host_target(parse_target("/portForward/demo/web-1"), "h", "p") ==
        "/api/v1/namespaces/h/pods/p/portforward");
}

TEST_CASE("other paths are forbidden and malformed names are refused before any host request") {
  CHECK(parse_target("/healthz").kind == Kind::kHealthz);
  CHECK(parse_target("/stats/summary").kind == Kind::kStatsSummary);
  CHECK(parse_target("/metrics/resource").kind == Kind::kMetricsResource);
  CHECK(parse_target("/run/demo/web-1/nginx?cmd=ls").kind == Kind::kRun);
  for (const char* t :
       {"/configz", "/pods", "/logs/", "/", "", "/exec/demo/web-1", "/exec/demo/web-1/uid/nginx",
        "/containerLogs/demo/web-1/nginx/extra", "/spec/", "/debug/pprof"})
    CHECK_MESSAGE(parse_target(t).kind == Kind::kForbidden, t);
  Route dots = parse_target("/containerLogs/demo/..%2F..%2Fsecrets/nginx");
  CHECK(dots.kind == Kind::kBadRequest);
  CHECK(dots.problem.find("pod name") != std::string::npos);
  CHECK(parse_target("/exec/Demo/web-1/nginx").kind == Kind::kBadRequest);
  CHECK(parse_target("/exec/demo/web-1/ngi.nx").kind == Kind::kBadRequest);
  CHECK(parse_target("/exec/demo/web%zz/nginx").kind == Kind::kBadRequest);
  CHECK(parse_target("/exec/demo/web/nginx?command=%4").kind == Kind::kBadRequest);
  CHECK(parse_target("/exec/demo/a.b-c/nginx").kind == Kind::kExec);
}

TEST_CASE("name rules and escapes") {
  CHECK(is_dns1123_label("a-b0"));
  CHECK_FALSE(is_dns1123_label("-a"));
  CHECK_FALSE(is_dns1123_label("a-"));
  CHECK_FALSE(is_dns1123_label(std::string(64, 'a')));
  CHECK(is_dns1123_subdomain("a.b.c"));
  CHECK_FALSE(is_dns1123_subdomain("a..b"));
  std::string out;
  CHECK(percent_decode("a%2Fb+c", &out));
  CHECK(out == "a/b+c");
  CHECK_FALSE(percent_decode("a%2", &out));
  CHECK(query_escape("a b/c~") == "a%20b%2Fc~");
}
