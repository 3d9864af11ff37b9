#include "dns/wire.hpp"

#include <cstring>

namespace vc::dns {
namespace {

constexpr size_t kMaxName = 255;
constexpr size_t kMaxLabel = 63;
// A compression pointer is 14 bits: names written later than this offset cannot be pointed to.
constexpr size_t kMaxPointerTarget = 0x3fff;
// Offsets remembered for compression. A few hundred cover every suffix worth pointing to (the question's
// name and the zone's names come first); a 4,000-record TCP answer would otherwise make compression
// quadratic.
constexpr size_t kMaxCompressionEntries = 256;

unsigned char lower_byte(unsigned char c) {
  return (c >= 'A' && c <= 'Z') ? static_cast<unsigned char>(c + 32) : c;
}

// Reads a possibly compressed name at *pos of msg into its uncompressed wire form. Pointers must point
// backwards (before the label that holds them), which rules out loops; the expanded name must fit 255 bytes.
bool read_name(const unsigned char* msg, size_t len, size_t* pos, std::string* out) {
  out->clear();
  size_t p = *pos;
  size_t end_of_first = 0;  // where the caller's reading resumes, once a pointer was followed
  bool jumped = false;
  size_t limit = p;  // a pointer must point before this
  for (int hops = 0; hops < 128;) {
    if (p >= len) return false;
    unsigned char c = msg[p];
    if (c == 0) {
      out->push_back('\0');
      if (!jumped) end_of_first = p + 1;
      *pos = end_of_first;
      return out->size() <= kMaxName;
    }
    if ((c & 0xc0) == 0xc0) {
      if (p + 1 >= len) return false;
      size_t target = static_cast<size_t>(c & 0x3f) << 8 | msg[p + 1];
      if (target >= limit) return false;
      if (!jumped) end_of_first = p + 2;
      jumped = true;
      limit = target;
      p = target;
      hops++;
      continue;
    }
    if ((c & 0xc0) != 0) return false;  // the 01 and 10 label types (RFC 6891 §5 obsoleted them)
    if (p + 1 + c > len) return false;
    out->append(reinterpret_cast<const char*>(msg + p), 1 + c);
    if (out->size() + 1 > kMaxName) return false;
    p += 1 + c;
  }
  return false;
}

// Whether the name written at `off` in `out` (possibly through pointers) equals the uncompressed `suffix`,
// ignoring case.
bool match_at(const std::string& out, size_t off, std::string_view suffix) {
  const auto* m = reinterpret_cast<const unsigned char*>(out.data());
  size_t i = 0;
  for (int hops = 0; hops < 64;) {
    if (off >= out.size() || i >= suffix.size()) return false;
    unsigned char c = m[off];
    if ((c & 0xc0) == 0xc0) {
      off = static_cast<size_t>(c & 0x3f) << 8 | m[off + 1];
      hops++;
      continue;
    }
    if (c != static_cast<unsigned char>(suffix[i])) return false;
    if (c == 0) return true;
    for (size_t k = 1; k <= c; k++)
      if (lower_byte(m[off + k]) != lower_byte(static_cast<unsigned char>(suffix[i + k]))) return false;
    off += 1 + c;
    i += 1 + c;
  }
  return false;
}

class Writer {
 public:
  explicit Writer(std::string* out) : out_(out) {}
  // Writes a name, pointing to an earlier copy of its longest known suffix when `compress`; every suffix
  // written out in full is remembered for later names (also when not compressed: pointing to it is allowed).
  void name(std::string_view wire, bool compress) {
    size_t i = 0;
    while (i < wire.size() && wire[i] != '\0') {
      std::string_view suffix = wire.substr(i);
      if (compress) {
        for (uint16_t off : entries_) {
          if (match_at(*out_, off, suffix)) {
            put16(out_, static_cast<uint16_t>(0xc000 | off));
            return;
          }
        }
      }
      if (out_->size() <= kMaxPointerTarget && entries_.size() < kMaxCompressionEntries)
        entries_.push_back(static_cast<uint16_t>(out_->size()));
      size_t n = static_cast<unsigned char>(wire[i]);
      out_->append(wire.data() + i, 1 + n);
      i += 1 + n;
    }
    out_->push_back('\0');
  }
  bool record(const Record& r) {
    name(r.name.wire, true);
    put16(out_, r.type);
    put16(out_, r.cls);
    put32(out_, r.ttl);
    size_t len_at = out_->size();
    put16(out_, 0);
    std::string_view d = r.rdata;
    auto name_at = [&](size_t at, bool compress) -> size_t {
      // The length of the uncompressed name at `at` of the data (checked when it was parsed or built).
      size_t k = at;
      while (k < d.size() && d[k] != '\0') k += 1 + static_cast<unsigned char>(d[k]);
      if (k >= d.size()) return std::string_view::npos;
      name(d.substr(at, k + 1 - at), compress);
      return k + 1;
    };
    bool ok = true;
    switch (r.type) {
      case kTypeCNAME:
      case kTypeNS:
      case kTypePTR:
        ok = name_at(0, true) == d.size();
        break;
      case kTypeMX:
        if (d.size() < 3) {
          ok = false;
          break;
        }
        out_->append(d.substr(0, 2));
        ok = name_at(2, true) == d.size();
        break;
      case kTypeSOA: {
        size_t a = name_at(0, true);
        size_t b = a == std::string_view::npos ? a : name_at(a, true);
        ok = b != std::string_view::npos && d.size() == b + 20;
        if (ok) out_->append(d.substr(b));
        break;
      }
      case kTypeSRV:
        // RFC 2782: the target is not compressed.
        if (d.size() < 7) {
          ok = false;
          break;
        }
        out_->append(d.substr(0, 6));
        ok = name_at(6, false) == d.size();
        break;
      default:
        out_->append(d);
    }
    if (!ok) {
      // Data that is not what its type says is written as it is, uncompressed.
      out_->resize(len_at + 2);
      out_->append(d);
    }
    size_t rdlen = out_->size() - len_at - 2;
    if (rdlen > 0xffff) return false;
    (*out_)[len_at] = static_cast<char>(rdlen >> 8);
    (*out_)[len_at + 1] = static_cast<char>(rdlen & 0xff);
    return true;
  }
  size_t mark() const { return entries_.size(); }
  void rollback(size_t size, size_t mark) {
    out_->resize(size);
    entries_.resize(mark);
  }

 private:
  std::string* out_;
  std::vector<uint16_t> entries_;
};

bool parse_rdata(const unsigned char* msg, size_t len, size_t start, size_t rdlen, uint16_t type,
                 std::string* out) {
  out->clear();
  size_t end = start + rdlen;
  std::string n;
  auto name_then = [&](size_t* p) {
    if (!read_name(msg, end, p, &n)) return false;
    out->append(n);
    return true;
  };
  size_t p = start;
  switch (type) {
    case kTypeCNAME:
    case kTypeNS:
    case kTypePTR:
      if (!name_then(&p)) return false;
      break;
    case kTypeMX:
      if (rdlen < 3) return false;
      out->append(reinterpret_cast<const char*>(msg + p), 2);
      p += 2;
      if (!name_then(&p)) return false;
      break;
    case kTypeSOA:
      if (!name_then(&p) || !name_then(&p)) return false;
      if (end - p != 20) return false;
      out->append(reinterpret_cast<const char*>(msg + p), 20);
      p += 20;
      break;
    case kTypeSRV:
      if (rdlen < 7) return false;
      out->append(reinterpret_cast<const char*>(msg + p), 6);
      p += 6;
      if (!name_then(&p)) return false;
      break;
    default:
      out->assign(reinterpret_cast<const char*>(msg + start), rdlen);
      return true;
  }
  (void)len;
  return p == end;
}

}  // namespace

const char* rcode_name(uint16_t rcode) {
  switch (rcode) {
    case kNoError:
      return "NOERROR";
    case kFormErr:
      return "FORMERR";
    case kServFail:
      return "SERVFAIL";
    case kNXDomain:
      return "NXDOMAIN";
    case kNotImp:
      return "NOTIMP";
    case kRefused:
      return "REFUSED";
    case kBadVers:
      return "BADVERS";
    default:
      return "OTHER";
  }
}

std::string type_name(uint16_t type) {
  switch (type) {
    case kTypeA:
      return "A";
    case kTypeNS:
      return "NS";
    case kTypeCNAME:
      return "CNAME";
    case kTypeSOA:
      return "SOA";
    case kTypePTR:
      return "PTR";
    case kTypeMX:
      return "MX";
    case kTypeTXT:
      return "TXT";
    case kTypeAAAA:
      return "AAAA";
    case kTypeSRV:
      return "SRV";
    case kTypeOPT:
      return "OPT";
    case kTypeIXFR:
      return "IXFR";
    case kTypeAXFR:
      return "AXFR";
    case kTypeANY:
      return "ANY";
    default:
      return "TYPE" + std::to_string(type);
  }
}

bool append_label(std::string* out, std::string_view s) {
  if (s.empty() || s.size() > kMaxLabel) return false;
  out->push_back(static_cast<char>(s.size()));
  out->append(s);
  return true;
}

bool Name::from_text(std::string_view text, Name* out) {
  out->wire.clear();
  if (text.empty()) return false;
  if (text == ".") {
    out->wire.push_back('\0');
    return true;
  }
  std::string label;
  size_t i = 0;
  while (i < text.size()) {
    char c = text[i];
    if (c == '.') {
      if (!append_label(&out->wire, label)) return false;
      label.clear();
      i++;
      continue;
    }
    if (c == '\\') {
      if (i + 1 >= text.size()) return false;
      if (text[i + 1] >= '0' && text[i + 1] <= '9') {
        // \DDD: a byte in decimal (RFC 1035 §5.1).
        if (i + 3 >= text.size()) return false;
        int v = 0;
        for (size_t k = 1; k <= 3; k++) {
          char d = text[i + k];
          if (d < '0' || d > '9') return false;
          v = v * 10 + (d - '0');
        }
        if (v > 255) return false;
        label.push_back(static_cast<char>(v));
        i += 4;
      } else {
        label.push_back(text[i + 1]);
        i += 2;
      }
      continue;
    }
    label.push_back(c);
    i++;
  }
  // The last label, unless the name ended with the dot of a fully qualified name.
  if (!label.empty() && !append_label(&out->wire, label)) return false;
  out->wire.push_back('\0');
  return out->wire.size() <= kMaxName;
}

bool Name::from_wire(std::string_view wire, Name* out) {
  size_t i = 0;
  while (i < wire.size()) {
    size_t n = static_cast<unsigned char>(wire[i]);
    if (n == 0) {
      if (i + 1 != wire.size() || wire.size() > kMaxName) return false;
      out->wire.assign(wire);
      return true;
    }
    if (n > kMaxLabel) return false;
    i += 1 + n;
  }
  return false;
}

std::string Name::text() const {
  if (is_root()) return ".";
  std::string s;
  size_t i = 0;
  while (i < wire.size() && wire[i] != '\0') {
    size_t n = static_cast<unsigned char>(wire[i]);
    for (size_t k = 1; k <= n && i + k < wire.size(); k++) {
      unsigned char c = static_cast<unsigned char>(wire[i + k]);
      if (c == '.' || c == '\\') {
        s.push_back('\\');
        s.push_back(static_cast<char>(c));
      } else if (c <= 0x20 || c >= 0x7f) {
        char buf[5];
        std::snprintf(buf, sizeof buf, "\\%03u", c);
        s += buf;
      } else {
        s.push_back(static_cast<char>(c));
      }
    }
    s.push_back('.');
    i += 1 + n;
  }
  return s;
}

bool Name::equals(const Name& o) const {
  if (wire.size() != o.wire.size()) return false;
  for (size_t i = 0; i < wire.size(); i++)
    if (lower_byte(static_cast<unsigned char>(wire[i])) != lower_byte(static_cast<unsigned char>(o.wire[i])))
      return false;
  return true;
}

Name Name::lower() const {
  Name n{wire};
  // Length bytes are at most 63, below 'A', so lowering every byte never changes one.
  for (auto& c : n.wire) c = static_cast<char>(vc::dns::lower_byte(static_cast<unsigned char>(c)));
  return n;
}

bool Name::is_subdomain_of(const Name& suffix) const {
  if (suffix.wire.size() > wire.size()) return false;
  size_t start = wire.size() - suffix.wire.size();
  // The suffix must begin on a label boundary of this name.
  size_t i = 0;
  while (i < start) i += 1 + static_cast<unsigned char>(wire[i]);
  if (i != start) return false;
  for (size_t k = 0; k < suffix.wire.size(); k++)
    if (vc::dns::lower_byte(static_cast<unsigned char>(wire[start + k])) !=
        vc::dns::lower_byte(static_cast<unsigned char>(suffix.wire[k])))
      return false;
  return true;
}

int Name::labels(std::string_view* out, int max) const {
  int count = 0;
  size_t i = 0;
  while (i < wire.size() && wire[i] != '\0') {
    size_t n = static_cast<unsigned char>(wire[i]);
    if (count == max) return -1;
    out[count++] = std::string_view(wire).substr(i + 1, n);
    i += 1 + n;
  }
  return count;
}

ParseStatus parse(std::string_view data, Message* out) {
  *out = Message{};
  const auto* msg = reinterpret_cast<const unsigned char*>(data.data());
  size_t len = data.size();
  if (len < 12) return ParseStatus::kTooShort;
  Header& h = out->header;
  h.id = get16(msg);
  uint16_t flags = get16(msg + 2);
  h.qr = flags & 0x8000;
  h.opcode = static_cast<uint8_t>((flags >> 11) & 0xf);
  h.aa = flags & 0x0400;
  h.tc = flags & 0x0200;
  h.rd = flags & 0x0100;
  h.ra = flags & 0x0080;
  h.ad = flags & 0x0020;
  h.cd = flags & 0x0010;
  h.rcode = flags & 0xf;
  uint16_t counts[4] = {get16(msg + 4), get16(msg + 6), get16(msg + 8), get16(msg + 10)};
  // Every question takes at least 5 bytes and every record 11: counts beyond what the bytes can hold are
  // a malformed (or hostile) message, refused before anything is reserved for them.
  if (static_cast<size_t>(counts[0]) * 5 + (static_cast<size_t>(counts[1]) + counts[2] + counts[3]) * 11 >
      len - 12)
    return ParseStatus::kMalformed;
  size_t p = 12;
  std::string name;
  out->questions.reserve(counts[0]);
  for (int i = 0; i < counts[0]; i++) {
    if (!read_name(msg, len, &p, &name) || p + 4 > len) return ParseStatus::kMalformed;
    Question q;
    q.name.wire = name;
    q.type = get16(msg + p);
    q.cls = get16(msg + p + 2);
    p += 4;
    out->questions.push_back(std::move(q));
  }
  std::vector<Record>* sections[3] = {&out->answers, &out->authority, &out->additional};
  bool seen_opt = false;
  for (int s = 0; s < 3; s++) {
    sections[s]->reserve(counts[s + 1]);
    for (int i = 0; i < counts[s + 1]; i++) {
      if (!read_name(msg, len, &p, &name) || p + 10 > len) return ParseStatus::kMalformed;
      Record r;
      r.name.wire = name;
      r.type = get16(msg + p);
      r.cls = get16(msg + p + 2);
      r.ttl = get32(msg + p + 4);
      size_t rdlen = get16(msg + p + 8);
      p += 10;
      if (p + rdlen > len) return ParseStatus::kMalformed;
      if (r.type == kTypeOPT) {
        // RFC 6891 §6.1.1: one OPT record, in the additional section, owned by the root.
        if (s != 2 || seen_opt || name.size() != 1) return ParseStatus::kMalformed;
        seen_opt = true;
        out->edns.present = true;
        out->edns.udp_size = r.cls;
        h.rcode = static_cast<uint16_t>(h.rcode | ((r.ttl >> 24) & 0xff) << 4);
        out->edns.version = static_cast<uint8_t>((r.ttl >> 16) & 0xff);
        out->edns.do_bit = r.ttl & 0x8000;
        out->edns.options.assign(reinterpret_cast<const char*>(msg + p), rdlen);
        p += rdlen;
        continue;
      }
      if (!parse_rdata(msg, len, p, rdlen, r.type, &r.rdata)) return ParseStatus::kMalformed;
      p += rdlen;
      sections[s]->push_back(std::move(r));
    }
  }
  // Bytes after the last record are ignored, as most servers do.
  return ParseStatus::kOk;
}

void serialize(const Message& m, size_t max_size, std::string* out) {
  out->clear();
  if (max_size < 12) max_size = 12;
  if (max_size > kMaxMessage) max_size = kMaxMessage;
  Writer w(out);
  const Header& h = m.header;
  bool tc = h.tc;
  put16(out, h.id);
  put16(out, 0);  // flags, below
  for (int i = 0; i < 4; i++) put16(out, 0);
  // The OPT record: root name, type, class, TTL, RDLENGTH, options.
  size_t opt_size = m.edns.present ? 11 + m.edns.options.size() : 0;
  size_t limit = max_size > opt_size ? max_size - opt_size : 12;
  uint16_t qd = 0;
  for (const auto& q : m.questions) {
    size_t size = out->size(), mark = w.mark();
    w.name(q.name.wire, true);
    put16(out, q.type);
    put16(out, q.cls);
    if (out->size() > limit) {
      w.rollback(size, mark);
      tc = true;
      break;
    }
    qd++;
  }
  uint16_t counts[3] = {0, 0, 0};
  const std::vector<Record>* sections[3] = {&m.answers, &m.authority, &m.additional};
  bool full = qd < m.questions.size();
  for (int s = 0; s < 3 && !full; s++) {
    for (const auto& r : *sections[s]) {
      size_t size = out->size(), mark = w.mark();
      if (!w.record(r) || out->size() > limit) {
        w.rollback(size, mark);
        if (s < 2) tc = true;
        full = true;
        break;
      }
      counts[s]++;
    }
  }
  uint16_t ar = counts[2];
  if (m.edns.present) {
    out->push_back('\0');
    put16(out, kTypeOPT);
    put16(out, m.edns.udp_size);
    put32(out, static_cast<uint32_t>((h.rcode >> 4) & 0xff) << 24 |
                   static_cast<uint32_t>(m.edns.version) << 16 | (m.edns.do_bit ? 0x8000u : 0u));
    put16(out, static_cast<uint16_t>(m.edns.options.size()));
    out->append(m.edns.options);
    ar++;
  }
  uint16_t flags = static_cast<uint16_t>((h.qr ? 0x8000 : 0) | (h.opcode & 0xf) << 11 | (h.aa ? 0x0400 : 0) |
                                         (tc ? 0x0200 : 0) | (h.rd ? 0x0100 : 0) | (h.ra ? 0x0080 : 0) |
                                         (h.ad ? 0x0020 : 0) | (h.cd ? 0x0010 : 0) | (h.rcode & 0xf));
  auto set16 = [out](size_t at, uint16_t v) {
    (*out)[at] = static_cast<char>(v >> 8);
    (*out)[at + 1] = static_cast<char>(v & 0xff);
  };
  set16(2, flags);
  set16(4, qd);
  set16(6, counts[0]);
  set16(8, counts[1]);
  set16(10, ar);
}

std::string serialize(const Message& m, size_t max_size) {
  std::string out;
  serialize(m, max_size, &out);
  return out;
}

std::string rdata_name(const Name& target) {
  return target.wire;
}

std::string rdata_srv(uint16_t priority, uint16_t weight, uint16_t port, const Name& target) {
  std::string d;
  put16(&d, priority);
  put16(&d, weight);
  put16(&d, port);
  d += target.wire;
  return d;
}

std::string rdata_soa(const Name& mname, const Name& rname, uint32_t serial, uint32_t refresh, uint32_t retry,
                      uint32_t expire, uint32_t minimum) {
  std::string d = mname.wire + rname.wire;
  put32(&d, serial);
  put32(&d, refresh);
  put32(&d, retry);
  put32(&d, expire);
  put32(&d, minimum);
  return d;
}

std::string rdata_txt(std::string_view text) {
  std::string d;
  do {
    std::string_view chunk = text.substr(0, 255);
    d.push_back(static_cast<char>(chunk.size()));
    d.append(chunk);
    text.remove_prefix(chunk.size());
  } while (!text.empty());
  return d;
}

uint32_t soa_minimum(std::string_view rdata, uint32_t fallback) {
  if (rdata.size() < 4) return fallback;
  return get32(reinterpret_cast<const unsigned char*>(rdata.data() + rdata.size() - 4));
}

}  // namespace vc::dns
