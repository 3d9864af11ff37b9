// The decoder of a Kubernetes watch stream: one JSON object per line ({"type": ..., "object": ...}), split
// across chunks anywhere. Apart from the client so that it can be unit-tested and fuzzed on its own: its
// input is whatever an API server (or whatever answers in its place) sends.
#pragma once

#include <simdjson.h>

#include <string>
#include <string_view>

#include "kube/client.hpp"
#include "util/error.hpp"

namespace vc::kube::detail {

// Splits a watch stream into lines and decodes each event. Kubernetes sends one JSON object per line.
struct WatchDecoder {
  std::string pending;
  simdjson::dom::parser parser;
  std::string minified;
  WatchHandlers h;
  bool gone = false;
  Error stream_error;

  // Hands every complete line of `chunk` (after what earlier chunks left pending) to line().
  void feed(std::string_view chunk) {
    size_t start = 0;
    if (!pending.empty()) {
      size_t nl = chunk.find('\n');
      if (nl == std::string_view::npos) {
        pending.append(chunk);
        return;
      }
      pending.append(chunk.substr(0, nl));
      line(pending);
      pending.clear();
      start = nl + 1;
    }
    while (start < chunk.size()) {
      size_t nl = chunk.find('\n', start);
      if (nl == std::string_view::npos) {
        pending.assign(chunk.substr(start));
        return;
      }
      line(chunk.substr(start, nl - start));
      start = nl + 1;
    }
  }

  // Decodes one line: an event for on_event, an ERROR event as stream_error (gone for 410), a line that is
  // not JSON as stream_error; lines without type and object are skipped.
  void line(std::string_view l) {
    if (l.empty() || l == "\r") return;
    simdjson::dom::element doc;
    if (parser.parse(l.data(), l.size()).get(doc) != simdjson::SUCCESS) {
      stream_error = Error(ErrorKind::kParse, "watch stream sent a line that is not JSON");
      return;
    }
    std::string_view type;
    simdjson::dom::element obj;
    if (doc["type"].get(type) != simdjson::SUCCESS || doc["object"].get(obj) != simdjson::SUCCESS) return;
    const bool text = h.need_text || type == "ERROR";
    if (text) minified = simdjson::minify(obj);
    WatchEvent ev{EventType::kAdded, text ? std::string_view(minified) : std::string_view(), &obj};
    if (type == "ADDED") {
      ev.type = EventType::kAdded;
    } else if (type == "MODIFIED") {
      ev.type = EventType::kModified;
    } else if (type == "DELETED") {
      ev.type = EventType::kDeleted;
    } else if (type == "BOOKMARK") {
      ev.type = EventType::kBookmark;
    } else if (type == "ERROR") {
      int64_t code = 0;
      if (obj["code"].get(code) != simdjson::SUCCESS) code = 0;
      if (code == 410) gone = true;
      std::string reason, message;
      parse_status(minified, &reason, &message);
      stream_error = Error(ErrorKind::kHttp, "watch error: " + message, static_cast<int>(code));
      ev.type = EventType::kError;
    } else {
      return;
    }
    if (h.on_event) h.on_event(ev);
    // The stream's parser keeps buffers for its largest event (about ten times its size): give them back
    // after a large one (a big ConfigMap), since events are usually kilobytes.
    if (l.size() > 64 * 1024) {
      parser = simdjson::dom::parser();
      minified = std::string();
    }
  }
};

}  // namespace vc::kube::detail
