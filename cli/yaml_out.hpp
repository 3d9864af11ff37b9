// Writing JSON values as YAML for `vcluster create --print`, the form people read and `kubectl apply -f`
// takes. Block style throughout; a string is written plain only when no YAML reader could take it for
// anything else (a boolean, a number, null, an anchor...), otherwise JSON-quoted, which YAML accepts.
#pragma once

#include <string>
#include <vector>

#include "json/json.hpp"

namespace vc::cli {

// One YAML document (no leading "---").
std::string to_yaml(const json::Value& v);

// Several documents, each started with "---".
std::string to_yaml_documents(const std::vector<json::Value>& docs);

}  // namespace vc::cli
