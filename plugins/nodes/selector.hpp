// Kubernetes label selectors in their string form ("k=v,tier in (a,b),!legacy"), for sync.nodes.nodeSelector.
// The grammar is the one `kubectl get -l` and client-go's labels.Parse accept, minus the numeric `gt`/`lt`
// operators, which label selectors of node lists do not use and which the parser refuses with a sentence.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "json/json.hpp"

namespace vcp_nodes {

struct Requirement {
  enum class Op { kEquals, kNotEquals, kIn, kNotIn, kExists, kDoesNotExist };
  std::string key;
  Op op = Op::kExists;
  std::vector<std::string> values;  // one for kEquals/kNotEquals, the set for kIn/kNotIn
};

struct Selector {
  std::vector<Requirement> requirements;  // all must hold; none = everything matches

  // True when `labels` (a JSON object of strings, or null for a node without labels) satisfies every
  // requirement. As in Kubernetes, `k!=v` and `k notin (...)` also match objects that lack `k`.
  bool matches(const vc::json::Value* labels) const;
};

// Parses `text`. Returns false with a sentence in *why (naming the offending term) when it is malformed.
bool parse_selector(std::string_view text, Selector* out, std::string* why);

}  // namespace vcp_nodes
