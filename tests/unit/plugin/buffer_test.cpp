#include "plugin/buffer.hpp"

#include <doctest/doctest.h>

namespace vc::plugin {

TEST_CASE("buf_append appends bytes, embedded NULs included, and buf_clear empties the buffer") {
  vcp_buf buf;
  buf_append(&buf, "ab", 2);
  buf_append(&buf, "c\0d", 3);
  CHECK(buf.data == std::string("abc\0d", 5));
  buf_clear(&buf);
  CHECK(buf.data.empty());
  buf_append(&buf, "x", 1);
  CHECK(view(buf) == "x");
}

TEST_CASE("buf_append ignores a NULL buffer and NULL data instead of crashing the engine") {
  vcp_buf buf;
  buf_append(nullptr, "ab", 2);
  buf_clear(nullptr);
  buf_append(&buf, nullptr, 5);
  buf_append(&buf, nullptr, 0);
  CHECK(buf.data.empty());
}

TEST_CASE("to_string reads a NULL view as the empty string") {
  CHECK(to_string(vcp_str{nullptr, 0}).empty());
  CHECK(to_string(as_vcp_str("pods")) == "pods");
}

}  // namespace vc::plugin
