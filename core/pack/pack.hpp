// Packed text: how the caches hold objects. A cached Kubernetes object repeats most of its bytes from other
// objects of its kind (the keys, the defaulted fields, the image, the namespace, the vcluster's marks), so
// each one is stored as LZ77 references into a dictionary shared by its cache plus the bytes that are its
// own: a host pod of 4 KB packs to a few hundred bytes. The dictionary is learned from the objects
// themselves (Packer), so no kind needs a hand-written template.
//
// Format (all integers LEB128 varints): the unpacked size, then sequences of
//   literal length, literal bytes, [distance, match length - kMinMatch]
// where the match part is absent once the output is complete. A match copies `length` bytes starting
// `distance` bytes back in dictionary ++ output (so it may start in the dictionary and run into the
// output, or overlap itself).
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

namespace vc::pack {

inline constexpr size_t kMinMatch = 6;

// The text packed objects refer to. Immutable; each packed object holds the dictionary it was packed with.
struct Dict {
  std::string text;
};
using DictPtr = std::shared_ptr<const Dict>;

// A match finder over one dictionary: hash chains of its 4-byte sequences. Built once per dictionary.
class DictIndex {
 public:
  DictIndex() = default;
  explicit DictIndex(std::string_view dict);
  std::string_view dict() const { return dict_; }

 private:
  friend std::string pack(std::string_view raw, const DictIndex* index);
  std::string_view dict_;
  std::vector<uint32_t> head_;   // hash -> last position + 1 (0 = none)
  std::vector<uint32_t> chain_;  // position -> previous position with the same hash + 1
};

// Packs `raw` against the indexed dictionary (nullptr: no dictionary; only repeats within `raw` are found).
std::string pack(std::string_view raw, const DictIndex* index);
// Unpacks into *out (replacing it). False when the data is corrupt or refers past the dictionary.
bool unpack(std::string_view packed, std::string_view dict, std::string* out);
// The unpacked size recorded at the start of `packed` (0 if unreadable).
size_t unpacked_size(std::string_view packed);

// Packs a stream of similar texts and learns its dictionary from them: while the dictionary is below its
// limit, a text that packs to more than an eighth of its size is appended to it (and then packs to almost
// nothing). Texts packed earlier keep the dictionary they were packed with (DictPtr), so a dictionary in use
// is never changed, only replaced.
class Packer {
 public:
  explicit Packer(size_t max_dict = 16 * 1024) : max_dict_(max_dict) {}
  // Returns the packed text and sets *dict to what it refers to (nullptr when it refers to no dictionary).
  std::string pack(std::string_view raw, DictPtr* dict);
  const DictPtr& dict() const { return dict_; }
  size_t dict_size() const { return dict_ ? dict_->text.size() : 0; }

 private:
  size_t max_dict_;
  DictPtr dict_;
  DictIndex index_;
};

}  // namespace vc::pack
