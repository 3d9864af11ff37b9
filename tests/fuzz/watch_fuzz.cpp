// libFuzzer target: the watch-stream decoder (core/kube/watch_decoder.hpp), fed what an API server, or
// whatever answers in its place, may send, split into two chunks at a point the input chooses.
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "kube/watch_decoder.hpp"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size == 0) return 0;
  const bool need_text = (data[0] & 1) != 0;
  size_t cut = size > 1 ? data[0] % size : 0;
  std::string_view text(reinterpret_cast<const char*>(data) + 1, size - 1);
  if (cut > text.size()) cut = text.size();
  vc::kube::detail::WatchDecoder dec;
  dec.h.need_text = need_text;
  // Every event's views are read while valid, so a view into freed memory trips AddressSanitizer.
  volatile size_t seen = 0;
  dec.h.on_event = [&seen](const vc::kube::WatchEvent& ev) {
    for (char c : ev.object) seen = seen + static_cast<unsigned char>(c);
    if (ev.element != nullptr) seen = seen + (ev.element->is_object() ? 1 : 0);
  };
  dec.feed(text.substr(0, cut));
  dec.feed(text.substr(cut));
  dec.feed("\n");
  return 0;
}
