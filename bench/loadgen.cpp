// vcluster-loadgen: creates or deletes N pods in one namespace over C keep-alive connections, all at once
// or at a fixed rate, while watching that namespace and (optionally) a host namespace; prints when each
// requested condition first held and the per-pod latencies, measured with this process's clock from the
// watch events it receives. It asserts nothing: it is a measuring tool (see docs/benchmarks.md).
//
// Pods are named PREFIX-I (I from --start) and labelled loadgen=PREFIX. On the host a pod is looked for
// under the name PREFIX-I + --host-suffix (the syncer's "-x-<namespace>-x-<vcluster>").
#include <simdjson.h>
#include <uv.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <ctime>
#include <fstream>
#include <functional>
#include <map>
#include <memory>
#include <sstream>
#include <string>
#include <string_view>
#include <vector>

#include "informer/informer.hpp"
#include "kube/client.hpp"
#include "kube/kubeconfig.hpp"
#include "util/log.hpp"

using namespace vc;

namespace {

const char* kUsage = R"(Usage: vcluster-loadgen --kubeconfig PATH [flags]

Creates or deletes pods PREFIX-START .. PREFIX-(START+N-1) in one namespace, watches them (and their host
copies), and prints when each --until condition first held, measured from the first request sent.

Flags:
  --kubeconfig PATH        the cluster the pods are created in or deleted from (required)
  --namespace NS           (default bench); it must exist and have its default ServiceAccount
  --pods N                 how many pods (default 1000)
  --start I                index of the first pod (default 0)
  --prefix P               pod names are P-I, label loadgen=P (default p)
  --action A               create, delete, emulate or none (default create). emulate does, per pod, what
                           the syncer's create path needs, as a client with nothing else to do: the
                           virtual pod, a TokenRequest for it, its token into a host token Secret, the
                           host pod (the API servers' floor for that path; run it without a syncer)
  --token-secrets T        emulate: shared (default: tokens batched into Secrets of 64 keys, one write
                           per Secret at a time, as the pods plugin does) or per-pod (a Secret per pod)
  --connections C          keep-alive connections (default 16)
  --in-flight M            requests outstanding at most (default C: one per connection)
  --rate R                 pods per second; 0 = as fast as the connections allow (default 0)
  --configmaps             also create (and delete) a ConfigMap P-I per pod, mounted by it, before the pod
  --secrets                the same with a Secret P-I
  --image IMG              container image (default nginx)
  --host-kubeconfig PATH   also watch the host namespace
  --host-namespace NS      the host namespace to watch
  --host-suffix S          host name of pod X is X+S, e.g. -x-bench-x-my-vcluster
  --until LIST             comma-separated: created (every request answered; always implied),
                           exist, running, gone (source side), host-exist, host-running, host-gone
  --timeout S              give up after S seconds (default 600); exit 1
  --label K=V              extra pod label (repeatable)
  --pod-template FILE      create this JSON pod instead of the bare one (action create): every @NAME@ in
                           it becomes the pod's name and every @PREFIX@ the prefix; it must carry the
                           label loadgen=@PREFIX@ for the watch to see it. For measuring what a bigger
                           pod (e.g. the syncer's translation of one) costs the API server
  --log-level LEVEL        (default warn)

Output: human-readable lines, then one line "RESULT key=value ..." with every figure (seconds since the
first request; *_epoch in Unix seconds; latencies per pod from its create/delete answer or first watch
sighting, whichever came first).
)";

double now_s() {
  return static_cast<double>(uv_hrtime()) / 1e9;
}
double epoch_s() {
  timespec ts;
  clock_gettime(CLOCK_REALTIME, &ts);
  return static_cast<double>(ts.tv_sec) + static_cast<double>(ts.tv_nsec) / 1e9;
}

struct Flags {
  std::string kubeconfig, ns = "bench", prefix = "p", action = "create", image = "nginx";
  std::string host_kubeconfig, host_ns, host_suffix, log_level = "warn";
  std::string pod_template;              // --pod-template: the file's text
  std::string token_secrets = "shared";  // --token-secrets (emulate)
  long pods = 1000, start = 0, connections = 16, in_flight = 0, timeout = 600;
  double rate = 0;
  bool configmaps = false, secrets = false;
  std::vector<std::string> until, labels;
};

enum Cond { kCreated, kExist, kRunning, kGone, kHostExist, kHostRunning, kHostGone, kCondCount };
const char* kCondNames[kCondCount] = {"created",    "exist",        "running",  "gone",
                                      "host-exist", "host-running", "host-gone"};

struct PodTimes {
  double sent = -1, answered = -1;  // our request for this pod (create or delete)
  double src_seen = -1, src_running = -1, src_gone = -1;
  double host_seen = -1, host_running = -1, host_gone = -1;
  bool src_present = false, host_present = false;
  int attempts = 0;
  std::string uid, token;  // --action emulate: the virtual pod's uid, then its token
  long shard = -1;         // --token-secrets shared: the token Secret its token went to
};

// --action emulate --token-secrets shared: the token Secrets shared by the pods, as the pods plugin writes
// them: at most 64 keys each, one write per Secret at a time, tokens that come meanwhile in the next write.
struct TokenShard {
  long keys = 0;
  bool exists = false, writing = false;
  int attempts = 0;
  std::vector<long> pending, sending;  // pods whose token waits, is being written
};

struct App {
  Flags f;
  uv_loop_t* loop = nullptr;
  std::unique_ptr<kube::Client> src, host;
  std::unique_ptr<informer::Informer> src_inf, host_inf;
  kube::GVR pods{"", "v1", "pods", true, "Pod"};
  kube::GVR cms{"", "v1", "configmaps", true, "ConfigMap"};
  kube::GVR secrets{"", "v1", "secrets", true, "Secret"};
  std::vector<PodTimes> t;
  bool want[kCondCount] = {};
  double held[kCondCount];
  double t0 = 0, t0_epoch = 0, first_answer = -1, last_answer = -1;
  long next = 0, outstanding = 0, answered = 0, ok = 0, already = 0, errors = 0, retries = 0;
  long src_present = 0, host_present = 0, src_running = 0, host_running = 0, src_seen = 0, host_seen = 0;
  long src_gone = 0, host_gone = 0;
  std::map<std::string, long> error_kinds;
  std::vector<TokenShard> shards;
  bool started = false, finished = false;
  int synced_needed = 0;
  uv_timer_t tick{}, deadline{};
  uv_signal_t sigint{};
  int exit_code = 0;
};

long index_of(const App& a, std::string_view name) {
  const std::string& p = a.f.prefix;
  if (name.size() <= p.size() + 1 || name.compare(0, p.size(), p) != 0 || name[p.size()] != '-') return -1;
  long v = 0;
  for (size_t i = p.size() + 1; i < name.size(); i++) {
    if (name[i] < '0' || name[i] > '9') return -1;
    v = v * 10 + (name[i] - '0');
    if (v > 100000000) return -1;
  }
  v -= a.f.start;
  return v >= 0 && v < a.f.pods ? v : -1;
}

std::string pod_name(const App& a, long i) {
  return a.f.prefix + "-" + std::to_string(a.f.start + i);
}

std::string json_str(std::string_view s) {
  std::string out = "\"";
  for (char c : s) {
    if (c == '"' || c == '\\') out += '\\';
    out += c;
  }
  return out + "\"";
}

std::string replace_all(std::string s, std::string_view from, const std::string& to) {
  for (size_t at = s.find(from); at != std::string::npos; at = s.find(from, at + to.size()))
    s.replace(at, from.size(), to);
  return s;
}

std::string pod_body(const App& a, long i) {
  std::string name = pod_name(a, i);
  if (!a.f.pod_template.empty())
    return replace_all(replace_all(a.f.pod_template, "@NAME@", name), "@PREFIX@", a.f.prefix);
  std::string labels = "\"loadgen\":" + json_str(a.f.prefix);
  for (auto& kv : a.f.labels) {
    size_t eq = kv.find('=');
    labels +=
        "," + json_str(kv.substr(0, eq)) + ":" + json_str(eq == std::string::npos ? "" : kv.substr(eq + 1));
  }
  std::string volumes, mounts;
  auto add = [&](const std::string& v, const std::string& m) {
    volumes += (volumes.empty() ? "" : ",") + v;
    mounts += (mounts.empty() ? "" : ",") + m;
  };
  if (a.f.configmaps)
    add("{\"name\":\"cfg\",\"configMap\":{\"name\":" + json_str(name) + "}}",
        "{\"name\":\"cfg\",\"mountPath\":\"/etc/cfg\"}");
  if (a.f.secrets)
    add("{\"name\":\"sec\",\"secret\":{\"secretName\":" + json_str(name) + "}}",
        "{\"name\":\"sec\",\"mountPath\":\"/etc/sec\"}");
  std::string c = "{\"name\":\"c\",\"image\":" + json_str(a.f.image) +
                  ",\"resources\":{\"requests\":{\"cpu\":\"1m\",\"memory\":\"1Mi\"}}";
  if (!mounts.empty()) c += ",\"volumeMounts\":[" + mounts + "]";
  c += "}";
  std::string spec = "{\"containers\":[" + c + "],\"terminationGracePeriodSeconds\":5";
  if (!volumes.empty()) spec += ",\"volumes\":[" + volumes + "]";
  spec += "}";
  return "{\"apiVersion\":\"v1\",\"kind\":\"Pod\",\"metadata\":{\"name\":" + json_str(name) +
         ",\"labels\":{" + labels + "}},\"spec\":" + spec + "}";
}

std::string data_body(const App& a, long i, const char* kind) {
  return std::string("{\"apiVersion\":\"v1\",\"kind\":\"") + kind +
         "\",\"metadata\":{\"name\":" + json_str(pod_name(a, i)) +
         ",\"labels\":{\"loadgen\":" + json_str(a.f.prefix) +
         "}},\"data\":{\"k\":\"dmFsdWUtb2YtYS1iZW5jaC1vYmplY3Q=\"}}";
}

// "Running" from status.phase; the JSON is the informer's minified copy.
bool is_running(const informer::Object& o) {
  thread_local simdjson::dom::parser parser;
  thread_local std::string scratch;
  std::string_view text = o.json(&scratch);
  simdjson::dom::element doc;
  if (parser.parse(text.data(), text.size()).get(doc) != simdjson::SUCCESS) return false;
  std::string_view phase;
  if (doc["status"]["phase"].get(phase) != simdjson::SUCCESS) return false;
  return phase == "Running";
}

void finish(App* a);
void check(App* a);

double pct(std::vector<double> v, double p) {
  if (v.empty()) return NAN;
  std::sort(v.begin(), v.end());
  size_t k = static_cast<size_t>(std::ceil(p / 100.0 * static_cast<double>(v.size())));
  if (k == 0) k = 1;
  return v[std::min(k, v.size()) - 1];
}

void check(App* a) {
  if (!a->started || a->finished) return;
  double n = now_s();
  bool all_answered = a->answered >= a->f.pods || a->f.action == "none";
  bool holds[kCondCount] = {
      all_answered,
      a->src_seen >= a->f.pods,
      a->src_running >= a->f.pods,
      all_answered && a->src_present == 0,
      a->host_seen >= a->f.pods,
      a->host_running >= a->f.pods,
      all_answered && a->host_present == 0,
  };
  bool all = true;
  for (int c = 0; c < kCondCount; c++) {
    if (holds[c] && std::isnan(a->held[c])) {
      a->held[c] = n;
      if (a->want[c]) std::printf("%-13s held at %8.3f s\n", kCondNames[c], n - a->t0);
      std::fflush(stdout);
    }
    if (a->want[c] && std::isnan(a->held[c])) all = false;
  }
  if (all) finish(a);
}

void on_src_obj(App* a, const informer::ObjectPtr& o, bool deleted) {
  long i = index_of(*a, o->name());
  if (i < 0) return;
  PodTimes& p = a->t[static_cast<size_t>(i)];
  double n = now_s();
  if (deleted) {
    if (p.src_present) {
      p.src_present = false;
      a->src_present--;
      if (p.src_gone < 0) {
        p.src_gone = n;
        a->src_gone++;
      }
    }
  } else {
    if (!p.src_present) {
      p.src_present = true;
      a->src_present++;
    }
    if (p.src_seen < 0) {
      p.src_seen = n;
      a->src_seen++;
    }
    if (p.src_running < 0 && is_running(*o)) {
      p.src_running = n;
      a->src_running++;
    }
  }
  check(a);
}

void on_host_obj(App* a, const informer::ObjectPtr& o, bool deleted) {
  const std::string& s = a->f.host_suffix;
  const std::string_view name = o->name();
  if (name.size() <= s.size() || name.compare(name.size() - s.size(), s.size(), s) != 0) return;
  long i = index_of(*a, std::string_view(name).substr(0, name.size() - s.size()));
  if (i < 0) return;
  PodTimes& p = a->t[static_cast<size_t>(i)];
  double n = now_s();
  if (deleted) {
    if (p.host_present) {
      p.host_present = false;
      a->host_present--;
      if (p.host_gone < 0) {
        p.host_gone = n;
        a->host_gone++;
      }
    }
  } else {
    if (!p.host_present) {
      p.host_present = true;
      a->host_present++;
    }
    if (p.host_seen < 0) {
      p.host_seen = n;
      a->host_seen++;
    }
    if (p.host_running < 0 && is_running(*o)) {
      p.host_running = n;
      a->host_running++;
    }
  }
  check(a);
}

void pump(App* a);

bool retryable(const kube::Result& r) {
  return r.status == 0 || r.status == 429 || r.status >= 500 ||
         (r.status == 403 && r.body.find("serviceaccount") != std::string::npos);
}

// One pod's chain of requests: [ConfigMap] [Secret] Pod for create; Pod [ConfigMap] [Secret] for delete.
void step(App* a, long i, int stage);

void answered(App* a, long i, bool good, bool exists, const std::string& why) {
  PodTimes& p = a->t[static_cast<size_t>(i)];
  double n = now_s();
  p.answered = n;
  if (a->first_answer < 0) a->first_answer = n;
  a->last_answer = n;
  a->answered++;
  a->outstanding--;
  if (good) a->ok++;
  if (exists) a->already++;
  if (!good && !exists) {
    a->errors++;
    a->error_kinds[why]++;
  }
  pump(a);
  check(a);
}

void step(App* a, long i, int stage) {
  bool create = a->f.action == "create";
  // The order of the stages: what the pod needs comes first on create, last on delete.
  std::vector<int> kinds;  // 0 pod, 1 configmap, 2 secret
  if (create) {
    if (a->f.configmaps) kinds.push_back(1);
    if (a->f.secrets) kinds.push_back(2);
    kinds.push_back(0);
  } else {
    kinds.push_back(0);
    if (a->f.configmaps) kinds.push_back(1);
    if (a->f.secrets) kinds.push_back(2);
  }
  if (stage >= static_cast<int>(kinds.size())) return;
  int kind = kinds[static_cast<size_t>(stage)];
  bool last = stage + 1 == static_cast<int>(kinds.size());
  const kube::GVR& gvr = kind == 0 ? a->pods : kind == 1 ? a->cms : a->secrets;
  std::string name = pod_name(*a, i);
  auto cb = [a, i, stage, last, kind, create](kube::Result r) {
    if (a->finished) return;
    PodTimes& p = a->t[static_cast<size_t>(i)];
    if (!r.ok() && retryable(r) && p.attempts < 20) {
      // Back off a little and send the same stage again; the API server said "not now".
      p.attempts++;
      a->retries++;
      auto* tm = new uv_timer_t;
      uv_timer_init(a->loop, tm);
      struct Ctx {
        App* a;
        long i;
        int stage;
      };
      tm->data = new Ctx{a, i, stage};
      uv_timer_start(
          tm,
          [](uv_timer_t* h) {
            auto* c = static_cast<Ctx*>(h->data);
            step(c->a, c->i, c->stage);
            delete c;
            uv_close(reinterpret_cast<uv_handle_t*>(h),
                     [](uv_handle_t* hh) { delete reinterpret_cast<uv_timer_t*>(hh); });
          },
          static_cast<uint64_t>(50 * p.attempts), 0);
      return;
    }
    bool exists = create ? r.already_exists() : r.not_found();
    if (!last && (r.ok() || exists)) {
      step(a, i, stage + 1);
      return;
    }
    std::string why = r.ok() || exists ? "" : (std::to_string(r.status) + " " + r.reason);
    if (!last) why = std::string(kind == 1 ? "configmap " : "secret ") + why;
    answered(a, i, r.ok(), exists, why);
  };
  if (create) {
    std::string body = kind == 0 ? pod_body(*a, i) : data_body(*a, i, kind == 1 ? "ConfigMap" : "Secret");
    a->src->create(gvr, a->f.ns, std::move(body), cb);
  } else {
    a->src->remove(gvr, a->f.ns, name, "", cb);
  }
}

// --action emulate: what the syncer must do for one pod, done by a client that does nothing else: the
// virtual pod, a TokenRequest for it, the host token Secret, the host pod (with the Secret mounted). It is
// the floor of the syncer's create path on these API servers: no watch to wait for, no queue, no translation.
std::string string_at(const std::string& body, std::initializer_list<const char*> path) {
  thread_local simdjson::dom::parser parser;
  simdjson::dom::element el;
  if (parser.parse(body.data(), body.size()).get(el) != simdjson::SUCCESS) return "";
  for (const char* k : path)
    if (el[k].get(el) != simdjson::SUCCESS) return "";
  std::string_view v;
  return el.get(v) == simdjson::SUCCESS ? std::string(v) : "";
}

void emulate_step(App* a, long i, int stage);

std::string shard_name(const App& a, long shard) {
  return a.f.prefix + "-sa-tokens-" + std::to_string(shard) + a.f.host_suffix;
}

// Sends the tokens waiting for shard `s`, unless its write is on its way; the answer sends their pods on.
void flush_shard(App* a, long s) {
  TokenShard& sh = a->shards[static_cast<size_t>(s)];
  if (sh.writing || sh.pending.empty()) return;
  sh.writing = true;
  sh.sending = std::move(sh.pending);
  sh.pending.clear();
  std::string data;
  for (long i : sh.sending) {
    data += data.empty() ? "{" : ",";
    data += json_str(pod_name(*a, i)) + ":" + json_str(a->t[static_cast<size_t>(i)].token);
  }
  data += "}";
  auto cb = [a, s](kube::Result r) {
    if (a->finished) return;
    TokenShard& sh = a->shards[static_cast<size_t>(s)];
    sh.writing = false;
    if (!r.ok()) {
      if ((retryable(r) || r.status == 409 || r.status == 404) && sh.attempts < 20) {
        sh.attempts++;
        a->retries++;
        sh.exists = r.status == 409 || (sh.exists && r.status != 404);
        sh.pending.insert(sh.pending.begin(), sh.sending.begin(), sh.sending.end());
        sh.sending.clear();
        flush_shard(a, s);
        return;
      }
      for (long i : sh.sending)
        answered(a, i, false, false, std::to_string(r.status) + " " + r.reason + " (token Secret)");
      sh.sending.clear();
      return;
    }
    sh.exists = true;
    std::vector<long> done = std::move(sh.sending);
    sh.sending.clear();
    flush_shard(a, s);
    for (long i : done) emulate_step(a, i, 3);
  };
  if (sh.exists) {
    a->host->patch(a->secrets, a->f.host_ns, shard_name(*a, s), kube::PatchType::kMerge,
                   "{\"stringData\":" + data + "}", cb);
  } else {
    a->host->create(
        a->secrets, a->f.host_ns,
        "{\"apiVersion\":\"v1\",\"kind\":\"Secret\",\"metadata\":{\"name\":" + json_str(shard_name(*a, s)) +
            ",\"labels\":{\"loadgen\":" + json_str(a->f.prefix) + "}},\"stringData\":" + data + "}",
        cb);
  }
}

// A pod's token goes into the first shard with room.
void place_token(App* a, long i) {
  size_t s = 0;
  while (s < a->shards.size() && a->shards[s].keys >= 64) s++;
  if (s == a->shards.size()) a->shards.emplace_back();
  a->shards[s].keys++;
  a->shards[s].pending.push_back(i);
  a->t[static_cast<size_t>(i)].shard = static_cast<long>(s);
  flush_shard(a, static_cast<long>(s));
}

void emulate_step(App* a, long i, int stage) {
  std::string name = pod_name(*a, i);
  std::string hname = name + a->f.host_suffix;
  PodTimes& p = a->t[static_cast<size_t>(i)];
  auto cb = [a, i, stage](kube::Result r) {
    if (a->finished) return;
    PodTimes& pt = a->t[static_cast<size_t>(i)];
    if (!r.ok() && retryable(r) && pt.attempts < 20) {
      pt.attempts++;
      a->retries++;
      emulate_step(a, i, stage);
      return;
    }
    if (!r.ok()) {
      answered(a, i, false, false,
               std::to_string(r.status) + " " + r.reason + " (stage " + std::to_string(stage) + ")");
      return;
    }
    if (stage == 0) pt.uid = string_at(r.body, {"metadata", "uid"});
    if (stage == 1) pt.token = string_at(r.body, {"status", "token"});
    if (stage == 3) {
      answered(a, i, true, false, "");
      return;
    }
    emulate_step(a, i, stage + 1);
  };
  kube::GVR sas{"", "v1", "serviceaccounts", true, "ServiceAccount"};
  switch (stage) {
    case 0:
      a->src->create(a->pods, a->f.ns, pod_body(*a, i), cb);
      break;
    case 1:
      a->src->create(
          sas, a->f.ns,
          "{\"apiVersion\":\"authentication.k8s.io/v1\",\"kind\":\"TokenRequest\",\"spec\":{"
          "\"expirationSeconds\":315360000,\"boundObjectRef\":{\"kind\":\"Pod\",\"apiVersion\":\"v1\","
          "\"name\":" +
              json_str(name) + ",\"uid\":" + json_str(p.uid) + "}}}",
          cb, "default", "token");
      break;
    case 2:
      if (a->f.token_secrets == "shared") {
        place_token(a, i);
        break;
      }
      a->host->create(a->secrets, a->f.host_ns,
                      "{\"apiVersion\":\"v1\",\"kind\":\"Secret\",\"metadata\":{\"name\":" +
                          json_str(name + "-sa-token" + a->f.host_suffix) + ",\"labels\":{\"loadgen\":" +
                          json_str(a->f.prefix) + "}},\"stringData\":{\"token\":" + json_str(p.token) + "}}",
                      cb);
      break;
    default: {
      std::string body = pod_body(*a, i);
      // The host pod: the same pod under the host name, with the token Secret mounted where the
      // projected service-account volume would be.
      std::string from = "\"metadata\":{\"name\":" + json_str(name);
      body.replace(body.find(from), from.size(), "\"metadata\":{\"name\":" + json_str(hname));
      std::string spec = "\"spec\":{";
      const std::string secret =
          p.shard >= 0 ? "{\"secretName\":" + json_str(shard_name(*a, p.shard)) +
                             ",\"items\":[{\"key\":" + json_str(name) + ",\"path\":\"token\"}]}"
                       : "{\"secretName\":" + json_str(name + "-sa-token" + a->f.host_suffix) + "}";
      body.replace(
          body.find(spec), spec.size(),
          "\"spec\":{\"automountServiceAccountToken\":false,\"volumes\":[{\"name\":\"token\",\"secret\":" +
              secret + "}],");
      a->host->create(a->pods, a->f.host_ns, std::move(body), cb);
    }
  }
}

void send_one(App* a) {
  long i = a->next++;
  a->outstanding++;
  a->t[static_cast<size_t>(i)].sent = now_s();
  if (a->f.action == "emulate")
    emulate_step(a, i, 0);
  else
    step(a, i, 0);
}

// Sends what the rate and the in-flight bound allow.
void pump(App* a) {
  if (a->finished || a->f.action == "none") return;
  long limit = a->f.pods;
  if (a->f.rate > 0) limit = std::min<long>(a->f.pods, static_cast<long>((now_s() - a->t0) * a->f.rate) + 1);
  while (a->next < limit && a->outstanding < a->f.in_flight) send_one(a);
}

void close_all(App* a) {
  uv_timer_stop(&a->tick);
  uv_timer_stop(&a->deadline);
  uv_signal_stop(&a->sigint);
  auto remaining = std::make_shared<int>(0);
  auto after_informers = [a] {
    a->src->close([a] {
      auto closed = [a] {
        uv_close(reinterpret_cast<uv_handle_t*>(&a->tick), nullptr);
        uv_close(reinterpret_cast<uv_handle_t*>(&a->deadline), nullptr);
        uv_close(reinterpret_cast<uv_handle_t*>(&a->sigint), nullptr);
      };
      if (a->host)
        a->host->close(closed);
      else
        closed();
    });
  };
  auto done_one = [remaining, after_informers] {
    if (--*remaining == 0) after_informers();
  };
  if (a->src_inf) ++*remaining;
  if (a->host_inf) ++*remaining;
  if (*remaining == 0) {
    after_informers();
    return;
  }
  if (a->src_inf) a->src_inf->stop(done_one);
  if (a->host_inf) a->host_inf->stop(done_one);
}

void print_latency(const App& a, const char* label, double PodTimes::*from, double PodTimes::*to,
                   std::string* result, const char* key) {
  std::vector<double> v;
  for (auto& p : a.t) {
    double base = p.*from;
    // The moment the pod's request was known done: its answer, or its first watch sighting if that came
    // first (the watch event can overtake the response).
    if (from == &PodTimes::answered && to != &PodTimes::answered && p.src_seen >= 0 &&
        a.f.action == "create" && (base < 0 || p.src_seen < base))
      base = p.src_seen;
    if (base >= 0 && p.*to >= 0) v.push_back(std::max(0.0, p.*to - base));
  }
  if (v.empty()) return;
  double p50 = pct(v, 50), p90 = pct(v, 90), p99 = pct(v, 99), mx = pct(v, 100);
  std::printf("latency %-13s n=%zu p50 %.3f s  p90 %.3f s  p99 %.3f s  max %.3f s\n", label, v.size(), p50,
              p90, p99, mx);
  char buf[256];
  std::snprintf(buf, sizeof buf, " %s_p50=%.4f %s_p90=%.4f %s_p99=%.4f %s_max=%.4f", key, p50, key, p90, key,
                p99, key, mx);
  *result += buf;
}

void finish(App* a) {
  if (a->finished) return;
  a->finished = true;
  double end = now_s();
  std::string result = "RESULT action=" + a->f.action + " pods=" + std::to_string(a->f.pods) +
                       " connections=" + std::to_string(a->f.connections);
  char buf[256];
  if (a->f.action != "none") {
    double span = a->last_answer - a->t0;
    std::printf(
        "%s: %ld pods, %ld ok, %ld already there/gone, %ld errors, %ld retries; last answer at %.3f s "
        "(%.1f pods/s)\n",
        a->f.action.c_str(), a->f.pods, a->ok, a->already, a->errors, a->retries, span,
        span > 0 ? static_cast<double>(a->answered) / span : 0.0);
    for (auto& [k, n] : a->error_kinds) std::printf("  error %s: %ld\n", k.c_str(), n);
    std::snprintf(buf, sizeof buf, " ok=%ld errors=%ld retries=%ld answered_s=%.4f answered_rate=%.1f", a->ok,
                  a->errors, a->retries, span, span > 0 ? static_cast<double>(a->answered) / span : 0.0);
    result += buf;
  }
  bool missing = false;
  for (int c = 0; c < kCondCount; c++) {
    if (!a->want[c]) continue;
    std::string key = kCondNames[c];
    std::replace(key.begin(), key.end(), '-', '_');
    if (std::isnan(a->held[c])) {
      missing = true;
      std::printf("%-13s NOT held after %.1f s\n", kCondNames[c], end - a->t0);
      result += " " + key + "_s=NA";
    } else {
      std::snprintf(buf, sizeof buf, " %s_s=%.4f %s_epoch=%.4f %s_rate=%.1f", key.c_str(), a->held[c] - a->t0,
                    key.c_str(), a->t0_epoch + (a->held[c] - a->t0), key.c_str(),
                    static_cast<double>(a->f.pods) / std::max(1e-9, a->held[c] - a->t0));
      result += buf;
    }
  }
  std::snprintf(buf, sizeof buf,
                " t0_epoch=%.4f seen=%ld running=%ld present=%ld host_seen=%ld host_running=%ld "
                "host_present=%ld",
                a->t0_epoch, a->src_seen, a->src_running, a->src_present, a->host_seen, a->host_running,
                a->host_present);
  result += buf;
  if (a->f.action != "none")
    print_latency(*a, "request", &PodTimes::sent, &PodTimes::answered, &result, "lat_request");
  if (a->f.action == "create") {
    print_latency(*a, "to-host", &PodTimes::answered, &PodTimes::host_seen, &result, "lat_host");
    print_latency(*a, "to-running", &PodTimes::answered, &PodTimes::src_running, &result, "lat_running");
    print_latency(*a, "host-running", &PodTimes::answered, &PodTimes::host_running, &result,
                  "lat_host_running");
  } else if (a->f.action == "delete") {
    print_latency(*a, "host-gone", &PodTimes::answered, &PodTimes::host_gone, &result, "lat_host_gone");
    print_latency(*a, "gone", &PodTimes::answered, &PodTimes::src_gone, &result, "lat_gone");
  }
  std::printf("%s\n", result.c_str());
  std::fflush(stdout);
  if (missing) a->exit_code = 1;
  close_all(a);
}

void begin(App* a) {
  a->started = true;
  std::printf("watching: %ld of the pods present, %ld Running; host: %ld present\n", a->src_present,
              a->src_running, a->host_present);
  a->t0 = now_s();
  a->t0_epoch = epoch_s();
  std::printf("start %s at %.4f (epoch)\n", a->f.action.c_str(), a->t0_epoch);
  std::fflush(stdout);
  uv_timer_start(
      &a->tick, [](uv_timer_t* h) { pump(static_cast<App*>(h->data)); }, 2, 2);
  pump(a);
  check(a);
}

int parse(int argc, char** argv, Flags* f) {
  for (int i = 1; i < argc; i++) {
    std::string k = argv[i];
    if (k == "-h" || k == "--help") {
      std::fputs(kUsage, stdout);
      std::exit(0);
    }
    if (k == "--configmaps") {
      f->configmaps = true;
      continue;
    }
    if (k == "--secrets") {
      f->secrets = true;
      continue;
    }
    std::string v;
    if (size_t eq = k.find('='); eq != std::string::npos && k.rfind("--", 0) == 0) {
      v = k.substr(eq + 1);
      k = k.substr(0, eq);
    } else {
      if (i + 1 >= argc) {
        std::fprintf(stderr, "vcluster-loadgen: %s needs a value\n", k.c_str());
        return 2;
      }
      v = argv[++i];
    }
    auto num = [&](long* dst, long min) {
      char* end = nullptr;
      long n = std::strtol(v.c_str(), &end, 10);
      if (v.empty() || *end || n < min) {
        std::fprintf(stderr, "vcluster-loadgen: %s needs a whole number >= %ld, got '%s'\n", k.c_str(), min,
                     v.c_str());
        return false;
      }
      *dst = n;
      return true;
    };
    bool good = true;
    if (k == "--kubeconfig")
      f->kubeconfig = v;
    else if (k == "--namespace")
      f->ns = v;
    else if (k == "--prefix")
      f->prefix = v;
    else if (k == "--action")
      f->action = v;
    else if (k == "--image")
      f->image = v;
    else if (k == "--host-kubeconfig")
      f->host_kubeconfig = v;
    else if (k == "--host-namespace")
      f->host_ns = v;
    else if (k == "--host-suffix")
      f->host_suffix = v;
    else if (k == "--token-secrets")
      f->token_secrets = v;
    else if (k == "--log-level")
      f->log_level = v;
    else if (k == "--label")
      f->labels.push_back(v);
    else if (k == "--pod-template") {
      std::ifstream in(v);
      std::stringstream text;
      text << in.rdbuf();
      f->pod_template = text.str();
      if (!in || f->pod_template.find("@NAME@") == std::string::npos) {
        std::fprintf(stderr, "vcluster-loadgen: --pod-template %s: cannot read it, or it has no @NAME@\n",
                     v.c_str());
        return 2;
      }
    } else if (k == "--pods")
      good = num(&f->pods, 1);
    else if (k == "--start")
      good = num(&f->start, 0);
    else if (k == "--connections")
      good = num(&f->connections, 1);
    else if (k == "--in-flight")
      good = num(&f->in_flight, 1);
    else if (k == "--timeout")
      good = num(&f->timeout, 1);
    else if (k == "--rate") {
      f->rate = std::strtod(v.c_str(), nullptr);
    } else if (k == "--until") {
      size_t s = 0;
      while (s <= v.size()) {
        size_t c = v.find(',', s);
        std::string item = v.substr(s, c == std::string::npos ? std::string::npos : c - s);
        if (!item.empty()) f->until.push_back(item);
        if (c == std::string::npos) break;
        s = c + 1;
      }
    } else {
      std::fprintf(stderr,
                   "vcluster-loadgen: unknown flag %s\nRun 'vcluster-loadgen --help' for the flags.\n",
                   k.c_str());
      return 2;
    }
    if (!good) return 2;
  }
  if (f->kubeconfig.empty()) {
    std::fprintf(stderr, "vcluster-loadgen: --kubeconfig is required\n");
    return 2;
  }
  if (f->action != "create" && f->action != "delete" && f->action != "none" && f->action != "emulate") {
    std::fprintf(stderr, "vcluster-loadgen: --action must be create, delete, emulate or none, got '%s'\n",
                 f->action.c_str());
    return 2;
  }
  if (f->token_secrets != "shared" && f->token_secrets != "per-pod") {
    std::fprintf(stderr, "vcluster-loadgen: --token-secrets must be shared or per-pod, got '%s'\n",
                 f->token_secrets.c_str());
    return 2;
  }
  if (!f->pod_template.empty() && f->action != "create") {
    std::fprintf(stderr, "vcluster-loadgen: --pod-template is for --action create only\n");
    return 2;
  }
  if (f->action == "emulate" && (f->host_kubeconfig.empty() || f->host_suffix.empty())) {
    std::fprintf(
        stderr,
        "vcluster-loadgen: --action emulate needs --host-kubeconfig, --host-namespace and --host-suffix\n");
    return 2;
  }
  if (!f->host_kubeconfig.empty() && f->host_ns.empty()) {
    std::fprintf(stderr, "vcluster-loadgen: --host-kubeconfig needs --host-namespace\n");
    return 2;
  }
  if (f->in_flight == 0) f->in_flight = f->connections;
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  App app;
  App* a = &app;
  if (int rc = parse(argc, argv, &a->f)) return rc;
  setup_logging(a->f.log_level, LogFormat::kText);
  for (auto& c : a->held) c = NAN;
  for (auto& u : a->f.until) {
    int found = -1;
    for (int c = 0; c < kCondCount; c++)
      if (u == kCondNames[c]) found = c;
    if (found < 0) {
      std::fprintf(stderr, "vcluster-loadgen: --until: unknown condition '%s'\n", u.c_str());
      return 2;
    }
    if (found >= kHostExist && a->f.host_kubeconfig.empty()) {
      std::fprintf(stderr, "vcluster-loadgen: --until %s needs --host-kubeconfig\n", u.c_str());
      return 2;
    }
    a->want[found] = true;
  }
  a->want[kCreated] = a->f.action != "none";
  a->t.resize(static_cast<size_t>(a->f.pods));

  a->loop = uv_default_loop();
  auto make_client = [a](const std::string& path, const char* side, std::unique_ptr<kube::Client>* out) {
    kube::RestConfig cfg;
    Error e = kube::load_kubeconfig_file(path, "", &cfg);
    kube::ClientOptions co;
    co.max_connections = static_cast<size_t>(a->f.connections);
    co.user_agent = "vcluster-loadgen/0.1";
    co.side = side;
    co.request_timeout = std::chrono::milliseconds(60000);
    if (!e) e = kube::Client::create(a->loop, cfg, co, out);
    if (e) std::fprintf(stderr, "vcluster-loadgen: %s: %s\n", path.c_str(), e.message.c_str());
    return !e;
  };
  if (!make_client(a->f.kubeconfig, "source", &a->src)) return 1;
  if (!a->f.host_kubeconfig.empty() && !make_client(a->f.host_kubeconfig, "host", &a->host)) return 1;

  uv_timer_init(a->loop, &a->tick);
  uv_timer_init(a->loop, &a->deadline);
  uv_signal_init(a->loop, &a->sigint);
  a->tick.data = a->deadline.data = a->sigint.data = a;
  uv_signal_start(
      &a->sigint,
      [](uv_signal_t* h, int) {
        auto* app = static_cast<App*>(h->data);
        app->started = true;
        finish(app);
      },
      SIGINT);

  a->t0 = now_s();
  uv_timer_start(
      &a->deadline,
      [](uv_timer_t* h) {
        auto* app = static_cast<App*>(h->data);
        app->started = true;
        finish(app);
      },
      static_cast<uint64_t>(a->f.timeout) * 1000, 0);
  auto synced = [a] {
    if (--a->synced_needed == 0) begin(a);
  };
  informer::Options so;
  so.namespace_ = a->f.ns;
  so.label_selector = "loadgen=" + a->f.prefix;
  a->src_inf = std::make_unique<informer::Informer>(a->loop, a->src.get(), a->pods, so);
  a->src_inf->add_handlers(
      {[a](const informer::ObjectPtr& o) { on_src_obj(a, o, false); },
       [a](const informer::ObjectPtr&, const informer::ObjectPtr& o) { on_src_obj(a, o, false); },
       [a](const informer::ObjectPtr& o) { on_src_obj(a, o, true); }});
  a->src_inf->on_synced(synced);
  a->synced_needed++;
  if (a->host) {
    informer::Options ho;
    ho.namespace_ = a->f.host_ns;
    a->host_inf = std::make_unique<informer::Informer>(a->loop, a->host.get(), a->pods, ho);
    a->host_inf->add_handlers(
        {[a](const informer::ObjectPtr& o) { on_host_obj(a, o, false); },
         [a](const informer::ObjectPtr&, const informer::ObjectPtr& o) { on_host_obj(a, o, false); },
         [a](const informer::ObjectPtr& o) { on_host_obj(a, o, true); }});
    a->host_inf->on_synced(synced);
    a->synced_needed++;
  }
  a->src_inf->start();
  if (a->host_inf) a->host_inf->start();
  uv_run(a->loop, UV_RUN_DEFAULT);
  a->src_inf.reset();
  a->host_inf.reset();
  uv_run(a->loop, UV_RUN_DEFAULT);
  uv_loop_close(a->loop);
  return a->exit_code;
}
