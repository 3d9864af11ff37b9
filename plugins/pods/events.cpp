#include "events.hpp"

#include <algorithm>

#include "refs.hpp"

namespace vcp_pods {

using vc::json::Value;

namespace {

// Days from 1970-01-01 to a proleptic Gregorian date (Howard Hinnant's days_from_civil), so that times
// are compared without timegm, which is neither standard C++ nor free of the process's locale settings.
int64_t days_from_civil(int64_t y, int64_t m, int64_t d) {
  y -= m <= 2 ? 1 : 0;
  const int64_t era = (y >= 0 ? y : y - 399) / 400;
  const int64_t yoe = y - era * 400;
  const int64_t doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
  const int64_t doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
  return era * 146097 + doe - 719468;
}

bool digits(std::string_view s, size_t pos, size_t len, int* out) {
  if (pos + len > s.size()) return false;
  int v = 0;
  for (size_t i = pos; i < pos + len; i++) {
    if (s[i] < '0' || s[i] > '9') return false;
    v = v * 10 + (s[i] - '0');
  }
  *out = v;
  return true;
}

std::optional<int64_t> time_at(const Value& v, std::initializer_list<std::string_view> path,
                               std::string_view leaf) {
  const Value* p = path.size() == 0 ? &v : v.at(path);
  const Value* f = p ? p->find(leaf) : nullptr;
  if (f == nullptr || !f->is_string()) return std::nullopt;
  return parse_time(f->as_string());
}

void replace_all(std::string& s, std::string_view from, std::string_view to) {
  if (from.empty()) return;
  for (size_t pos = 0; (pos = s.find(from, pos)) != std::string::npos; pos += to.size()) {
    s.replace(pos, from.size(), to);
  }
}

}  // namespace

std::optional<int64_t> parse_time(std::string_view s) {
  int y, mo, d, h, mi, se;
  if (!digits(s, 0, 4, &y) || s.size() < 20 || s[4] != '-' || !digits(s, 5, 2, &mo) || s[7] != '-' ||
      !digits(s, 8, 2, &d) || (s[10] != 'T' && s[10] != 't') || !digits(s, 11, 2, &h) || s[13] != ':' ||
      !digits(s, 14, 2, &mi) || s[16] != ':' || !digits(s, 17, 2, &se)) {
    return std::nullopt;
  }
  if (mo < 1 || mo > 12 || d < 1 || d > 31 || h > 23 || mi > 59 || se > 60) return std::nullopt;
  size_t i = 19;
  if (s[i] == '.') {
    const size_t first = ++i;
    while (i < s.size() && s[i] >= '0' && s[i] <= '9') i++;
    if (i == first) return std::nullopt;
  }
  int64_t offset = 0;
  if (i < s.size() && (s[i] == 'Z' || s[i] == 'z')) {
    i++;
  } else if (i < s.size() && (s[i] == '+' || s[i] == '-')) {
    int oh, om;
    if (!digits(s, i + 1, 2, &oh) || i + 3 >= s.size() || s[i + 3] != ':' || !digits(s, i + 4, 2, &om))
      return std::nullopt;
    offset = (s[i] == '-' ? -1 : 1) * (oh * 3600 + om * 60);
    i += 6;
  } else {
    return std::nullopt;
  }
  if (i != s.size()) return std::nullopt;
  return days_from_civil(y, mo, d) * 86400 + h * 3600 + mi * 60 + se - offset;
}

std::optional<int64_t> event_time(const Value& ev) {
  for (auto t : {time_at(ev, {}, "lastTimestamp"), time_at(ev, {"series"}, "lastObservedTime"),
                 time_at(ev, {}, "eventTime"), time_at(ev, {}, "firstTimestamp"),
                 time_at(ev, {"metadata"}, "creationTimestamp")}) {
    if (t) return t;
  }
  return std::nullopt;
}

int64_t event_count(const Value& ev) {
  int64_t n = field(ev, "count").as_int64(0);
  if (const Value* c = ev.at({"series", "count"})) n = std::max(n, c->as_int64(0));
  return std::max<int64_t>(n, 1);
}

std::string virtual_event_name(std::string_view host_event_name, const EventPod& pod) {
  if (!pod.host_name.empty() && host_event_name.starts_with(pod.host_name)) {
    return pod.vname + std::string(host_event_name.substr(pod.host_name.size()));
  }
  return std::string(host_event_name);
}

std::string virtual_event_message(std::string_view message, const EventPod& pod) {
  std::string m(message);
  replace_all(m, pod.host_namespace + "/" + pod.host_name, pod.vns + "/" + pod.vname);
  replace_all(m, pod.host_name, pod.vname);
  return m;
}

Value translate_event(const Value& hev, const EventPod& pod) {
  Value v = hev;
  Value& meta = v["metadata"];
  for (std::string_view k : {"generateName", "selfLink", "uid", "resourceVersion", "generation",
                             "creationTimestamp", "deletionTimestamp", "deletionGracePeriodSeconds",
                             "ownerReferences", "finalizers", "managedFields"}) {
    meta.erase(k);
  }
  meta["name"] = virtual_event_name(field(field(hev, "metadata"), "name").string_or(""), pod);
  meta["namespace"] = pod.vns;
  Value& io = v["involvedObject"];
  io["namespace"] = pod.vns;
  io["name"] = pod.vname;
  io["uid"] = pod.vuid;
  if (pod.vresource_version.empty()) {
    io.erase("resourceVersion");
  } else {
    io["resourceVersion"] = pod.vresource_version;
  }
  if (const Value* m = hev.find("message"); m && m->is_string()) {
    v["message"] = virtual_event_message(m->as_string(), pod);
  }
  return v;
}

Value event_patch(const Value& hev, const EventPod& pod) {
  Value p = Value::object();
  for (std::string_view k : {"count", "lastTimestamp", "series"}) {
    if (const Value* f = hev.find(k); f && !f->is_null()) p[k] = *f;
  }
  if (const Value* m = hev.find("message"); m && m->is_string()) {
    p["message"] = virtual_event_message(m->as_string(), pod);
  }
  return p;
}

}  // namespace vcp_pods
