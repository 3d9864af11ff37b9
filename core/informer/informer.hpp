// Informers: list, then watch from the list's resourceVersion, into an indexed cache; relist on 410 Gone
// or a broken stream (with jittered backoff); fan events out to handlers.
//
// Memory: a cached object is its minified JSON text (without metadata.managedFields, which nothing reads),
// packed against a dictionary each informer learns from its own objects (pack/: a 4 KB pod keeps a few
// hundred bytes), plus its identity, both in one block from the caches' own pool (cache_memory). What a
// cache keeps can be less than the object (set_projection: a plugin's on_cache). Handlers receive shared
// pointers to immutable objects; nothing is copied per handler. The object an event announces is the one
// the server sent, unpacked; what the cache hands out later (get, for_each, an update's old object) is
// packed: read any object's text with json().
#pragma once

#include <uv.h>

#include <chrono>
#include <functional>
#include <memory>
#include <memory_resource>
#include <set>
#include <string>
#include <string_view>
#include <unordered_map>
#include <unordered_set>
#include <vector>

#include "kube/client.hpp"
#include "pack/pack.hpp"
#include "util/error.hpp"

namespace vc::informer {

// One cached object: immutable once built.
struct Object {
  Object() = default;
  Object(const Object&) = delete;  // the identity fields are views of this object's own storage
  Object& operator=(const Object&) = delete;
  ~Object();

  // The minified JSON text, or, when `packed`, that text packed against `dict` (pack/). Read it with json().
  // It lives in the object's one block, after the identity fields (set).
  std::string_view text() const { return {block_ + text_at_, text_len_}; }
  pack::DictPtr dict;
  bool packed = false;
  bool identity_only = false;  // no text: json() is {"metadata":{name, namespace, uid, resourceVersion}}
  bool deleting = false;       // metadata.deletionTimestamp is set
  // The identity, and vcluster's ownership marks (label vcluster.loft.sh/managed-by, annotations
  // vcluster.loft.sh/object-name, object-namespace, object-uid), read once when the object is built so that
  // nobody parses a cached object to find them. Views of one allocation the object owns (set_identity), at
  // 16-bit offsets: a cached object costs one block for all eight, and 32 bytes to find them.
  std::string_view namespace_() const { return field(0); }
  std::string_view name() const { return field(1); }
  std::string_view uid() const { return field(2); }
  std::string_view resource_version() const { return field(3); }
  std::string_view managed_by() const { return field(4); }
  std::string_view owner_name() const { return field(5); }
  std::string_view owner_namespace() const { return field(6); }
  std::string_view owner_uid() const { return field(7); }

  struct Identity {
    std::string_view namespace_, name, uid, resource_version, managed_by, owner_name, owner_namespace,
        owner_uid;
  };
  // Copies the identity and the text into one block the object owns and points the fields at it. A cached
  // object is then two allocations (this block, and the object with its shared_ptr count), which matters
  // for memory twice: 40,000 objects, and a burst's transient allocations that would otherwise sit between
  // four small long-lived ones per object and keep whole pages from going back to the system.
  // `pooled`: the block comes from cache_memory() (loop thread only), for objects the cache keeps.
  void set(const Identity& id, std::string_view text, bool pooled = false);
  void set_identity(const Identity& id, bool pooled = false) { set(id, {}, pooled); }
  Identity identity() const {
    return {field(0), field(1), field(2), field(3), field(4), field(5), field(6), field(7)};
  }

  // "ns/name" or "name": a view of the object's own storage, and as a string.
  std::string_view key_view() const;
  std::string key() const { return std::string(key_view()); }
  // The JSON text: a view of `text` itself, or of *scratch holding it unpacked. Valid while both live.
  std::string_view json(std::string* scratch) const;
  // The JSON text as a string of its own.
  std::string json() const;

 private:
  std::string_view field(int i) const { return {block_ + start_[i], len_[i]}; }
  void release();
  char* block_ = nullptr;
  uint32_t text_at_ = 0, text_len_ = 0;
  bool pooled_ = false;
  uint16_t start_[8] = {}, len_[8] = {};
};
using ObjectPtr = std::shared_ptr<const Object>;

// Where the caches' long-lived allocations come from (the objects kept, their blocks, the store's nodes and
// the index sets): pools of their own, carved from large blocks, instead of small blocks of the general heap.
// A burst's transients (event texts, parse trees, request bodies) then free whole pages that go back to
// the system; with the cache's objects between them, 10,000 pods left 14 MiB of heap free but resident.
// Not thread-safe: used on the loop thread only (list pages parsed on the pool make unpooled objects).
std::pmr::memory_resource* cache_memory();
// What cache_memory holds: bytes handed out and not returned, and bytes it took from the heap (its chunks;
// parts of a chunk never handed out are not resident).
struct CacheMemoryStats {
  size_t in_use = 0, reserved = 0;
};
CacheMemoryStats cache_memory_stats();

// Builds an Object from JSON text (minifies it if needed). Returns nullptr if the text has no metadata.name.
ObjectPtr make_object(std::string_view json);

// The object a DELETE answered with, when it still exists: a graceful deletion in progress or finalizers
// pending. Returns nullptr when the answer is a Status or the object is gone: deleted with a grace period of
// 0 and no finalizers (the API server answers with its last state, deletionTimestamp set, after removing it).
ObjectPtr remaining_after_delete(std::string_view body);

// "ns/name" or "name".
std::string make_key(std::string_view ns, std::string_view name);

// What the cache keeps of an object, when less than all of it is ever read: writes the text to keep into
// *out and returns true, or returns false to keep the object whole. The text keeps the object's identity.
using ProjectFn = std::function<bool(const Object& full, std::string* out)>;

// Computes the index values of an object.
using IndexFn = std::function<void(const Object&, std::vector<std::string>* values)>;

struct Handlers {
  std::function<void(const ObjectPtr&)> on_add;
  std::function<void(const ObjectPtr& old_obj, const ObjectPtr& new_obj)> on_update;
  std::function<void(const ObjectPtr&)> on_delete;
};

struct Options {
  std::string namespace_;      // "" = all namespaces (or a cluster-scoped resource)
  std::string label_selector;  // server-side filter
  std::string field_selector;
  int64_t page_size = 500;             // list paging (limit/continue)
  int watch_timeout_seconds = 300;     // the server ends each watch after this; we re-watch from the last RV
  size_t off_loop_bytes = 512 * 1024;  // list pages at least this large are parsed on the thread pool
  // false: handlers get every object, but the cache keeps only its identity (name, namespace, uid,
  // resourceVersion), so get/for_each/by_index find nothing and an update's old object is that identity.
  // Enough to tell adds from updates, drop stale events, and report on a relist what went away meanwhile.
  bool keep_objects = true;
  std::chrono::milliseconds backoff_base{200};
  std::chrono::milliseconds backoff_cap{30000};
};

struct Stats {
  uint64_t lists = 0, watches = 0, relists = 0, events = 0, gone = 0, stream_errors = 0;
};

class Informer {
 public:
  Informer(uv_loop_t* loop, kube::Client* client, kube::GVR gvr, Options opts);
  ~Informer();
  Informer(const Informer&) = delete;
  Informer& operator=(const Informer&) = delete;

  // Registers an index; only before start().
  void add_index(const std::string& name, IndexFn fn);
  // Sets what the cache keeps of each object (see ProjectFn); before start(). Handlers still get the object
  // as it came; the index functions run on it too.
  void set_projection(ProjectFn fn) { project_ = std::move(fn); }
  // Adds an event handler; before start() (handlers added later miss the initial adds).
  void add_handlers(Handlers h);
  // Called once the first list has been applied (the cache is synced), and again never.
  void on_synced(std::function<void()> cb) { synced_cb_ = std::move(cb); }
  // Called when a list or watch fails (for logs and readiness); the informer keeps retrying.
  void on_error(std::function<void(const Error&)> cb) { error_cb_ = std::move(cb); }

  void start();
  // Stops the watch and timers; `done` runs when every handle is closed.
  void stop(std::function<void()> done);

  bool synced() const { return synced_; }
  ObjectPtr get(std::string_view ns, std::string_view name) const;
  ObjectPtr get_key(std::string_view key) const;
  // Visits every cached object, or those of one namespace; stop early by returning false.
  void for_each(const std::function<bool(const ObjectPtr&)>& fn, std::string_view ns = {}) const;
  // Objects whose index `index` holds `value`.
  std::vector<ObjectPtr> by_index(const std::string& index, std::string_view value) const;
  // Visits them without collecting them first; stop early by returning false. (A ConfigMap that every pod
  // mounts, kube-root-ca.crt, has one entry per pod: "is it used" must not cost a copy of them all.)
  void for_each_in_index(const std::string& index, std::string_view value,
                         const std::function<bool(const ObjectPtr&)>& fn) const;
  size_t size() const { return store_.size(); }              // objects known (kept or not)
  size_t bytes() const { return bytes_; }                    // bytes held for the objects' text (packed)
  size_t json_bytes() const { return json_bytes_; }          // the same objects' JSON, unpacked
  size_t dict_bytes() const { return packer_.dict_size(); }  // the current dictionary's size
  const kube::GVR& gvr() const { return gvr_; }
  const Stats& stats() const { return stats_; }
  const std::string& resource_version() const { return rv_; }

  // Applies an object the caller just wrote (create/update answer), so the cache does not lag its own
  // writes; the watch event that follows is then a no-op. Ignored if the cached copy is newer.
  void observe_write(std::string_view json);
  // The same for an object already built (make_object) from a write's answer.
  void observe(ObjectPtr obj);
  // Forgets an object the caller just deleted; the DELETED event that follows then finds nothing.
  void observe_delete(std::string_view ns, std::string_view name);
  // Applies the answer of the caller's DELETE of ns/name (HTTP status and body): an object still terminating
  // (graceful deletion, finalizers) is kept in its new state, anything else is forgotten; other statuses
  // change nothing. Without it a key woken by the answer deletes the same object again.
  void observe_delete_answer(std::string_view ns, std::string_view name, int status, std::string_view body);

 private:
  void list_page(std::string continue_token, std::shared_ptr<std::vector<ObjectPtr>> acc);
  void apply_list(std::vector<ObjectPtr> items, std::string rv);
  void watch();
  void schedule_retry(bool relist);
  void upsert(ObjectPtr obj, bool notify);
  void erase(std::string_view key, bool notify, ObjectPtr last);
  struct Entry;
  void index_add(std::string_view key, Entry* e, const Object& unpacked);
  ObjectPtr packed_copy(const Object& o, std::string_view text);
  // The text the cache keeps of `o` (its own, or its projection): a view of `o` or of *scratch.
  std::string_view kept_text(const Object& o, std::string* scratch) const;
  void index_remove(std::string_view key, Entry* e);
  ObjectPtr stored(std::string_view key) const;  // what the store holds, kept object or identity

  uv_loop_t* loop_;
  kube::Client* client_;
  kube::GVR gvr_;
  Options opts_;
  struct Index {
    IndexFn fn;
    // value -> keys, as views of the keys in store_ (valid while the object is stored: it is removed from
    // the index before it is replaced or erased).
    std::unordered_map<std::string, std::pmr::unordered_set<std::string_view>> values;
  };
  // A cached object and the index values computed when it was added, so that replacing or removing it
  // does not run the index functions (plugin code that parses the object) again.
  struct IndexRef {
    Index* index;
    const std::string* value;  // the value's key in index->values (it stays there while an entry lists it)
  };
  // An array from cache_memory, not a vector: most informers have no index, and a store node is one of
  // 40,000 at 10,000 pods (64 bytes with this, 80 with a pmr::vector).
  struct Entry {
    ObjectPtr obj;
    IndexRef* refs = nullptr;
    uint32_t ref_count = 0;
  };
  // Keyed by views of the stored objects' own keys (Object::key_view), so a key is not stored twice; when
  // an entry's object is replaced, its node is re-keyed to the new object's view.
  std::pmr::unordered_map<std::string_view, Entry> store_{cache_memory()};
  std::unordered_map<std::string, Index> indexes_;
  std::vector<Handlers> handlers_;
  ProjectFn project_;
  std::function<void()> synced_cb_;
  std::function<void(const Error&)> error_cb_;
  std::string rv_;
  bool synced_ = false, stopping_ = false, need_relist_ = true;
  uint64_t watch_id_ = 0;
  int failures_ = 0;
  size_t bytes_ = 0, json_bytes_ = 0;
  pack::Packer packer_;
  uv_timer_t* timer_ = nullptr;
  Stats stats_;
  std::shared_ptr<bool> alive_;
};

// Compares two resourceVersions. They are opaque strings by contract, but etcd-backed servers use
// integers; we compare numerically when both parse, else treat them as different (newer).
bool rv_newer_or_equal(std::string_view a, std::string_view b);

}  // namespace vc::informer
