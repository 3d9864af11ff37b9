#include "informer/informer.hpp"

#include <simdjson.h>

#include <algorithm>
#include <charconv>
#include <cstring>
#include <optional>
#include <random>
#include <utility>

#include "json/json.hpp"
#include "util/log.hpp"

namespace vc::informer {
namespace {

ObjectPtr from_element(simdjson::dom::element el, std::string_view json) {
  simdjson::dom::element meta;
  if (el["metadata"].get(meta) != simdjson::SUCCESS) return nullptr;
  auto obj = std::make_shared<Object>();
  // Views into the parser's document, copied into the object by set_identity.
  Object::Identity id;
  if (meta["name"].get(id.name) != simdjson::SUCCESS || id.name.empty()) return nullptr;
  // A member that is absent (or not a string) leaves the field empty.
  auto read = [](simdjson::simdjson_result<simdjson::dom::element> r, std::string_view* out) {
    if (r.get(*out) != simdjson::SUCCESS) *out = {};
  };
  read(meta["namespace"], &id.namespace_);
  read(meta["uid"], &id.uid);
  read(meta["resourceVersion"], &id.resource_version);
  simdjson::dom::element del;
  obj->deleting = meta["deletionTimestamp"].get(del) == simdjson::SUCCESS && !del.is_null();
  simdjson::dom::object labels, ann;
  if (meta["labels"].get(labels) == simdjson::SUCCESS)
    read(labels["vcluster.loft.sh/managed-by"], &id.managed_by);
  if (meta["annotations"].get(ann) == simdjson::SUCCESS) {
    read(ann["vcluster.loft.sh/object-name"], &id.owner_name);
    read(ann["vcluster.loft.sh/object-namespace"], &id.owner_namespace);
    read(ann["vcluster.loft.sh/object-uid"], &id.owner_uid);
  }
  obj->set(id, json);
  return obj;
}

// The object as minified JSON without metadata.managedFields. Server-side-apply bookkeeping is a third
// or more of a typical object's JSON and nothing here reads it; leaving it out of the cache is safe for
// writes too, because a PUT that omits managedFields keeps the server's (only an empty list resets them).
std::string compact(simdjson::dom::element el) {
  simdjson::dom::object obj;
  simdjson::dom::object meta;
  if (el.get(obj) != simdjson::SUCCESS || obj["metadata"].get(meta) != simdjson::SUCCESS)
    return simdjson::minify(el);
  simdjson::dom::element mf;
  if (meta["managedFields"].get(mf) != simdjson::SUCCESS) return simdjson::minify(el);
  std::string out;
  out.push_back('{');
  bool first = true;
  for (auto field : obj) {
    if (!first) out.push_back(',');
    first = false;
    json::quote_to(out, field.key);
    out.push_back(':');
    if (field.key != "metadata") {
      out += simdjson::minify(field.value);
      continue;
    }
    out.push_back('{');
    bool mfirst = true;
    for (auto m : meta) {
      if (m.key == "managedFields") continue;
      if (!mfirst) out.push_back(',');
      mfirst = false;
      json::quote_to(out, m.key);
      out.push_back(':');
      out += simdjson::minify(m.value);
    }
    out.push_back('}');
  }
  out.push_back('}');
  return out;
}

// The identity of an object, for an informer that does not keep objects: metadata name, namespace, uid and
// resourceVersion. Its JSON is made when asked for (json()), so a host Event kept this way costs its
// identity fields only.
ObjectPtr identity_of(const Object& o) {
  auto id = std::allocate_shared<Object>(std::pmr::polymorphic_allocator<Object>(cache_memory()));
  id->identity_only = true;
  id->set_identity({o.namespace_(), o.name(), o.uid(), o.resource_version(), {}, {}, {}, {}}, true);
  id->deleting = o.deleting;
  return id;
}

std::string identity_json(const Object& o) {
  std::string j = "{\"metadata\":{\"name\":";
  json::quote_to(j, o.name());
  if (!o.namespace_().empty()) {
    j += ",\"namespace\":";
    json::quote_to(j, o.namespace_());
  }
  if (!o.uid().empty()) {
    j += ",\"uid\":";
    json::quote_to(j, o.uid());
  }
  if (!o.resource_version().empty()) {
    j += ",\"resourceVersion\":";
    json::quote_to(j, o.resource_version());
  }
  j += "}}";
  return j;
}

simdjson::dom::parser& parser() {
  thread_local simdjson::dom::parser p;
  return p;
}

void release_if_large(size_t parsed) {
  if (parsed > 64 * 1024) parser() = simdjson::dom::parser();
}

// One list page, parsed: runs on any thread (it touches only its own data and a thread-local parser).
struct ParsedPage {
  std::string body;
  bool ok = false;
  std::vector<ObjectPtr> items;
  std::string resource_version, continue_token;
};

void parse_page(ParsedPage* page) {
  simdjson::dom::element doc;
  if (parser().parse(page->body.data(), page->body.size()).get(doc) != simdjson::SUCCESS) return;
  simdjson::dom::array items;
  if (doc["items"].get(items) == simdjson::SUCCESS) {
    page->items.reserve(items.size());
    for (simdjson::dom::element it : items) {
      // Lists omit kind/apiVersion on items while watch events carry them; the engine compares objects
      // without those two fields, so items are kept as the server sent them.
      if (auto o = from_element(it, compact(it))) page->items.push_back(std::move(o));
    }
  }
  simdjson::dom::element meta;
  std::string_view rv, cont;
  if (doc["metadata"].get(meta) == simdjson::SUCCESS) {
    if (meta["resourceVersion"].get(rv) == simdjson::SUCCESS) page->resource_version = std::string(rv);
    if (meta["continue"].get(cont) == simdjson::SUCCESS) page->continue_token = std::string(cont);
  }
  page->ok = true;
  // A parser keeps the capacity of the largest document it parsed, about ten times the text's size, for as
  // long as its thread lives. List pages of 500 pods are megabytes (and libuv's pool has four threads),
  // while watch events and write answers are kilobytes: after a page over 64 KiB, give the memory back.
  release_if_large(page->body.size());
  page->body.clear();
  page->body.shrink_to_fit();
}

size_t json_size(const Object& o) {
  if (o.identity_only) return 0;
  return o.packed ? pack::unpacked_size(o.text()) : o.text().size();
}

// Counts the bytes that go through it.
class CountingResource final : public std::pmr::memory_resource {
 public:
  explicit CountingResource(std::pmr::memory_resource* upstream) : upstream_(upstream) {}
  size_t bytes() const { return bytes_; }

 private:
  void* do_allocate(size_t n, size_t align) override {
    void* p = upstream_->allocate(n, align);
    bytes_ += n;
    return p;
  }
  void do_deallocate(void* p, size_t n, size_t align) override {
    upstream_->deallocate(p, n, align);
    bytes_ -= n;
  }
  bool do_is_equal(const std::pmr::memory_resource& other) const noexcept override { return this == &other; }

  std::pmr::memory_resource* upstream_;
  size_t bytes_ = 0;
};

struct CachePool {
  CountingResource chunks{std::pmr::new_delete_resource()};
  std::pmr::unsynchronized_pool_resource pool{&chunks};
  CountingResource front{&pool};
};

CachePool& cache_pool() {
  static CachePool p;
  return p;
}

}  // namespace

std::pmr::memory_resource* cache_memory() {
  return &cache_pool().front;
}

CacheMemoryStats cache_memory_stats() {
  return {cache_pool().front.bytes(), cache_pool().chunks.bytes()};
}

Object::~Object() {
  release();
}

void Object::release() {
  if (!block_) return;
  const size_t size = static_cast<size_t>(text_at_) + text_len_ + 1;
  if (pooled_) {
    cache_memory()->deallocate(block_, size, 1);
  } else {
    delete[] block_;
  }
  block_ = nullptr;
}

void Object::set(const Identity& id, std::string_view text, bool pooled) {
  // Kubernetes names are at most 253 bytes and uids 36, so every field fits a 16-bit offset by far; a field
  // is cut at 8 KiB all the same, so that no input can overflow one.
  std::string_view values[] = {id.namespace_,       id.name,       id.uid,
                               id.resource_version, id.managed_by, id.owner_name,
                               id.owner_namespace,  id.owner_uid};
  for (auto& v : values) v = v.substr(0, 8 * 1024);
  // namespace "/" name first, so that the key is a view too.
  const bool slash = !values[0].empty();
  size_t total = slash ? 1 : 0;
  for (auto v : values) total += v.size();
  const size_t size = total + text.size() + 1;
  char* buf = pooled ? static_cast<char*>(cache_memory()->allocate(size, 1)) : new char[size];
  size_t at = 0;
  for (size_t i = 0; i < 8; i++) {
    if (!values[i].empty()) std::memcpy(buf + at, values[i].data(), values[i].size());
    start_[i] = static_cast<uint16_t>(at);
    len_[i] = static_cast<uint16_t>(values[i].size());
    at += values[i].size();
    if (i == 0 && slash) buf[at++] = '/';
  }
  if (!text.empty()) std::memcpy(buf + at, text.data(), text.size());
  buf[size - 1] = 0;
  release();
  block_ = buf;
  pooled_ = pooled;
  text_at_ = static_cast<uint32_t>(at);
  text_len_ = static_cast<uint32_t>(text.size());
}

std::string_view Object::key_view() const {
  if (len_[0] == 0) return name();
  return std::string_view(block_, static_cast<size_t>(len_[0]) + 1 + len_[1]);
}

std::string_view Object::json(std::string* scratch) const {
  if (identity_only) return *scratch = identity_json(*this);
  if (!packed) return text();
  // Packed by this process from valid text, so unpacking cannot fail unless memory is corrupt.
  if (!pack::unpack(text(), dict ? std::string_view(dict->text) : std::string_view{}, scratch))
    scratch->clear();
  return *scratch;
}

std::string Object::json() const {
  if (identity_only) return identity_json(*this);
  if (!packed) return std::string(text());
  std::string s;
  json(&s);
  return s;
}

std::string make_key(std::string_view ns, std::string_view name) {
  if (ns.empty()) return std::string(name);
  std::string k;
  k.reserve(ns.size() + name.size() + 1);
  k.append(ns).push_back('/');
  k.append(name);
  return k;
}

ObjectPtr make_object(std::string_view json) {
  simdjson::dom::element el;
  if (parser().parse(json.data(), json.size()).get(el) != simdjson::SUCCESS) return nullptr;
  ObjectPtr o = from_element(el, compact(el));
  release_if_large(json.size());
  return o;
}

ObjectPtr remaining_after_delete(std::string_view body) {
  simdjson::dom::element el;
  if (parser().parse(body.data(), body.size()).get(el) != simdjson::SUCCESS) return nullptr;
  simdjson::dom::element meta;
  if (el["metadata"].get(meta) != simdjson::SUCCESS) return nullptr;
  int64_t grace = -1;
  simdjson::dom::array fin;
  bool finalizers = meta["finalizers"].get(fin) == simdjson::SUCCESS && fin.size() > 0;
  if (meta["deletionGracePeriodSeconds"].get(grace) == simdjson::SUCCESS && grace == 0 && !finalizers)
    return nullptr;
  auto o = from_element(el, compact(el));
  return o && o->deleting ? o : nullptr;
}

bool rv_newer_or_equal(std::string_view a, std::string_view b) {
  uint64_t x = 0, y = 0;
  auto ra = std::from_chars(a.data(), a.data() + a.size(), x);
  auto rb = std::from_chars(b.data(), b.data() + b.size(), y);
  if (ra.ec == std::errc() && rb.ec == std::errc() && ra.ptr == a.data() + a.size() &&
      rb.ptr == b.data() + b.size())
    return x >= y;
  return a == b;
}

Informer::Informer(uv_loop_t* loop, kube::Client* client, kube::GVR gvr, Options opts)
    : loop_(loop),
      client_(client),
      gvr_(std::move(gvr)),
      opts_(std::move(opts)),
      alive_(std::make_shared<bool>(true)) {}

Informer::~Informer() {
  *alive_ = false;
  // The entries' index arrays come from cache_memory, which outlives every informer.
  for (auto& [key, e] : store_)
    if (e.refs) cache_memory()->deallocate(e.refs, e.ref_count * sizeof(IndexRef), alignof(IndexRef));
}

void Informer::add_index(const std::string& name, IndexFn fn) {
  indexes_[name].fn = std::move(fn);
}

void Informer::add_handlers(Handlers h) {
  handlers_.push_back(std::move(h));
}

void Informer::start() {
  if (!timer_) {
    timer_ = new uv_timer_t;
    uv_timer_init(loop_, timer_);
    timer_->data = this;
  }
  list_page({}, std::make_shared<std::vector<ObjectPtr>>());
}

void Informer::stop(std::function<void()> done) {
  stopping_ = true;
  if (watch_id_) {
    client_->cancel_watch(watch_id_);
    watch_id_ = 0;
  }
  if (!timer_) {
    if (done) done();
    return;
  }
  uv_timer_stop(timer_);
  auto* holder = new std::function<void()>(std::move(done));
  timer_->data = holder;
  uv_close(reinterpret_cast<uv_handle_t*>(timer_), [](uv_handle_t* h) {
    auto* cb = static_cast<std::function<void()>*>(h->data);
    delete reinterpret_cast<uv_timer_t*>(h);
    if (*cb) (*cb)();
    delete cb;
  });
  timer_ = nullptr;
}

void Informer::list_page(std::string continue_token, std::shared_ptr<std::vector<ObjectPtr>> acc) {
  kube::ListOptions lo;
  lo.label_selector = opts_.label_selector;
  lo.field_selector = opts_.field_selector;
  lo.limit = opts_.page_size;
  lo.continue_token = std::move(continue_token);
  stats_.lists++;
  std::weak_ptr<bool> alive = alive_;
  client_->list(gvr_, opts_.namespace_, lo, [this, alive, acc](kube::Result r) {
    if (alive.expired() || stopping_) return;
    if (!r.ok()) {
      // A 410 on a continue token means the snapshot expired mid-list: start the list over.
      if (error_cb_) error_cb_(r.err);
      log().warn("list {} failed: {}", gvr_.id(), r.err.message);
      schedule_retry(true);
      return;
    }
    // A large page (thousands of pods are tens of MB of JSON) is parsed on libuv's thread pool so that the
    // loop keeps serving every other stream meanwhile; the cache itself is only touched back on the loop.
    auto page = std::make_shared<ParsedPage>();
    page->body = std::move(r.body);
    auto finish_page = [this, alive, acc, page]() {
      if (alive.expired() || stopping_) return;
      if (!page->ok) {
        Error e(ErrorKind::kParse, "list " + gvr_.id() + " answered with a body that is not JSON");
        if (error_cb_) error_cb_(e);
        schedule_retry(true);
        return;
      }
      for (auto& o : page->items) acc->push_back(std::move(o));
      if (!page->continue_token.empty()) {
        list_page(std::move(page->continue_token), acc);
        return;
      }
      apply_list(std::move(*acc), std::move(page->resource_version));
    };
    if (page->body.size() < opts_.off_loop_bytes) {
      parse_page(page.get());
      finish_page();
      return;
    }
    struct Work {
      uv_work_t req;
      std::shared_ptr<ParsedPage> page;
      std::function<void()> then;
    };
    auto* w = new Work{{}, page, std::move(finish_page)};
    w->req.data = w;
    uv_queue_work(
        loop_, &w->req, [](uv_work_t* req) { parse_page(static_cast<Work*>(req->data)->page.get()); },
        [](uv_work_t* req, int) {
          auto* work = static_cast<Work*>(req->data);
          work->then();
          delete work;
        });
  });
}

void Informer::apply_list(std::vector<ObjectPtr> items, std::string rv) {
  // Replace the cache with the list: objects absent from it are deleted (the watch missed their deletion),
  // changed ones are updated, new ones added. This is what makes a relist after 410 lose no event.
  std::unordered_map<std::string, bool> seen;
  seen.reserve(items.size());
  for (auto& o : items) {
    seen.emplace(o->key(), true);
    upsert(std::move(o), true);
  }
  std::vector<std::pair<std::string, ObjectPtr>> gone;
  for (auto& [k, e] : store_)
    if (!seen.count(std::string(k))) gone.emplace_back(std::string(k), e.obj);
  for (auto& [k, o] : gone) erase(k, true, o);
  rv_ = std::move(rv);
  need_relist_ = false;
  failures_ = 0;
  if (!synced_) {
    synced_ = true;
    if (synced_cb_) synced_cb_();
  }
  watch();
}

void Informer::watch() {
  if (stopping_) return;
  kube::WatchOptions wo;
  wo.resource_version = rv_;
  wo.label_selector = opts_.label_selector;
  wo.field_selector = opts_.field_selector;
  wo.timeout_seconds = opts_.watch_timeout_seconds;
  wo.bookmarks = true;
  stats_.watches++;
  std::weak_ptr<bool> alive = alive_;
  kube::WatchHandlers h;
  h.on_event = [this, alive](const kube::WatchEvent& ev) {
    if (alive.expired() || stopping_) return;
    stats_.events++;
    if (ev.type == kube::EventType::kError) return;  // on_done reports it
    if (!ev.element) return;
    const simdjson::dom::element& el = *ev.element;
    if (ev.type == kube::EventType::kBookmark) {
      // A bookmark carries only a resourceVersion (and no name): read it directly.
      std::string_view rv;
      if (el["metadata"]["resourceVersion"].get(rv) == simdjson::SUCCESS) rv_ = std::string(rv);
      return;
    }
    // The decoder parsed the line once; build the cached object from that parse (no second parse).
    ObjectPtr obj = from_element(el, compact(el));
    if (!obj) return;
    if (!obj->resource_version().empty()) rv_ = obj->resource_version();
    if (ev.type == kube::EventType::kDeleted) {
      // A late DELETED event of an earlier object must not erase a newer one re-created under the same
      // name (its uid differs).
      ObjectPtr cur = stored(obj->key());
      if (cur && !cur->uid().empty() && !obj->uid().empty() && cur->uid() != obj->uid()) return;
      erase(obj->key(), true, obj);
    } else {
      upsert(std::move(obj), true);
    }
  };
  h.on_done = [this, alive](Error err) {
    if (alive.expired()) return;
    watch_id_ = 0;
    if (stopping_) return;
    if (err.kind == ErrorKind::kCancelled) return;
    if (err.code == 410) {
      // The resourceVersion was compacted away: only a fresh list can tell what changed.
      stats_.gone++;
      log().info("watch {}: resource version {} is gone; relisting", gvr_.id(), rv_);
      need_relist_ = true;
      schedule_retry(true);
      return;
    }
    if (err) {
      stats_.stream_errors++;
      if (error_cb_) error_cb_(err);
      log().warn("watch {} ended: {}; resuming from {}", gvr_.id(), err.message, rv_);
      schedule_retry(false);
      return;
    }
    // A clean end is the server's watch timeout: resume at once from the last resourceVersion.
    failures_ = 0;
    watch();
  };
  h.need_text = false;
  watch_id_ = client_->watch(gvr_, opts_.namespace_, wo, std::move(h));
}

void Informer::schedule_retry(bool relist) {
  if (stopping_ || !timer_) return;
  if (relist) need_relist_ = true;
  int shift = failures_ < 16 ? failures_ : 16;
  failures_++;
  auto base = opts_.backoff_base.count() << shift;
  if (base > opts_.backoff_cap.count() || base <= 0) base = opts_.backoff_cap.count();
  // Full jitter in [base/2, base] so that many informers do not reconnect in lockstep after an outage.
  thread_local std::mt19937_64 rng{std::random_device{}()};
  uint64_t delay = static_cast<uint64_t>(base / 2 + static_cast<int64_t>(rng() % (base / 2 + 1)));
  uv_timer_start(
      timer_,
      [](uv_timer_t* t) {
        auto* self = static_cast<Informer*>(t->data);
        if (self->need_relist_) {
          self->stats_.relists++;
          self->list_page({}, std::make_shared<std::vector<ObjectPtr>>());
        } else {
          self->watch();
        }
      },
      delay, 0);
}

ObjectPtr Informer::packed_copy(const Object& o, std::string_view text) {
  auto p = std::allocate_shared<Object>(std::pmr::polymorphic_allocator<Object>(cache_memory()));
  p->set(o.identity(), packer_.pack(text, &p->dict), true);
  p->packed = true;
  p->deleting = o.deleting;
  return p;
}

std::string_view Informer::kept_text(const Object& o, std::string* scratch) const {
  std::string_view full = o.json(scratch);
  if (!project_ || o.packed) return full;  // a packed object comes from a cache: projected already
  std::string projected;
  if (!project_(o, &projected)) return full;
  *scratch = std::move(projected);
  return *scratch;
}

void Informer::upsert(ObjectPtr obj, bool notify) {
  auto it = store_.find(obj->key_view());
  std::string kept_scratch;
  std::optional<std::string_view> kept;
  if (it != store_.end()) {
    const ObjectPtr& old = it->second.obj;
    if (old->resource_version() == obj->resource_version()) {
      if (!opts_.keep_objects) return;
      std::string a;
      kept = kept_text(*obj, &kept_scratch);
      if (old->json(&a) == *kept) return;
    }
    if (!obj->resource_version().empty() && !old->resource_version().empty() &&
        !rv_newer_or_equal(obj->resource_version(), old->resource_version()))
      return;  // an older copy (e.g. a late list item after our own write was observed)
  }
  // The store holds the object packed (or, without keep_objects, its identity); the handlers get the object
  // as it came, so that what they read first costs no unpacking.
  ObjectPtr keep;
  if (!opts_.keep_objects) {
    keep = identity_of(*obj);
  } else if (obj->packed) {
    keep = obj;
  } else {
    if (!kept) kept = kept_text(*obj, &kept_scratch);
    keep = packed_copy(*obj, *kept);
  }
  if (it == store_.end()) {
    bytes_ += keep->text().size();
    json_bytes_ += json_size(*keep);
    std::string_view key = keep->key_view();
    auto [nit, added] = store_.emplace(key, Entry{std::move(keep), nullptr, 0});
    index_add(nit->first, &nit->second, *obj);
    if (notify)
      for (auto& h : handlers_)
        if (h.on_add) h.on_add(obj);
    return;
  }
  ObjectPtr old = it->second.obj;
  bytes_ += keep->text().size();
  bytes_ -= old->text().size();
  json_bytes_ += json_size(*keep);
  json_bytes_ -= json_size(*old);
  index_remove(it->first, &it->second);
  // The node's key is a view of the old object: re-key it to the new one (no allocation).
  auto node = store_.extract(it);
  node.mapped().obj = std::move(keep);
  node.key() = node.mapped().obj->key_view();
  auto ins = store_.insert(std::move(node));
  index_add(ins.position->first, &ins.position->second, *obj);
  if (notify)
    for (auto& h : handlers_)
      if (h.on_update) h.on_update(old, obj);
}

ObjectPtr Informer::stored(std::string_view key) const {
  auto it = store_.find(key);
  return it == store_.end() ? nullptr : it->second.obj;
}

void Informer::erase(std::string_view key, bool notify, ObjectPtr last) {
  auto it = store_.find(key);
  if (it == store_.end()) return;
  ObjectPtr old = it->second.obj;
  bytes_ -= old->text().size();
  json_bytes_ -= json_size(*old);
  index_remove(key, &it->second);
  store_.erase(it);
  if (notify)
    for (auto& h : handlers_)
      if (h.on_delete) h.on_delete(last ? last : old);
}

void Informer::index_add(std::string_view key, Entry* e, const Object& unpacked) {
  if (indexes_.empty()) return;
  std::vector<std::string> vals;
  std::vector<IndexRef> refs;
  for (auto& [name, idx] : indexes_) {
    vals.clear();
    idx.fn(unpacked, &vals);
    for (auto& v : vals) {
      auto vit = idx.values.try_emplace(std::move(v), cache_memory()).first;
      // A value the index function emitted twice is listed once: index_remove must not find it erased.
      if (vit->second.insert(key).second) refs.push_back({&idx, &vit->first});
    }
  }
  if (refs.empty()) return;
  e->refs =
      static_cast<IndexRef*>(cache_memory()->allocate(refs.size() * sizeof(IndexRef), alignof(IndexRef)));
  std::copy(refs.begin(), refs.end(), e->refs);
  e->ref_count = static_cast<uint32_t>(refs.size());
}

void Informer::index_remove(std::string_view key, Entry* e) {
  if (!e->refs) return;
  for (uint32_t i = 0; i < e->ref_count; i++) {
    Index* idx = e->refs[i].index;
    auto it = idx->values.find(*e->refs[i].value);
    if (it == idx->values.end()) continue;
    it->second.erase(key);
    if (it->second.empty()) idx->values.erase(it);
  }
  cache_memory()->deallocate(e->refs, e->ref_count * sizeof(IndexRef), alignof(IndexRef));
  e->refs = nullptr;
  e->ref_count = 0;
}

ObjectPtr Informer::get(std::string_view ns, std::string_view name) const {
  return get_key(make_key(ns, name));
}

ObjectPtr Informer::get_key(std::string_view key) const {
  if (!opts_.keep_objects) return nullptr;
  auto it = store_.find(key);
  return it == store_.end() ? nullptr : it->second.obj;
}

void Informer::for_each(const std::function<bool(const ObjectPtr&)>& fn, std::string_view ns) const {
  if (!opts_.keep_objects) return;
  for (auto& [k, e] : store_) {
    if (!ns.empty() && e.obj->namespace_() != ns) continue;
    if (!fn(e.obj)) return;
  }
}

std::vector<ObjectPtr> Informer::by_index(const std::string& index, std::string_view value) const {
  std::vector<ObjectPtr> out;
  for_each_in_index(index, value, [&out](const ObjectPtr& o) {
    out.push_back(o);
    return true;
  });
  return out;
}

void Informer::for_each_in_index(const std::string& index, std::string_view value,
                                 const std::function<bool(const ObjectPtr&)>& fn) const {
  auto it = indexes_.find(index);
  if (it == indexes_.end()) return;
  auto vit = it->second.values.find(std::string(value));
  if (vit == it->second.values.end()) return;
  for (auto& k : vit->second)
    if (auto o = get_key(k); o && !fn(o)) return;
}

void Informer::observe_write(std::string_view json) {
  observe(make_object(json));
}

void Informer::observe(ObjectPtr obj) {
  if (!obj) return;
  // A write's answer can arrive after the watch already delivered that version and later ones: an object
  // created and deleted again, or a graceful deletion the kubelet finished, whose DELETED event came first.
  // An object absent from the cache whose version the watch has passed is gone; adding it back would leave
  // a copy no event ever removes (10,000-pod bench: 123 host pods cached as "terminating" forever).
  if (!store_.count(obj->key()) && !rv_.empty() && !obj->resource_version().empty() &&
      rv_newer_or_equal(rv_, obj->resource_version()))
    return;
  upsert(std::move(obj), true);
}

void Informer::observe_delete(std::string_view ns, std::string_view name) {
  erase(make_key(ns, name), true, nullptr);
}

void Informer::observe_delete_answer(std::string_view ns, std::string_view name, int status,
                                     std::string_view body) {
  if (status == 404) {
    observe_delete(ns, name);
  } else if (status >= 200 && status < 300) {
    auto o = remaining_after_delete(body);
    if (o && o->name() == name && o->namespace_() == ns) {
      observe(std::move(o));
    } else {
      observe_delete(ns, name);
    }
  }
}

}  // namespace vc::informer
