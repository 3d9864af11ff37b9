// SHA-256 (FIPS 180-4), for vcluster's SafeConcatName. A plugin builds only against the ABI header and the
// JSON SDK, and the host table has no hashing service, so the plugin carries its own small implementation.
#pragma once

#include <array>
#include <cstdint>
#include <string>
#include <string_view>

namespace vcp_storage {

// The 32-byte digest of `data`.
std::array<uint8_t, 32> sha256(std::string_view data);

// The digest as 64 lowercase hex digits.
std::string sha256_hex(std::string_view data);

// vcluster's SafeConcatName over parts joined with "-": the joined string when it is at most 63 bytes,
// else its first 52 bytes, "-" and the first 10 hex digits of its SHA-256, with every ".-" turned into "-"
// (vcluster-behaviour.md §1.1).
std::string safe_concat(std::initializer_list<std::string_view> parts);

}  // namespace vcp_storage
