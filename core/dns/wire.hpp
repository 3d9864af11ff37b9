// DNS messages in their RFC 1035 wire form: parse and serialize, with name compression (RFC 1035 §4.1.4),
// EDNS0 (RFC 6891) and truncation (the TC bit) when an answer does not fit what the client can take.
//
// Names are kept in wire form (length-prefixed labels ending with the root's zero byte), uncompressed, so
// that comparing, hashing and splitting them never needs the presentation form. Record data is kept
// uncompressed too: names inside CNAME, NS, PTR, MX, SOA and SRV data are expanded when a message is parsed
// and compressed again (those that RFC 1035 and RFC 3597 §4 allow) when one is written.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace vc::dns {

enum RRType : uint16_t {
  kTypeA = 1,
  kTypeNS = 2,
  kTypeCNAME = 5,
  kTypeSOA = 6,
  kTypePTR = 12,
  kTypeMX = 15,
  kTypeTXT = 16,
  kTypeAAAA = 28,
  kTypeSRV = 33,
  kTypeOPT = 41,
  kTypeIXFR = 251,
  kTypeAXFR = 252,
  kTypeANY = 255,
};
constexpr uint16_t kClassIN = 1;
constexpr uint16_t kClassANY = 255;

// Response codes; values above 15 travel partly in the OPT record (RFC 6891 §6.1.3).
enum Rcode : uint16_t {
  kNoError = 0,
  kFormErr = 1,
  kServFail = 2,
  kNXDomain = 3,
  kNotImp = 4,
  kRefused = 5,
  kBadVers = 16,
};
const char* rcode_name(uint16_t rcode);
// "A", "AAAA", ... or "TYPE<n>" (RFC 3597 §5).
std::string type_name(uint16_t type);

// The UDP payload size this server offers and honours: the DNS flag day 2020 value, which avoids IP
// fragmentation on any path.
constexpr size_t kEdnsUdpSize = 1232;
// Without EDNS a UDP message is at most 512 bytes (RFC 1035 §4.2.1); over TCP at most 65535 (the length
// prefix is 16 bits).
constexpr size_t kClassicUdpSize = 512;
constexpr size_t kMaxMessage = 65535;

struct Name {
  std::string wire;  // "\3www\7example\3com\0"; the root is "\0"

  // Reads "www.example.com" or "www.example.com." (escapes \. \\ \DDD allowed). False when a label is empty
  // or longer than 63 bytes, or the name longer than 255 bytes in wire form.
  static bool from_text(std::string_view text, Name* out);
  // A name from its wire form (checked); false when it is not one uncompressed name.
  static bool from_wire(std::string_view wire, Name* out);
  static Name root() { return Name{std::string(1, '\0')}; }
  // "www.example.com." with dots and backslashes in labels escaped, other unprintable bytes as \DDD.
  std::string text() const;
  bool is_root() const { return wire.size() <= 1; }
  // Case-insensitive comparison (ASCII letters only, RFC 4343).
  bool equals(const Name& o) const;
  // The name with ASCII letters lowered.
  Name lower() const;
  // Whether this name is `suffix` or below it (case-insensitive, on label boundaries).
  bool is_subdomain_of(const Name& suffix) const;
  // Splits into labels (views into `wire`, without their length bytes), leftmost first; at most `max`.
  // Returns the number of labels (not counting the root), or -1 when there are more than `max`.
  int labels(std::string_view* out, int max) const;
};

// Writes `s` as one label (length byte + bytes) into `out`; false when it is empty or longer than 63.
bool append_label(std::string* out, std::string_view s);

struct Question {
  Name name;
  uint16_t type = 0;
  uint16_t cls = kClassIN;
};

struct Record {
  Name name;
  uint16_t type = 0;
  uint16_t cls = kClassIN;
  uint32_t ttl = 0;
  std::string rdata;  // uncompressed (names inside are expanded)
};

struct Header {
  uint16_t id = 0;
  bool qr = false, aa = false, tc = false, rd = false, ra = false, ad = false, cd = false;
  uint8_t opcode = 0;
  uint16_t rcode = 0;  // 12 bits: the low 4 in the header, the rest in the OPT record
};

struct Edns {
  bool present = false;
  uint16_t udp_size = kClassicUdpSize;  // the sender's maximum UDP payload
  uint8_t version = 0;
  bool do_bit = false;
  std::string options;  // the OPT record's data, kept as received
};

struct Message {
  Header header;
  std::vector<Question> questions;
  std::vector<Record> answers, authority, additional;  // the OPT record is not in `additional`: see edns
  Edns edns;
};

enum class ParseStatus {
  kOk,
  kTooShort,   // fewer than 12 bytes: not even a header, nothing to answer
  kMalformed,  // the header was read (header.id, qr, opcode are valid) but the rest is not a DNS message
};
// Parses a message. On kMalformed, out->header holds what the header said, so that a server can answer
// FORMERR to the right ID.
ParseStatus parse(std::string_view data, Message* out);

// Writes `m` into *out (replacing its contents) in at most `max_size` bytes. Records that do not fit are
// left out, whole: when an answer or authority record is left out the TC bit is set (RFC 2181 §9);
// additional records are left out silently. Space for the OPT record is kept when m.edns.present. Names
// are compressed. The header counts and the extended rcode (in OPT) are computed here.
void serialize(const Message& m, size_t max_size, std::string* out);
std::string serialize(const Message& m, size_t max_size = kMaxMessage);

// Record data builders.
std::string rdata_name(const Name& target);  // CNAME, PTR, NS
std::string rdata_srv(uint16_t priority, uint16_t weight, uint16_t port, const Name& target);
std::string rdata_soa(const Name& mname, const Name& rname, uint32_t serial, uint32_t refresh, uint32_t retry,
                      uint32_t expire, uint32_t minimum);
std::string rdata_txt(std::string_view text);  // one or more character-strings of at most 255 bytes
// The SOA record's MINIMUM field (the negative-caching TTL, RFC 2308), or `fallback` when rdata is short.
uint32_t soa_minimum(std::string_view rdata, uint32_t fallback);

// Big-endian helpers shared by the parts of this folder.
inline void put16(std::string* out, uint16_t v) {
  out->push_back(static_cast<char>(v >> 8));
  out->push_back(static_cast<char>(v & 0xff));
}
inline void put32(std::string* out, uint32_t v) {
  put16(out, static_cast<uint16_t>(v >> 16));
  put16(out, static_cast<uint16_t>(v & 0xffff));
}
inline uint16_t get16(const unsigned char* p) {
  return static_cast<uint16_t>(p[0] << 8 | p[1]);
}
inline uint32_t get32(const unsigned char* p) {
  return static_cast<uint32_t>(p[0]) << 24 | static_cast<uint32_t>(p[1]) << 16 |
         static_cast<uint32_t>(p[2]) << 8 | p[3];
}

}  // namespace vc::dns
