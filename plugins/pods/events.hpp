// Host → virtual copies of the Events about synced pods, as vcluster's events syncer makes them
// (vcluster-behaviour.md §9 "events": copied with name and message rewritten, never deleted). The functions
// here read only their arguments, so the tests pin their output exactly; when to write (start time, counts,
// writes in flight) is decided in plugin.cpp.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "json/json.hpp"

namespace vcp_pods {

// Seconds since the Unix epoch of an RFC 3339 time as the API server writes them ("2024-05-01T10:00:05Z",
// MicroTime "2024-05-01T10:00:05.123456Z"; a numeric offset is accepted too), or nullopt when malformed.
std::optional<int64_t> parse_time(std::string_view text);

// When an Event last happened: lastTimestamp, else series.lastObservedTime, else eventTime, else
// firstTimestamp, else metadata.creationTimestamp. Events written through events.k8s.io/v1 (the scheduler's)
// have no lastTimestamp, only eventTime and, once repeated, a series.
std::optional<int64_t> event_time(const vc::json::Value& event);

// How often an Event happened: the larger of count and series.count, and at least 1.
int64_t event_count(const vc::json::Value& event);

// The pod an Event is about, on both sides.
struct EventPod {
  std::string host_namespace, host_name;
  std::string vns, vname, vuid, vresource_version;
};

// The name of the virtual copy: a host name starting with the host pod's name ("<pod>.<hex>", as every
// recorder names them) gets the virtual pod's name instead; any other name is kept (vcluster does the same).
std::string virtual_event_name(std::string_view host_event_name, const EventPod& pod);

// The message with "<host ns>/<host pod>" replaced by "<vns>/<vname>", then every other "<host pod>" by
// "<vname>", so that it reads as if the virtual cluster had a scheduler and kubelets of its own.
std::string virtual_event_message(std::string_view message, const EventPod& pod);

// The virtual Event to create: the whole host Event (reason, type, message, counts, timestamps, source and
// reporting fields), its server-set metadata dropped, named by virtual_event_name in the virtual pod's
// namespace, and its involvedObject pointing at the virtual pod (namespace, name, uid, resourceVersion).
vc::json::Value translate_event(const vc::json::Value& host_event, const EventPod& pod);

// The JSON merge patch that brings an existing virtual copy up to date after the host Event repeated: the
// rewritten message and those of count, lastTimestamp and series the host Event has.
vc::json::Value event_patch(const vc::json::Value& host_event, const EventPod& pod);

}  // namespace vcp_pods
