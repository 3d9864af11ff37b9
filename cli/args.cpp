#include "cli/args.hpp"

#include <arpa/inet.h>

#include <algorithm>
#include <cstdlib>
#include <functional>
#include <set>

namespace vc::cli {

namespace {

const std::vector<std::string> kCommands = {"create", "connect", "disconnect", "list",
                                            "pause",  "resume",  "delete",     "plugins"};

enum class Kind { kBool, kString, kList, kInt };

// One flag: its long name, an optional short name, the commands that accept it ("*" = every command) and
// where its value goes.
struct Flag {
  std::string name;
  std::string short_name;
  Kind kind;
  std::set<std::string> commands;
  std::function<Error(Options*, const std::string&)> set;
};

Error bad(std::string msg) {
  return Error(ErrorKind::kInvalidArgument, std::move(msg));
}

bool is_ipv4_cidr(const std::string& v) {
  size_t slash = v.find('/');
  if (slash == std::string::npos) return false;
  in_addr a{};
  if (inet_pton(AF_INET, v.substr(0, slash).c_str(), &a) != 1) return false;
  std::string bits = v.substr(slash + 1);
  if (bits.empty() || bits.size() > 2 || !std::all_of(bits.begin(), bits.end(), ::isdigit)) return false;
  int n = std::stoi(bits);
  return n >= 8 && n <= 30;
}

std::vector<std::string> split_commas(const std::string& v) {
  std::vector<std::string> out;
  size_t start = 0;
  while (start <= v.size()) {
    size_t c = v.find(',', start);
    std::string part = v.substr(start, c == std::string::npos ? std::string::npos : c - start);
    if (!part.empty()) out.push_back(part);
    if (c == std::string::npos) break;
    start = c + 1;
  }
  return out;
}

Error one_of(const std::string& flag, const std::string& v, const std::vector<std::string>& allowed,
             std::string* dst) {
  if (std::find(allowed.begin(), allowed.end(), v) == allowed.end()) {
    std::string list;
    for (auto& a : allowed) list += (list.empty() ? "" : ", ") + a;
    return bad(flag + " must be one of " + list + ", got '" + v + "'");
  }
  *dst = v;
  return {};
}

const std::vector<Flag>& flags() {
  static const std::vector<Flag> table = {
      {"kubeconfig",
       "",
       Kind::kString,
       {"*"},
       [](Options* o, const std::string& v) {
         o->kubeconfig = v;
         return Error();
       }},
      {"context",
       "",
       Kind::kString,
       {"*"},
       [](Options* o, const std::string& v) {
         o->context = v;
         return Error();
       }},
      {"help",
       "h",
       Kind::kBool,
       {"*"},
       [](Options* o, const std::string& v) {
         o->help = v == "true";
         return Error();
       }},
      {"namespace",
       "n",
       Kind::kString,
       {"create", "connect", "pause", "resume", "delete"},
       [](Options* o, const std::string& v) {
         if (!is_dns1123_label(v))
           return bad("--namespace '" + v +
                      "' is not a valid namespace name (lower-case letters, digits and '-', at most 63)");
         o->namespace_ = v;
         return Error();
       }},
      {"values",
       "f",
       Kind::kList,
       {"create"},
       [](Options* o, const std::string& v) {
         o->values_files.push_back(v);
         return Error();
       }},
      {"plugins",
       "",
       Kind::kList,
       {"create", "plugins"},
       [](Options* o, const std::string& v) {
         for (auto& p : split_commas(v)) o->plugins.push_back(p);
         return Error();
       }},
      {"plugin-dir",
       "",
       Kind::kList,
       {"create", "plugins"},
       [](Options* o, const std::string& v) {
         o->plugin_dirs.push_back(v);
         return Error();
       }},
      {"upgrade",
       "",
       Kind::kBool,
       {"create"},
       [](Options* o, const std::string& v) {
         o->upgrade = v == "true";
         return Error();
       }},
      {"expose",
       "",
       Kind::kBool,
       {"create"},
       [](Options* o, const std::string& v) {
         o->expose = v == "true";
         return Error();
       }},
      {"isolate",
       "",
       Kind::kBool,
       {"create"},
       [](Options* o, const std::string& v) {
         o->isolate = v == "true";
         return Error();
       }},
      {"connect",
       "",
       Kind::kBool,
       {"create"},
       [](Options* o, const std::string& v) {
         o->connect = v == "true";
         return Error();
       }},
      {"print",
       "",
       Kind::kBool,
       {"create", "connect"},
       [](Options* o, const std::string& v) {
         o->print = v == "true";
         return Error();
       }},
      {"distro",
       "",
       Kind::kString,
       {"create"},
       [](Options* o, const std::string& v) {
         return one_of("--distro", v, {"k8s", "k3s", "k0s"}, &o->distro);
       }},
      {"driver",
       "",
       Kind::kString,
       {"create"},
       [](Options* o, const std::string& v) {
         return one_of("--driver", v, {"local", "cluster"}, &o->driver);
       }},
      {"output",
       "o",
       Kind::kString,
       {"create"},
       [](Options* o, const std::string& v) {
         return one_of("--output", v, {"yaml", "json"}, &o->output);
       }},
      {"server",
       "",
       Kind::kString,
       {"connect"},
       [](Options* o, const std::string& v) {
         if (v.rfind("https://", 0) != 0) return bad("--server must be an https:// URL, got '" + v + "'");
         o->server = v;
         return Error();
       }},
      {"service-cidr",
       "",
       Kind::kString,
       {"create"},
       [](Options* o, const std::string& v) {
         if (!is_ipv4_cidr(v))
           return bad("--service-cidr must be an IPv4 range such as 10.96.0.0/16, got '" + v + "'");
         o->service_cidr = v;
         return Error();
       }},
      {"timeout",
       "",
       Kind::kInt,
       {"create", "resume"},
       [](Options* o, const std::string& v) {
         char* end = nullptr;
         long n = std::strtol(v.c_str(), &end, 10);
         if (v.empty() || *end != '\0' || n <= 0 || n > 86400)
           return bad("--timeout needs a whole number of seconds between 1 and 86400, got '" + v + "'");
         o->timeout_seconds = static_cast<int>(n);
         return Error();
       }},
  };
  return table;
}

// Levenshtein distance with adjacent transpositions, for "did you mean".
size_t distance(const std::string& a, const std::string& b) {
  std::vector<std::vector<size_t>> d(a.size() + 1, std::vector<size_t>(b.size() + 1));
  for (size_t i = 0; i <= a.size(); i++) d[i][0] = i;
  for (size_t j = 0; j <= b.size(); j++) d[0][j] = j;
  for (size_t i = 1; i <= a.size(); i++)
    for (size_t j = 1; j <= b.size(); j++) {
      size_t cost = a[i - 1] == b[j - 1] ? 0 : 1;
      d[i][j] = std::min({d[i - 1][j] + 1, d[i][j - 1] + 1, d[i - 1][j - 1] + cost});
      if (i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1])
        d[i][j] = std::min(d[i][j], d[i - 2][j - 2] + 1);
    }
  return d[a.size()][b.size()];
}

std::string closest(const std::string& word, const std::vector<std::string>& candidates) {
  std::string best;
  size_t best_d = std::max<size_t>(1, word.size() / 3) + 1;
  for (auto& c : candidates) {
    size_t d = distance(word, c);
    if (d < best_d) {
      best_d = d;
      best = c;
    }
  }
  return best;
}

bool accepts(const Flag& f, const std::string& command) {
  return f.commands.count("*") || f.commands.count(command.empty() ? "*" : command);
}

std::string help_hint(const std::string& command) {
  return command.empty() ? "run 'vcluster --help' for the commands"
                         : "run 'vcluster " + command + " --help' for its flags";
}

}  // namespace

bool is_dns1035_label(const std::string& s, size_t max) {
  if (s.empty() || s.size() > max) return false;
  if (s.front() < 'a' || s.front() > 'z') return false;
  if (s.back() == '-') return false;
  return std::all_of(s.begin(), s.end(),
                     [](char c) { return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-'; });
}

bool is_dns1123_label(const std::string& s) {
  if (s.empty() || s.size() > 63 || s.front() == '-' || s.back() == '-') return false;
  return std::all_of(s.begin(), s.end(),
                     [](char c) { return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-'; });
}

Error parse_args(const std::vector<std::string>& args, Options* o) {
  // The command is the first word that is not a flag or a flag's value, so global flags may come first
  // (`vcluster --context x list`). A first pass finds it, because which flags are allowed depends on it.
  std::vector<std::string> positional;
  std::vector<std::pair<const Flag*, std::string>> found;  // flag and its spelled value
  std::vector<std::string> spelled;                        // the flag as written, for messages
  bool flags_done = false;
  for (size_t i = 0; i < args.size(); i++) {
    const std::string& a = args[i];
    if (flags_done || a.empty() || a[0] != '-' || a == "-") {
      positional.push_back(a);
      continue;
    }
    if (a == "--") {
      flags_done = true;
      continue;
    }
    std::string name, value;
    bool has_value = false;
    const Flag* flag = nullptr;
    if (a.rfind("--", 0) == 0) {
      name = a.substr(2);
      size_t eq = name.find('=');
      if (eq != std::string::npos) {
        value = name.substr(eq + 1);
        name = name.substr(0, eq);
        has_value = true;
      }
      for (auto& f : flags())
        if (f.name == name) flag = &f;
    } else {
      name = a.substr(1);
      if (name.size() > 1) {
        // -nNS and -fFILE, as getopt allows.
        value = name.substr(1);
        name = name.substr(0, 1);
        has_value = true;
        if (!value.empty() && value[0] == '=') value = value.substr(1);
      }
      for (auto& f : flags())
        if (!f.short_name.empty() && f.short_name == name) flag = &f;
    }
    if (flag == nullptr) {
      found.push_back({nullptr, a});
      spelled.push_back(a);
      continue;
    }
    if (flag->kind == Kind::kBool) {
      if (!has_value) {
        value = "true";
      } else if (value != "true" && value != "false") {
        return bad(a + ": --" + flag->name + " takes true or false (or no value, meaning true), got '" +
                   value + "'");
      }
    } else if (!has_value) {
      if (i + 1 >= args.size())
        return bad((a.rfind("--", 0) == 0 ? a : "-" + name) + " needs a value (--" + flag->name + " VALUE)");
      value = args[++i];
    }
    found.push_back({flag, value});
    spelled.push_back(a);
  }

  // The command and its arguments.
  size_t next = 0;
  if (!positional.empty()) {
    o->command = positional[next++];
    if (std::find(kCommands.begin(), kCommands.end(), o->command) == kCommands.end()) {
      std::string cmd = o->command;
      o->command.clear();
      std::string guess = closest(cmd, kCommands);
      return bad("unknown command '" + cmd + "'" + (guess.empty() ? "" : " (did you mean " + guess + "?)") +
                 "; " + help_hint(""));
    }
  }

  // The flags, now that the command is known.
  for (size_t k = 0; k < found.size(); k++) {
    const Flag* f = found[k].first;
    if (f == nullptr) {
      std::string word = spelled[k];
      std::string bare = word.substr(0, word.find('='));
      std::vector<std::string> names;
      for (auto& fl : flags())
        if (accepts(fl, o->command)) names.push_back("--" + fl.name);
      std::string guess = closest(bare, names);
      return bad("unknown flag " + bare + (o->command.empty() ? "" : " for 'vcluster " + o->command + "'") +
                 (guess.empty() ? "" : " (did you mean " + guess + "?)") + "; " + help_hint(o->command));
    }
    if (!accepts(*f, o->command))
      return bad("flag --" + f->name + " does not apply to 'vcluster " + o->command + "'; " +
                 help_hint(o->command));
    if (Error e = f->set(o, found[k].second)) return e;
  }
  if (o->help) return {};
  if (o->command.empty()) return bad("no command given; " + help_hint(""));

  std::vector<std::string> rest(positional.begin() + static_cast<long>(next), positional.end());
  const std::string& c = o->command;
  if (c == "plugins") {
    if (rest.empty()) return bad("'vcluster plugins' needs a subcommand: vcluster plugins list");
    if (rest[0] != "list")
      return bad("unknown subcommand 'plugins " + rest[0] + "'; the only one is 'vcluster plugins list'");
    o->subcommand = "list";
    rest.erase(rest.begin());
  } else if (c == "create" || c == "connect" || c == "pause" || c == "resume" || c == "delete") {
    if (rest.empty()) return bad("'vcluster " + c + "' needs the vcluster NAME: vcluster " + c + " NAME");
    o->name = rest[0];
    rest.erase(rest.begin());
    if (!is_dns1035_label(o->name, kMaxNameLength))
      return bad("vcluster name '" + o->name + "' is not valid: use lower-case letters, digits and '-', " +
                 "starting with a letter, at most " + std::to_string(kMaxNameLength) + " characters");
  }
  if (!rest.empty())
    return bad("unexpected argument '" + rest[0] + "' for 'vcluster " + c + "'; " + help_hint(c));

  // Combinations that cannot work are refused here, before anything is touched.
  if (c == "create") {
    if (o->driver == "local" && o->distro != "k8s")
      return bad("--distro " + o->distro +
                 " needs --driver cluster: the local driver runs the k8s distro (etcd, kube-apiserver, "
                 "kube-controller-manager) on this machine");
    if (o->print && o->driver != "cluster")
      return bad("--print prints the manifests of --driver cluster; add --driver cluster");
    if (o->expose && o->driver != "cluster")
      return bad(
          "--expose creates a LoadBalancer Service in front of a control plane running in the host; add "
          "--driver cluster (the local driver's API server is on 127.0.0.1)");
  }
  return {};
}

std::string usage(const std::string& command) {
  if (command == "create")
    return R"(Usage: vcluster create NAME [flags]

Creates a virtual cluster NAME in the host namespace (default vcluster-NAME) of the current kube context,
then switches the kubeconfig to it.

Flags:
  -n, --namespace NS        host namespace (default vcluster-NAME; created and labelled if missing)
  -f, --values FILE         values file; repeat to merge (later files win); see docs/values.md
  --plugins a,b,c           sync plugins (default: the syncer's defaults); names or .so paths
  --plugin-dir DIR          extra directory with libvcp-<name>.so; repeatable
  --driver local|cluster    local (default): control plane and syncer run on this machine;
                            cluster: a StatefulSet in the host cluster
  --distro k8s|k3s|k0s      control plane distribution (default k8s; k3s and k0s need --driver cluster)
  --upgrade                 apply new values (-f) to an existing vcluster, keeping its data
  --isolate                 NetworkPolicy, ResourceQuota and LimitRange in the host namespace, and the
                            baseline Pod Security Standard enforced by the syncer
  --expose                  make the API server's Service a LoadBalancer (--driver cluster)
  --connect=false           do not switch the kubeconfig to the new vcluster
  --print                   print the manifests instead of applying them (--driver cluster)
  -o, --output yaml|json    format of --print (default yaml; json prints a List)
  --service-cidr CIDR       Service range of the virtual cluster (default: the host's, found by asking
                            the host API server; the local driver needs a /16 to /24)
  --timeout SECONDS         how long to wait for the control plane and the syncer (default 120)
)";
  if (command == "connect")
    return R"(Usage: vcluster connect NAME [flags]

Writes the context vcluster_NAME_NS_<host context> into the kubeconfig and switches to it. The previous
context is remembered; 'vcluster disconnect' switches back.

Flags:
  -n, --namespace NS   host namespace of the vcluster (default: found in the local state, else vcluster-NAME)
  --print              print a standalone kubeconfig to stdout and change nothing
  --server URL         use this API server URL instead of the one the vcluster advertises
)";
  if (command == "disconnect")
    return R"(Usage: vcluster disconnect

Switches the kubeconfig from a vcluster context back to the context that was current before
'vcluster connect'.
)";
  if (command == "list")
    return R"(Usage: vcluster list

Lists the virtual clusters created from this machine: NAME, NAMESPACE, DRIVER, STATUS, AGE.
STATUS is Running, Paused or Error (a process or the StatefulSet is not running).
)";
  if (command == "pause")
    return R"(Usage: vcluster pause NAME [-n NS]

Stops the vcluster's control plane and syncer, keeping its data, and deletes the pods it created in the
host namespace. 'vcluster resume NAME' brings them back.
)";
  if (command == "resume")
    return R"(Usage: vcluster resume NAME [-n NS] [--timeout SECONDS]

Restarts a paused vcluster: the control plane from its kept data, then the syncer, which recreates the
host pods from the virtual ones.
)";
  if (command == "delete")
    return R"(Usage: vcluster delete NAME [-n NS]

Stops the vcluster, deletes every host object it owns (label vcluster.loft.sh/managed-by=NAME), the
namespace if 'vcluster create' created it, its local state and its kubeconfig context.
)";
  if (command == "plugins")
    return R"(Usage: vcluster plugins list [--plugins a,b,c] [--plugin-dir DIR]

Lists the sync plugins found (default directories, or those named), their versions, the resources they own
and their values keys.
)";
  return R"(Usage: vcluster [--kubeconfig PATH] [--context NAME] COMMAND [flags]

Virtual Kubernetes clusters inside one namespace of a host cluster (the current kube context).

Commands:
  create NAME       create a vcluster (or --upgrade one) and connect to it
  connect NAME      switch the kubeconfig to a vcluster (--print: print a kubeconfig)
  disconnect        switch back to the context used before 'connect'
  list              list vclusters with their status
  pause NAME        stop a vcluster and its host pods, keeping its data
  resume NAME       start a paused vcluster again
  delete NAME       delete a vcluster and everything it created
  plugins list      list the sync plugins, the resources they own and their values keys

Global flags:
  --kubeconfig PATH   host kubeconfig (default $KUBECONFIG, else ~/.kube/config)
  --context NAME      host context (default the current context)
  -h, --help          help for a command: vcluster COMMAND --help

Local state lives in ${VCLUSTER_STATE_DIR:-~/.vcluster}/<namespace>/<name>/. See docs/cli.md.
)";
}

}  // namespace vc::cli
