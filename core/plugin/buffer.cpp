#include "plugin/buffer.hpp"

namespace vc::plugin {

void buf_append(vcp_buf* buf, const char* data, std::size_t len) noexcept {
  if (buf == nullptr || len == 0 || data == nullptr) {
    return;
  }
  buf->data.append(data, len);
}

void buf_clear(vcp_buf* buf) noexcept {
  if (buf == nullptr) {
    return;
  }
  buf->data.clear();
}

}  // namespace vc::plugin
