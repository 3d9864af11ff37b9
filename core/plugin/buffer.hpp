// The engine side of `vcp_buf`: the growable byte buffer a plugin writes its results into.
//
// The ABI keeps `vcp_buf` opaque so that a plugin never sees (and never frees) engine memory; it can only
// append to or clear a buffer through the host table (`vcp_host_api.buf_append` / `buf_clear`). The engine
// owns every buffer and reads the bytes back as a std::string after the hook returns.
#pragma once
#include <vcp/plugin.h>

#include <cstddef>
#include <string>
#include <string_view>

// The definition lives in the global namespace because the ABI header declares `struct vcp_buf` there.
struct vcp_buf {
  std::string data;
};

namespace vc::plugin {

// Host-table service `buf_append`: appends `len` bytes at `data` to `buf`. A NULL buffer, or NULL data
// with a non-zero length, is ignored rather than dereferenced, because the caller is plugin code we do not
// trust to be correct. It is noexcept because an exception must never unwind through a plugin's C frames:
// running out of memory terminates the process, as it would in the rest of the engine.
void buf_append(vcp_buf* buf, const char* data, std::size_t len) noexcept;

// Host-table service `buf_clear`: empties `buf` (keeping its capacity for the next hook). NULL is ignored.
void buf_clear(vcp_buf* buf) noexcept;

// A view of a buffer's bytes, valid until the buffer changes.
inline std::string_view view(const vcp_buf& buf) {
  return buf.data;
}

// A borrowed ABI view of a string, for filling `vcp_sync_args` and friends.
inline vcp_str as_vcp_str(std::string_view s) {
  return vcp_str{s.data(), s.size()};
}

// A copy of an ABI view as a std::string; a NULL pointer reads as the empty string.
inline std::string to_string(vcp_str s) {
  return s.ptr == nullptr ? std::string() : std::string(s.ptr, s.len);
}

}  // namespace vc::plugin
