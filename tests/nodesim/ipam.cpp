#include "ipam.hpp"

#include <bit>
#include <charconv>

namespace vc::nodesim {

bool parse_ipv4(std::string_view text, uint32_t* out) {
  uint32_t ip = 0;
  const char* p = text.data();
  const char* end = text.data() + text.size();
  for (int i = 0; i < 4; ++i) {
    if (i > 0) {
      if (p == end || *p != '.') return false;
      ++p;
    }
    unsigned v = 0;
    auto r = std::from_chars(p, end, v);
    // A leading '+' or an empty part is refused by from_chars; more than three digits or a value above 255
    // is not an octet.
    if (r.ec != std::errc() || r.ptr - p > 3 || v > 255) return false;
    p = r.ptr;
    ip = (ip << 8) | v;
  }
  if (p != end) return false;
  *out = ip;
  return true;
}

std::string format_ipv4(uint32_t ip) {
  return std::to_string(ip >> 24) + "." + std::to_string((ip >> 16) & 255) + "." +
         std::to_string((ip >> 8) & 255) + "." + std::to_string(ip & 255);
}

Error parse_cidr(std::string_view text, uint32_t* base, int* prefix) {
  size_t slash = text.find('/');
  auto bad = [&](const std::string& why) {
    return Error(ErrorKind::kInvalidArgument, "--pod-cidr '" + std::string(text) + "' " + why);
  };
  if (slash == std::string_view::npos) return bad("needs a prefix length, e.g. 10.244.0.0/16");
  uint32_t ip = 0;
  if (!parse_ipv4(text.substr(0, slash), &ip)) return bad("is not an IPv4 CIDR (only IPv4 is simulated)");
  std::string_view plen = text.substr(slash + 1);
  int p = -1;
  auto r = std::from_chars(plen.data(), plen.data() + plen.size(), p);
  if (r.ec != std::errc() || r.ptr != plen.data() + plen.size() || p < 0 || p > 32)
    return bad("has a prefix length that is not 0..32");
  uint32_t mask = p == 0 ? 0 : ~uint32_t{0} << (32 - p);
  if ((ip & ~mask) != 0)
    return bad("has host bits set; write the network address, e.g. " + format_ipv4(ip & mask) + "/" +
               std::to_string(p));
  *base = ip;
  *prefix = p;
  return {};
}

Block::Block(uint32_t base, int prefix)
    : base_(base),
      size_(prefix >= 32 ? 1 : uint32_t{1} << (32 - prefix)),
      prefix_(prefix),
      bits_((size_ + 63) / 64) {}

std::string Block::cidr() const {
  return format_ipv4(base_) + "/" + std::to_string(prefix_);
}

bool Block::used(uint32_t ip) const {
  if (!contains(ip)) return false;
  uint32_t off = ip - base_;
  return (bits_[off / 64] >> (off % 64)) & 1;
}

bool Block::allocate(uint32_t* ip) {
  if (used_ >= usable()) return false;
  // Scan word by word from the cursor: a word with a zero bit yields an address after at most one
  // countr_one, so a block with room costs one or two word reads in the common case.
  uint32_t off = cursor_ < size_ ? cursor_ : 0;
  for (uint32_t steps = 0; steps <= size_ / 64 + 1; ++steps) {
    uint32_t w = off / 64;
    uint64_t word = bits_[w] | ((uint64_t{1} << (off % 64)) - 1);  // bits before `off` count as taken
    while (word != ~uint64_t{0}) {
      uint32_t cand = w * 64 + static_cast<uint32_t>(std::countr_one(word));
      if (cand >= size_) break;
      if (!reserved_offset(cand)) {
        bits_[w] |= uint64_t{1} << (cand % 64);
        ++used_;
        cursor_ = cand + 1;
        *ip = base_ + cand;
        return true;
      }
      word |= uint64_t{1} << (cand % 64);
    }
    off = (w + 1) * 64;
    if (off >= size_) off = 0;
  }
  return false;
}

bool Block::reserve(uint32_t ip) {
  if (!contains(ip)) return false;
  uint32_t off = ip - base_;
  if (reserved_offset(off) || used(ip)) return false;
  bits_[off / 64] |= uint64_t{1} << (off % 64);
  ++used_;
  return true;
}

bool Block::release(uint32_t ip) {
  if (!used(ip)) return false;
  uint32_t off = ip - base_;
  bits_[off / 64] &= ~(uint64_t{1} << (off % 64));
  --used_;
  return true;
}

Error plan_blocks(std::string_view cidr, int nodes, int max_pods, std::vector<Block>* out) {
  uint32_t base = 0;
  int prefix = 0;
  if (Error e = parse_cidr(cidr, &base, &prefix)) return e;
  int extra = 0;
  while ((int64_t{1} << extra) < nodes) ++extra;
  int node_prefix = prefix + extra;
  if (node_prefix > 30)
    return Error(ErrorKind::kInvalidArgument, "--pod-cidr " + std::string(cidr) + " is too small for " +
                                                  std::to_string(nodes) +
                                                  " nodes; use a shorter prefix or fewer --nodes");
  Block probe(base, node_prefix);
  if (probe.usable() < static_cast<uint32_t>(max_pods))
    return Error(ErrorKind::kInvalidArgument,
                 "--pod-cidr " + std::string(cidr) + " gives each of " + std::to_string(nodes) +
                     " nodes a /" + std::to_string(node_prefix) + " with " + std::to_string(probe.usable()) +
                     " pod addresses, fewer than --max-pods " + std::to_string(max_pods) +
                     "; use a shorter prefix, fewer --nodes or a lower --max-pods");
  out->clear();
  out->reserve(static_cast<size_t>(nodes));
  for (int i = 0; i < nodes; ++i)
    out->emplace_back(base + static_cast<uint32_t>(i) * probe.size(), node_prefix);
  return {};
}

}  // namespace vc::nodesim
