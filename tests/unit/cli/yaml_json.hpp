// Test helper: reads YAML back into JSON the way Kubernetes' YAML reader would, to check what the CLI prints.
#pragma once
#include <yaml-cpp/yaml.h>

#include <cstdlib>
#include <string>

#include "json/json.hpp"

namespace vc::cli::test {

using vc::json::Value;

// Converts a yaml-cpp node back to JSON the way Kubernetes' YAML reader would (YAML 1.1 scalars): plain
// true/false/yes/no become booleans, plain numbers numbers, ~ and null null, everything quoted a string.
inline Value from_yaml(const YAML::Node& n) {
  switch (n.Type()) {
    case YAML::NodeType::Map: {
      Value o = Value::object();
      for (auto it = n.begin(); it != n.end(); ++it) o[it->first.as<std::string>()] = from_yaml(it->second);
      return o;
    }
    case YAML::NodeType::Sequence: {
      Value a = Value::array();
      for (auto it = n.begin(); it != n.end(); ++it) a.push_back(from_yaml(*it));
      return a;
    }
    case YAML::NodeType::Scalar: {
      std::string s = n.Scalar();
      if (n.Tag() == "!") return Value(s);  // quoted
      static const char* t[] = {"true", "True", "TRUE", "yes", "Yes", "on", "On", "y"};
      static const char* f[] = {"false", "False", "FALSE", "no", "No", "off", "Off", "n"};
      for (auto w : t)
        if (s == w) return Value(true);
      for (auto w : f)
        if (s == w) return Value(false);
      if (s == "~" || s == "null" || s == "Null") return Value(nullptr);
      char* end = nullptr;
      long long i = std::strtoll(s.c_str(), &end, 0);
      if (!s.empty() && *end == '\0') return Value(static_cast<int64_t>(i));
      double d = std::strtod(s.c_str(), &end);
      if (!s.empty() && *end == '\0') return Value(d);
      return Value(s);
    }
    default:
      return Value(nullptr);
  }
}

}  // namespace vc::cli::test
