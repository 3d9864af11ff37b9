// Pod IP addresses for simulated nodes: the pod CIDR is cut into one equal block per node (what the
// node-IPAM controller does with --allocate-node-cidrs), and each block hands out addresses from a bitmap.
// Nothing ever connects to these addresses; they only have to be unique and plausible, so that Services,
// Endpoints and the syncer's pod-IP translation see what a real cluster would show.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "util/error.hpp"

namespace vc::nodesim {

// Parses dotted-quad IPv4 text; false when it is not exactly four numbers 0..255.
bool parse_ipv4(std::string_view text, uint32_t* out);
std::string format_ipv4(uint32_t ip);

// "10.244.0.0/16" into base and prefix length; the base must have no bits beyond the prefix, as
// Kubernetes' own CIDR flags require.
Error parse_cidr(std::string_view text, uint32_t* base, int* prefix);

// One node's addresses. The first two offsets (the network address and the gateway a bridge CNI gives
// itself) and the last (broadcast) are never handed out, as on a real node.
class Block {
 public:
  Block() = default;
  Block(uint32_t base, int prefix);

  std::string cidr() const;  // "10.244.16.0/20"
  uint32_t base() const { return base_; }
  uint32_t size() const { return size_; }
  uint32_t usable() const { return size_ > 3 ? size_ - 3 : 0; }
  uint32_t in_use() const { return used_; }
  bool contains(uint32_t ip) const { return ip - base_ < size_; }

  // The next free address after the last one handed out, wrapping around, so a released address is not
  // reused at once (a Service's endpoints may still show it). Amortised O(1): the cursor only moves on.
  // Returns false when the block is full.
  bool allocate(uint32_t* ip);
  // Marks an address as used (a pod that already runs, found at start). False if outside the block, one
  // of the reserved offsets, or already used.
  bool reserve(uint32_t ip);
  // Frees an address; false if it was not in use.
  bool release(uint32_t ip);
  bool used(uint32_t ip) const;

 private:
  bool reserved_offset(uint32_t off) const { return off < 2 || off + 1 == size_; }
  uint32_t base_ = 0, size_ = 0, used_ = 0, cursor_ = 2;
  int prefix_ = 32;
  std::vector<uint64_t> bits_;
};

// Cuts `cidr` into `nodes` equal power-of-two blocks (the smallest prefix that gives each node its own) and
// checks that each block can hold `max_pods` addresses; the error names the flags to change.
Error plan_blocks(std::string_view cidr, int nodes, int max_pods, std::vector<Block>* out);

}  // namespace vc::nodesim
