// Flag parsing of `vcluster`: every command, the global flags anywhere, and one clear sentence per mistake.
#include <doctest/doctest.h>

#include "cli/args.hpp"

using vc::cli::Options;
using vc::cli::parse_args;

namespace {
Options parse_ok(std::vector<std::string> args) {
  Options o;
  vc::Error e = parse_args(args, &o);
  INFO(e.message);
  REQUIRE(e.ok());
  return o;
}
std::string parse_err(std::vector<std::string> args) {
  Options o;
  vc::Error e = parse_args(args, &o);
  REQUIRE_FALSE(e.ok());
  CHECK(e.kind == vc::ErrorKind::kInvalidArgument);
  return e.message;
}
}  // namespace

TEST_CASE("create with every flag, in both spellings") {
  Options o = parse_ok({"create", "demo", "-n", "team-a", "-f", "a.yaml", "--values=b.yaml", "--upgrade",
                        "--isolate", "--connect=false", "--plugins", "pods,services", "--plugins=nodes",
                        "--plugin-dir", "/p", "--timeout", "30", "--service-cidr=10.96.0.0/16"});
  CHECK(o.command == "create");
  CHECK(o.name == "demo");
  CHECK(o.namespace_ == "team-a");
  CHECK(o.values_files == std::vector<std::string>{"a.yaml", "b.yaml"});
  CHECK(o.upgrade);
  CHECK(o.isolate);
  CHECK_FALSE(o.connect);
  CHECK(o.plugins == std::vector<std::string>{"pods", "services", "nodes"});
  CHECK(o.plugin_dirs == std::vector<std::string>{"/p"});
  CHECK(o.timeout_seconds == 30);
  CHECK(o.service_cidr == "10.96.0.0/16");
  CHECK(o.driver == "local");
  CHECK(o.distro == "k8s");
}

TEST_CASE("defaults: connect on, local driver, k8s, yaml, 120 s") {
  Options o = parse_ok({"create", "x"});
  CHECK(o.connect);
  CHECK_FALSE(o.upgrade);
  CHECK(o.namespace_.empty());
  CHECK(o.output == "yaml");
  CHECK(o.timeout_seconds == 120);
}

TEST_CASE("global flags before or after the command, short flags glued") {
  Options o = parse_ok({"--context", "host", "--kubeconfig=/k", "list"});
  CHECK(o.command == "list");
  CHECK(o.context == "host");
  CHECK(o.kubeconfig == "/k");
  o = parse_ok({"connect", "demo", "--context=h2", "-nteam"});
  CHECK(o.context == "h2");
  CHECK(o.namespace_ == "team");
  o = parse_ok({"create", "demo", "-f=x.yaml"});
  CHECK(o.values_files == std::vector<std::string>{"x.yaml"});
}

TEST_CASE("cluster driver with print, output and distro") {
  Options o = parse_ok(
      {"create", "demo", "--driver", "cluster", "--distro", "k3s", "--print", "-o", "json", "--expose"});
  CHECK(o.driver == "cluster");
  CHECK(o.distro == "k3s");
  CHECK(o.print);
  CHECK(o.output == "json");
  CHECK(o.expose);
}

TEST_CASE("plugins list, pause, resume, delete, disconnect") {
  Options o = parse_ok({"plugins", "list", "--plugins", "pods"});
  CHECK(o.command == "plugins");
  CHECK(o.subcommand == "list");
  CHECK(parse_ok({"pause", "a"}).name == "a");
  CHECK(parse_ok({"resume", "a", "--timeout", "5"}).timeout_seconds == 5);
  CHECK(parse_ok({"delete", "a", "-n", "ns"}).namespace_ == "ns");
  CHECK(parse_ok({"disconnect"}).command == "disconnect");
  CHECK(parse_ok({"connect", "a", "--print", "--server", "https://1.2.3.4:443"}).server ==
        "https://1.2.3.4:443");
}

TEST_CASE("help needs no command arguments") {
  CHECK(parse_ok({"--help"}).help);
  Options o = parse_ok({"create", "-h"});
  CHECK(o.help);
  CHECK(o.command == "create");
  CHECK(vc::cli::usage("create").find("--upgrade") != std::string::npos);
  CHECK(vc::cli::usage("").find("plugins list") != std::string::npos);
}

TEST_CASE("unknown command and flag name the word and the fix, with a suggestion") {
  CHECK(parse_err({"crate", "x"}) ==
        "unknown command 'crate' (did you mean create?); run 'vcluster --help' for the commands");
  CHECK(parse_err({"create", "x", "--isolat"}) ==
        "unknown flag --isolat for 'vcluster create' (did you mean --isolate?); run 'vcluster create --help' "
        "for its "
        "flags");
  CHECK(parse_err({"create", "x", "--zzzzzz"}) ==
        "unknown flag --zzzzzz for 'vcluster create'; run 'vcluster create --help' for its flags");
  CHECK(parse_err({}) == "no command given; run 'vcluster --help' for the commands");
}

TEST_CASE("a flag of another command is refused") {
  CHECK(parse_err({"list", "--upgrade"}) ==
        "flag --upgrade does not apply to 'vcluster list'; run 'vcluster list --help' for its flags");
  CHECK(
      parse_err({"delete", "x", "-f", "v.yaml"}).find("flag --values does not apply to 'vcluster delete'") ==
      0);
}

TEST_CASE("values of flags are checked") {
  CHECK(parse_err({"create", "x", "--distro", "minikube"}) ==
        "--distro must be one of k8s, k3s, k0s, got 'minikube'");
  CHECK(parse_err({"create", "x", "--driver=docker"}) ==
        "--driver must be one of local, cluster, got 'docker'");
  CHECK(parse_err({"create", "x", "--connect=no"}).find("takes true or false") != std::string::npos);
  CHECK(parse_err({"create", "x", "--timeout", "soon"}).find("--timeout needs a whole number") == 0);
  CHECK(parse_err({"create", "x", "--timeout", "0"}).find("--timeout needs a whole number") == 0);
  CHECK(
      parse_err({"create", "x", "-n", "Bad_NS"}).find("--namespace 'Bad_NS' is not a valid namespace name") ==
      0);
  CHECK(parse_err({"create", "x", "--service-cidr", "10.96.0.0"})
            .find("--service-cidr must be an IPv4 range") == 0);
  CHECK(parse_err({"create", "x", "-f"}) == "-f needs a value (--values VALUE)");
  CHECK(parse_err({"connect", "x", "--server", "http://a"}) ==
        "--server must be an https:// URL, got 'http://a'");
}

TEST_CASE("names and arguments") {
  CHECK(parse_err({"create"}) == "'vcluster create' needs the vcluster NAME: vcluster create NAME");
  CHECK(parse_err({"create", "My_VC"}).find("vcluster name 'My_VC' is not valid") == 0);
  CHECK(parse_err({"create", "1abc"}).find("vcluster name '1abc' is not valid") == 0);
  CHECK(parse_err({"create", std::string(53, 'a')}).find("at most 52 characters") != std::string::npos);
  CHECK(parse_ok({"create", std::string(52, 'a')}).name.size() == 52);
  CHECK(parse_err({"create", "a", "b"}) ==
        "unexpected argument 'b' for 'vcluster create'; run 'vcluster create --help' for its flags");
  CHECK(parse_err({"list", "extra"}).find("unexpected argument 'extra'") == 0);
  CHECK(parse_err({"plugins"}) == "'vcluster plugins' needs a subcommand: vcluster plugins list");
  CHECK(parse_err({"plugins", "show"}) ==
        "unknown subcommand 'plugins show'; the only one is 'vcluster plugins list'");
}

TEST_CASE("combinations that cannot work are refused before anything runs") {
  CHECK(parse_err({"create", "x", "--distro", "k3s"}).find("--distro k3s needs --driver cluster") == 0);
  CHECK(parse_err({"create", "x", "--print"}) ==
        "--print prints the manifests of --driver cluster; add --driver cluster");
  CHECK(parse_err({"create", "x", "--expose"}).find("--expose creates a LoadBalancer Service") == 0);
}

TEST_CASE("DNS label checks") {
  CHECK(vc::cli::is_dns1035_label("a-1"));
  CHECK_FALSE(vc::cli::is_dns1035_label("a-"));
  CHECK_FALSE(vc::cli::is_dns1035_label("-a"));
  CHECK_FALSE(vc::cli::is_dns1035_label(""));
  CHECK(vc::cli::is_dns1123_label("1a"));
  CHECK_FALSE(vc::cli::is_dns1123_label(std::string(64, 'a')));
  CHECK_FALSE(vc::cli::is_dns1123_label("a.b"));
}
