#include "pack/pack.hpp"

#include <algorithm>
#include <cstring>

namespace vc::pack {
namespace {

constexpr size_t kDictDepth = 24;   // dictionary candidates tried per position
constexpr size_t kInputDepth = 8;   // earlier positions of the text itself tried per position
constexpr size_t kGoodEnough = 96;  // a match this long ends the search
constexpr int kInputBits = 12;

inline uint32_t load4(const char* p) {
  uint32_t v;
  std::memcpy(&v, p, 4);
  return v;
}
inline uint32_t hash4(const char* p, int bits) {
  return (load4(p) * 2654435761u) >> (32 - bits);
}

void put_varint(std::string& out, uint64_t v) {
  while (v >= 0x80) {
    out.push_back(static_cast<char>((v & 0x7f) | 0x80));
    v >>= 7;
  }
  out.push_back(static_cast<char>(v));
}

bool get_varint(std::string_view s, size_t* pos, uint64_t* v) {
  uint64_t r = 0;
  for (int shift = 0; shift < 64; shift += 7) {
    if (*pos >= s.size()) return false;
    auto b = static_cast<unsigned char>(s[(*pos)++]);
    r |= static_cast<uint64_t>(b & 0x7f) << shift;
    if (!(b & 0x80)) {
      *v = r;
      return true;
    }
  }
  return false;
}

int dict_bits(size_t n) {
  int bits = 6;
  while (bits < 13 && (size_t{1} << bits) < n) bits++;
  return bits;
}

}  // namespace

DictIndex::DictIndex(std::string_view dict) : dict_(dict) {
  if (dict.size() < 4) return;
  int bits = dict_bits(dict.size());
  head_.assign(size_t{1} << bits, 0);
  chain_.assign(dict.size(), 0);
  for (size_t i = 0; i + 4 <= dict.size(); i++) {
    uint32_t h = hash4(dict.data() + i, bits);
    chain_[i] = head_[h];
    head_[h] = static_cast<uint32_t>(i + 1);
  }
}

std::string pack(std::string_view raw, const DictIndex* index) {
  std::string out;
  out.reserve(raw.size() / 4 + 16);
  put_varint(out, raw.size());
  const size_t n = raw.size();
  const char* s = raw.data();
  const std::string_view dict = index ? index->dict_ : std::string_view{};
  const size_t d = dict.size();
  const bool use_dict = index && !index->head_.empty();
  const int dbits = use_dict ? dict_bits(d) : 0;

  // Positions of the text itself, by hash (thread-local scratch: packing runs on the loop and, for list
  // pages, on the pool's threads).
  thread_local std::vector<uint32_t> ihead, ichain;
  ihead.assign(size_t{1} << kInputBits, 0);
  ichain.assign(n, 0);
  auto insert = [&](size_t i) {
    uint32_t h = hash4(s + i, kInputBits);
    ichain[i] = ihead[h];
    ihead[h] = static_cast<uint32_t>(i + 1);
  };

  size_t lit_start = 0, i = 0;
  while (i + kMinMatch <= n) {
    const size_t limit = n - i;
    size_t best_len = 0, best_dist = 0;
    if (use_dict) {
      uint32_t p = index->head_[hash4(s + i, dbits)];
      for (size_t depth = 0; p && depth < kDictDepth; depth++, p = index->chain_[p - 1]) {
        size_t q = p - 1, len = 0;
        // dictionary ++ text is one stream: a match that reaches the dictionary's end goes on in the text.
        while (q + len < d && len < limit && dict[q + len] == s[i + len]) len++;
        if (q + len == d)
          for (size_t m = 0; len < limit && s[m] == s[i + len]; m++) len++;
        if (len > best_len) {
          best_len = len;
          best_dist = d + i - q;
          if (len >= kGoodEnough) break;
        }
      }
    }
    if (best_len < kGoodEnough) {
      uint32_t p = ihead[hash4(s + i, kInputBits)];
      for (size_t depth = 0; p && depth < kInputDepth; depth++, p = ichain[p - 1]) {
        size_t j = p - 1, len = 0;
        while (len < limit && s[j + len] == s[i + len]) len++;
        if (len > best_len) {
          best_len = len;
          best_dist = i - j;
          if (len >= kGoodEnough) break;
        }
      }
    }
    if (best_len < kMinMatch) {
      insert(i);
      i++;
      continue;
    }
    put_varint(out, i - lit_start);
    out.append(s + lit_start, i - lit_start);
    put_varint(out, best_dist);
    put_varint(out, best_len - kMinMatch);
    // Index the match's first bytes and then every fourth position: enough to find repeats later in the
    // text without paying a hash insert per byte of long dictionary matches.
    size_t end = i + best_len;
    for (size_t k = i; k < end && k + 4 <= n; k += (k - i < 8 ? 1 : 4)) insert(k);
    i = end;
    lit_start = i;
  }
  put_varint(out, n - lit_start);
  out.append(s + lit_start, n - lit_start);
  out.shrink_to_fit();
  // The chain is four bytes per input byte: after a large object (a ConfigMap of a megabyte) give it back
  // instead of keeping it for the thread's life.
  if (ichain.capacity() > 64 * 1024) std::vector<uint32_t>().swap(ichain);
  return out;
}

size_t unpacked_size(std::string_view packed) {
  size_t pos = 0;
  uint64_t n = 0;
  return get_varint(packed, &pos, &n) ? static_cast<size_t>(n) : 0;
}

bool unpack(std::string_view packed, std::string_view dict, std::string* out) {
  size_t pos = 0;
  uint64_t n = 0;
  out->clear();
  // Packed text is only ever our own (a cache's), so a bad size is a bug, not an attack; it is still
  // refused rather than allocated when it is beyond anything a cache holds.
  if (!get_varint(packed, &pos, &n) || n > (uint64_t{1} << 32)) return false;
  out->resize(static_cast<size_t>(n));
  char* o = out->data();
  size_t at = 0;
  const size_t d = dict.size();
  for (;;) {
    uint64_t lit;
    if (!get_varint(packed, &pos, &lit) || lit > n - at || lit > packed.size() - pos) return false;
    std::memcpy(o + at, packed.data() + pos, lit);
    pos += lit;
    at += lit;
    if (at == n) return pos == packed.size();
    uint64_t dist, len;
    if (!get_varint(packed, &pos, &dist) || !get_varint(packed, &pos, &len)) return false;
    len += kMinMatch;
    if (dist == 0 || dist > d + at || len > n - at) return false;
    size_t src = d + at - dist;  // in dictionary ++ output
    if (src < d) {
      size_t k = std::min<size_t>(len, d - src);
      std::memcpy(o + at, dict.data() + src, k);
      at += k;
      len -= k;
      src = 0;
    } else {
      src -= d;
    }
    if (len == 0) continue;
    if (at - src >= len) {
      std::memcpy(o + at, o + src, len);
      at += len;
    } else {
      for (size_t k = 0; k < len; k++) o[at++] = o[src + k];  // overlapping: a run
    }
  }
}

std::string Packer::pack(std::string_view raw, DictPtr* dict) {
  std::string p = vc::pack::pack(raw, dict_ ? &index_ : nullptr);
  if (p.size() * 8 > raw.size() && raw.size() >= 64 && dict_size() + raw.size() <= max_dict_) {
    auto next = std::make_shared<Dict>();
    next->text.reserve(dict_size() + raw.size());
    if (dict_) next->text = dict_->text;
    next->text.append(raw);
    dict_ = std::move(next);
    index_ = DictIndex(dict_->text);
    p = vc::pack::pack(raw, &index_);
  }
  *dict = dict_;
  return p;
}

}  // namespace vc::pack
