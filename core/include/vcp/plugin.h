/*
 * vcp/plugin.h — the sync-plugin ABI of vcluster-cpp. Pure C11, libc types only.
 *
 * A plugin is a shared object that exports ONE function, `vcp_plugin_entry_v1`, returning a static
 * descriptor (`vcp_plugin`). The descriptor declares the Kubernetes resources the plugin owns or reads,
 * its configuration keys, and its hooks. The engine (the `vcluster-syncer` process) owns the event loop,
 * the API clients, the informer caches and the work queue; it calls hooks on its single loop thread and
 * offers services through a table of function pointers (`vcp_host_api`), handed to `on_init`.
 *
 * Prefixes: every name starts with `vcp_` / `VCP_`. Hooks the plugin implements are `on_*` fields of
 * `vcp_plugin`; services the engine provides are verbs in `vcp_host_api`.
 *
 * Versioning. VCP_ABI_MAJOR changes only with a breaking change, which also gets a new entry symbol
 * (`vcp_plugin_entry_v2`). VCP_ABI_MINOR grows when fields are appended to a struct or services to the
 * host table. The engine refuses, with a sentence naming the file and both versions, a plugin whose major
 * differs or whose minor is newer than the engine's. Every struct that crosses the boundary starts with
 * `struct_size`; structs only grow at their end, and a reader checks the size before touching a field
 * (see VCP_HAS_FIELD).
 *
 * Ownership rules (each doc block repeats the one that applies in an OWNERSHIP: line):
 *  - `vcp_str` values handed to a hook are BORROWED and valid only until the hook returns. Copy what
 *    you keep.
 *  - A plugin never frees memory the engine allocated and the engine never frees plugin memory. Results
 *    are written into engine-owned buffers (`vcp_buf`) through `vcp_host_api.buf_append`.
 *  - The descriptor and everything it points to (names, resource and key tables) is static plugin memory
 *    that must stay valid until the engine calls `on_shutdown` and unloads the object.
 *
 * Threading. Hooks run on the engine's loop thread, one at a time, and must not block (no network, no
 * sleeping, no file I/O beyond trivial reads). Deferred work goes through the engine: enqueue a key with a
 * delay, or wait for an object. A plugin starts no threads and no timers of its own.
 *
 * Errors. Hooks return a `vcp_status`. VCP_ERROR means the plugin itself is broken: the engine quarantines
 * it (its resources stop syncing; everything else goes on). A C++ plugin must not let an exception escape a
 * hook; the engine catches one that does and quarantines the plugin, but that is a last resort.
 */
#ifndef VCP_PLUGIN_H
#define VCP_PLUGIN_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define VCP_ABI_MAJOR 1
/* 1.0: the first table. 1.1 appended vcp_host_api.translate_label_key_prefixed. 1.2 added the resource
   flag VCP_RES_UNCACHED. 1.3 appended the hook vcp_plugin.on_cache. 1.4 added the resource flag
   VCP_RES_HOST_NAMESPACES and appended vcp_host_api.watch_host_namespaces. */
#define VCP_ABI_MINOR 4

/* The entry symbol a plugin exports: `const vcp_plugin* vcp_plugin_entry_v1(void);` */
#define VCP_ENTRY_SYMBOL "vcp_plugin_entry_v1"

/* True when a struct that starts with `struct_size` is large enough to hold `field`. */
#define VCP_HAS_FIELD(ptr, type, field) \
  ((ptr)->struct_size >= offsetof(type, field) + sizeof(((type*)0)->field))

#if defined(__GNUC__)
#define VCP_EXPORT __attribute__((visibility("default")))
#else
#define VCP_EXPORT
#endif

/* A borrowed byte view. Not NUL-terminated unless said so. `ptr` may be NULL when `len` is 0. */
typedef struct vcp_str {
  const char* ptr;
  size_t len;
} vcp_str;

/* Status of a hook. The names (vcp_status_name) appear in logs and metrics. */
typedef enum vcp_status {
  VCP_OK = 0,        /* Done. Any output buffer holds the result. */
  VCP_NO_CHANGE = 1, /* Nothing to write: the target already matches. */
  VCP_SKIP = 2,      /* The object is not for this plugin (e.g. a ConfigMap no synced pod uses). */
  VCP_WAIT = 3,      /* Waiting on another object (see wait_for); the engine wakes the key, no backoff. */
  VCP_RETRY = 4,     /* Transient failure; the engine retries the key with per-key exponential backoff. */
  VCP_REFUSED = 5,   /* The object cannot be translated (set_error says why): a Warning event is emitted in
                        the virtual cluster and the key is not retried until the object changes. */
  VCP_ERROR = 6      /* The plugin is broken: the engine quarantines it. */
} vcp_status;

static inline const char* vcp_status_name(vcp_status s) {
  switch (s) {
    case VCP_OK:
      return "ok";
    case VCP_NO_CHANGE:
      return "no_change";
    case VCP_SKIP:
      return "skip";
    case VCP_WAIT:
      return "wait";
    case VCP_RETRY:
      return "retry";
    case VCP_REFUSED:
      return "refused";
    case VCP_ERROR:
      return "error";
  }
  return "unknown";
}

/* Which API server. */
typedef enum vcp_side { VCP_SIDE_VIRTUAL = 0, VCP_SIDE_HOST = 1 } vcp_side;

/* What the plugin does with a resource it declares. */
typedef enum vcp_role {
  /* Source is the virtual cluster; the plugin translates each virtual object into a host object
     (and may back-sync status). The engine watches both sides. */
  VCP_ROLE_TO_HOST = 1,
  /* Source is the host cluster; the plugin projects host objects into the virtual cluster (e.g. nodes).
     The engine watches both sides. */
  VCP_ROLE_TO_VIRTUAL = 2,
  /* Read-only dependencies: the engine keeps a cache of that side and calls on_watch_event. */
  VCP_ROLE_WATCH_VIRTUAL = 3,
  VCP_ROLE_WATCH_HOST = 4
} vcp_role;

/* How the engine names the target of a synced object. */
typedef enum vcp_name_mapping {
  /* Namespaced: <name>-x-<namespace>-x-<vcluster> in the host namespace (safe_concat). */
  VCP_NAME_NAMESPACED = 0,
  /* Cluster-scoped: vcluster-<name>-x-<host namespace>-x-<vcluster> (safe_concat). */
  VCP_NAME_CLUSTER = 1,
  /* Same name on both sides (mirrors, e.g. nodes). */
  VCP_NAME_SAME = 2
} vcp_name_mapping;

enum {
  VCP_RES_NAMESPACED = 1u << 0,     /* the resource is namespaced */
  VCP_RES_STATUS = 1u << 1,         /* it has a status subresource (back-sync writes go there) */
  VCP_RES_KEEP_ON_DELETE = 1u << 2, /* do not delete the target when the source disappears */
  /* A target whose vcluster.loft.sh/object-uid differs from the source's uid belongs to an earlier
     object of the same name (deleted and re-created while the syncer was down): delete it, so the next
     pass re-creates it. vcluster does this for pods, not for services, claims or volumes. */
  VCP_RES_RECREATE_ON_UID = 1u << 3,
  /* (ABI 1.2; WATCH roles only.) The engine hands every object of this resource to on_watch_event but does
     not keep it: cache_get, cache_list and cache_by_index find nothing, add_index is refused, and an
     event's old_object carries only metadata name, namespace, uid and resourceVersion. For resources that
     are many, large and read only as they change, such as host Events (a real kubelet writes five per pod
     start). The engine still remembers each object's identity, so a relist after a broken watch reports
     objects that went away meanwhile as DELETED (with that identity only). */
  VCP_RES_UNCACHED = 1u << 4,
  /* (ABI 1.4; VCP_ROLE_WATCH_HOST of core v1 Services only.) The engine watches this resource not in the
     vcluster's host namespace but in the host namespaces the plugin names with watch_host_namespaces during
     on_init (none named: nothing is watched), one namespace-scoped watch each, so a plugin reads Services of
     the namespaces its configuration names and nothing else of the host. Services only: they hold no
     secrets, and they are what a tenant must see of the host to reach its workloads (mapServices.fromHost).
     The resource may be declared beside an owned entry of the same resource (its cache is another one).
     Its keys are reconciled: every event enqueues the object's key, and the engine calls on_sync with the
     host object as `source` (len 0 once it is gone), no target, and target_namespace/target_name equal to
     the source's; the plugin does its work with submit (wake key: this key, resource included) and returns
     VCP_NO_CHANGE, VCP_WAIT or VCP_RETRY (VCP_OK is read as VCP_NO_CHANGE: there is no target to write).
     Host writes stay confined to the vcluster's host namespace. */
  VCP_RES_HOST_NAMESPACES = 1u << 5
};

/* One resource a plugin declares. OWNERSHIP: static plugin memory. */
typedef struct vcp_resource {
  uint32_t struct_size;
  const char* group;     /* "" for the core group */
  const char* version;   /* "v1" */
  const char* resource;  /* plural, as in URLs: "pods" */
  const char* kind;      /* "Pod" */
  uint32_t flags;        /* VCP_RES_* */
  uint32_t role;         /* vcp_role */
  uint32_t name_mapping; /* vcp_name_mapping; ignored for WATCH roles */
  /* Only objects matching this label selector are cached/watched ("" = all). Applies to both sides. */
  const char* label_selector;
} vcp_resource;

typedef enum vcp_config_type {
  VCP_CONF_BOOL = 0,
  VCP_CONF_INT = 1,
  VCP_CONF_STRING = 2,
  VCP_CONF_STRING_LIST = 3, /* values arrive as a JSON array of strings */
  VCP_CONF_OBJECT_LIST = 4, /* values arrive as a JSON array of objects with string fields */
  VCP_CONF_STRING_MAP = 5   /* values arrive as a JSON object of strings */
} vcp_config_type;

/* One key of the values file the plugin reads. OWNERSHIP: static plugin memory. */
typedef struct vcp_config_key {
  uint32_t struct_size;
  const char* path;          /* full values path, e.g. "sync.nodes.syncAllNodes" */
  uint32_t type;             /* vcp_config_type */
  const char* default_value; /* YAML text of the default ("false", "\"\"", "[]") */
  const char* description;   /* one sentence, shown by `vcluster plugins list` and in docs */
  const char* object_fields; /* VCP_CONF_OBJECT_LIST: comma-separated allowed fields ("from,to"), else NULL */
} vcp_config_key;

/* Opaque engine objects. */
typedef struct vcp_buf vcp_buf;           /* an engine-owned growable byte buffer */
typedef struct vcp_host_ctx vcp_host_ctx; /* the engine's handle for this plugin instance */

/* Arguments of a sync hook. OWNERSHIP: every vcp_str is borrowed for the duration of the call. */
typedef struct vcp_sync_args {
  uint32_t struct_size;
  uint32_t resource;        /* index into the plugin's resource table */
  vcp_str source_namespace; /* the work key: namespace ("" for cluster-scoped) ... */
  vcp_str source_name;      /* ... and name of the source object */
  vcp_str source;           /* JSON of the source object; len 0 when it does not exist */
  vcp_str target;           /* JSON of the target object; len 0 when it does not exist */
  vcp_str target_namespace; /* where the engine puts the target ("" for cluster-scoped) */
  vcp_str target_name;      /* the target's name as the engine translated it */
} vcp_sync_args;

/* An informer event, for on_watch_event. OWNERSHIP: borrowed for the duration of the call. */
typedef enum vcp_event_type {
  VCP_EVENT_ADDED = 0,
  VCP_EVENT_MODIFIED = 1,
  VCP_EVENT_DELETED = 2
} vcp_event_type;
typedef struct vcp_event {
  uint32_t struct_size;
  uint32_t resource;  /* index into the plugin's resource table */
  uint32_t side;      /* vcp_side */
  uint32_t type;      /* vcp_event_type */
  vcp_str object;     /* JSON (for DELETED: the last known state) */
  vcp_str old_object; /* MODIFIED: previous JSON; else len 0 */
} vcp_event;

/* Facts about the virtual cluster the engine serves. OWNERSHIP: engine memory valid until on_shutdown. */
typedef struct vcp_cluster_info {
  uint32_t struct_size;
  vcp_str vcluster_name;  /* the suffix of host names, e.g. "my-vcluster" */
  vcp_str host_namespace; /* where namespaced targets live */
  vcp_str cluster_domain; /* "cluster.local" */
} vcp_cluster_info;

/* Called for each object by the iteration services; return non-zero to stop early. */
typedef int (*vcp_each_fn)(void* user, vcp_str object);

/*
 * Index extractor registered with add_index: emits zero or more index values for one object by calling
 * `emit(emit_ctx, value)`. Must be pure (the engine calls it whenever an object changes).
 */
typedef void (*vcp_index_fn)(void* user, vcp_str object, void (*emit)(void* emit_ctx, vcp_str value),
                             void* emit_ctx);

typedef enum vcp_log_level {
  VCP_LOG_DEBUG = 0,
  VCP_LOG_INFO = 1,
  VCP_LOG_WARN = 2,
  VCP_LOG_ERROR = 3
} vcp_log_level;

/* Write verbs for `submit`. */
typedef enum vcp_verb {
  VCP_VERB_CREATE = 0, /* POST to the collection (or to a subresource of `name` when `subresource` set) */
  VCP_VERB_UPDATE = 1, /* PUT */
  VCP_VERB_PATCH = 2,  /* PATCH with a JSON merge patch */
  VCP_VERB_DELETE = 3  /* DELETE; `body` may hold DeleteOptions JSON */
} vcp_verb;

/* A write the plugin asks the engine to perform, through `submit`. OWNERSHIP: borrowed for the call. */
typedef struct vcp_write {
  uint32_t struct_size;
  uint32_t side;       /* vcp_side */
  uint32_t resource;   /* index into the plugin's resource table */
  uint32_t verb;       /* vcp_verb */
  vcp_str namespace_;  /* "" for cluster-scoped */
  vcp_str name;        /* "" for CREATE on a collection */
  vcp_str subresource; /* "", "status", "binding", "token", "eviction", ... */
  vcp_str body;        /* JSON */
  /* The work key to wake when the write completes (success or failure). Its result can be read with
     take_result on that key's next sync; len 0 = wake the current key. */
  vcp_str wake_namespace;
  vcp_str wake_name;
  uint32_t wake_resource;
} vcp_write;

/*
 * Services the engine offers. Every service takes the plugin's `ctx` first. Strings are views. A hook's
 * result goes into the engine-owned `vcp_buf` it was handed; a service's result is a view of engine memory
 * valid until the current hook returns (copy what you keep).
 * Newer engines append services; check `VCP_HAS_FIELD(host, vcp_host_api, service)` before calling a
 * service younger than the minor your plugin was built against.
 */
typedef struct vcp_host_api {
  uint32_t struct_size;
  uint32_t abi_major;
  uint32_t abi_minor;

  /* Logging through the engine's logger, tagged with the plugin's name. */
  void (*log)(vcp_host_ctx* ctx, vcp_log_level level, vcp_str message);

  /* Attaches a sentence to the current hook's result: why it refused, retried or failed. */
  void (*set_error)(vcp_host_ctx* ctx, vcp_str message);

  /* Appends bytes to an engine-owned buffer / clears it. */
  void (*buf_append)(vcp_buf* buf, const char* data, size_t len);
  void (*buf_clear)(vcp_buf* buf);

  /* The cluster facts. OWNERSHIP: engine memory, valid until on_shutdown. */
  const vcp_cluster_info* (*cluster_info)(vcp_host_ctx* ctx);

  /* A config value by values path, rendered as text: "true"/"false", decimal, the raw string, or JSON
     for lists and maps. Returns 1 and sets *out, or 0 if the key is unknown. Readable are the keys the
     plugin declared, the core's keys, and the keys any other loaded plugin declared (read-only; e.g. the
     pods plugin reads sync.nodes.nodeSelector when the nodes plugin is loaded). Declare a key to own it.
     OWNERSHIP: *out is engine memory valid until the current hook returns. */
  int (*config_get)(vcp_host_ctx* ctx, vcp_str path, vcp_str* out);

  /* Name translation exactly as vcluster does it. OWNERSHIP: the result is engine memory valid until the
     current hook returns. */
  vcp_str (*translate_name)(vcp_host_ctx* ctx, vcp_name_mapping mapping, vcp_str namespace_, vcp_str name);
  /* Label keys: cluster = 0 for labels of namespaced objects, 1 for cluster-scoped objects.
     OWNERSHIP: as translate_name. */
  vcp_str (*translate_label_key)(vcp_host_ctx* ctx, int cluster, vcp_str key);

  /* Reads a cached object of a declared resource on one side. Returns 1 and sets *out to a view valid
     until the hook returns, or 0 if absent or not cached on that side. OWNERSHIP: borrowed. */
  int (*cache_get)(vcp_host_ctx* ctx, vcp_side side, uint32_t resource, vcp_str namespace_, vcp_str name,
                   vcp_str* out);
  /* Iterates cached objects of a resource on one side, optionally one namespace (len 0 = all). */
  void (*cache_list)(vcp_host_ctx* ctx, vcp_side side, uint32_t resource, vcp_str namespace_,
                     vcp_each_fn each, void* user);
  /* Registers an index over a resource's cache on one side (only during on_init). Returns 0 on misuse. */
  int (*add_index)(vcp_host_ctx* ctx, vcp_side side, uint32_t resource, const char* index_name,
                   vcp_index_fn fn, void* user);
  /* Iterates the objects whose index `index_name` holds `value`. */
  void (*cache_by_index)(vcp_host_ctx* ctx, vcp_side side, uint32_t resource, const char* index_name,
                         vcp_str value, vcp_each_fn each, void* user);

  /* Schedules a sync of (resource, namespace, name) after delay_ms (0 = as soon as possible). */
  void (*enqueue)(vcp_host_ctx* ctx, uint32_t resource, vcp_str namespace_, vcp_str name, uint64_t delay_ms);

  /* Wakes the waiter key when object (side, resource, namespace, name) is added or modified. One-shot.
     Use it with VCP_WAIT: "this pod waits for its ConfigMap". */
  void (*wait_for)(vcp_host_ctx* ctx, vcp_side side, uint32_t resource, vcp_str namespace_, vcp_str name,
                   uint32_t waiter_resource, vcp_str waiter_namespace, vcp_str waiter_name);

  /* Queues a write that the engine performs asynchronously, then wakes the wake key. Returns an id > 0. */
  uint64_t (*submit)(vcp_host_ctx* ctx, const vcp_write* write);
  /* Reads (and forgets) the result of a finished submit by id: returns the HTTP status (-1 for a transport
     error, 0 if unknown or not finished yet) and sets *body to the response body.
     OWNERSHIP: *body is engine memory valid until the current hook returns. */
  int (*take_result)(vcp_host_ctx* ctx, uint64_t id, vcp_str* body);

  /* Records a Kubernetes Event about an object of a declared resource on one side.
     type is "Normal" or "Warning"; reason is CamelCase. */
  void (*emit_event)(vcp_host_ctx* ctx, vcp_side side, uint32_t resource, vcp_str namespace_, vcp_str name,
                     vcp_str type, vcp_str reason, vcp_str message);

  /* --- ABI 1.1 --- A plugin may call what follows only after checking
     VCP_HAS_FIELD(host, vcp_host_api, translate_label_key_prefixed): a 1.0 engine's table ends above. */

  /* The host key of label `key` under another prefix than translate_label_key's "vcluster.loft.sh/label":
     safe_concat(prefix, <vcluster name>, "x", hex(sha256(key))[0:10]), hashed whole when longer than 63
     bytes, exactly as vcluster's ConvertLabelKeyWithPrefix. Pods use it with "vcluster.loft.sh/ns-label"
     for the labels of their virtual Namespace. OWNERSHIP: as translate_name. */
  vcp_str (*translate_label_key_prefixed)(vcp_host_ctx* ctx, vcp_str prefix, vcp_str key);

  /* --- ABI 1.4 --- Check VCP_HAS_FIELD(host, vcp_host_api, watch_host_namespaces) first. */

  /* Names the host namespaces a VCP_RES_HOST_NAMESPACES resource is watched in (only during on_init; may be
     called again to add namespaces; duplicates are ignored). Each must be a valid namespace name (a DNS
     label). Returns 1, or 0 on misuse (outside on_init, a resource without the flag, an invalid name: then
     nothing is added and the reason is logged). Call it before add_index on that resource: an index covers
     the namespaces named so far. OWNERSHIP: the views are borrowed for the call. */
  int (*watch_host_namespaces)(vcp_host_ctx* ctx, uint32_t resource, const vcp_str* namespaces, size_t count);
} vcp_host_api;

/* The descriptor a plugin returns from vcp_plugin_entry_v1. OWNERSHIP: static plugin memory. */
typedef struct vcp_plugin {
  uint32_t struct_size;
  uint32_t abi_major; /* VCP_ABI_MAJOR the plugin was built with */
  uint32_t abi_minor; /* VCP_ABI_MINOR the plugin was built with */
  const char* name;   /* short, [a-z0-9-]+, unique among loaded plugins */
  const char* version;
  const char* description;

  const vcp_resource* resources;
  uint32_t resource_count;
  const vcp_config_key* config_keys;
  uint32_t config_key_count;

  /*
   * Called once after loading and config validation, before any other hook. `host` and `ctx` stay valid
   * until on_shutdown returns. The plugin stores its state in *state (passed back to every hook).
   * Register indexes here. Return VCP_OK, or VCP_ERROR with set_error to refuse to start.
   */
  vcp_status (*on_init)(const vcp_host_api* host, vcp_host_ctx* ctx, void** state);

  /* Called once before unloading. Frees the plugin's state. May be NULL. */
  void (*on_shutdown)(void* state);

  /*
   * Forward sync of one key of a TO_HOST or TO_VIRTUAL resource, when the source exists.
   * Writes the desired target object (complete JSON) into `out`:
   *   - target absent: the object to create;
   *   - target present: the object to PUT (start from args->target so that server-set fields survive).
   * The engine compares `out` with the target and writes only when they differ. Return VCP_NO_CHANGE to
   * skip the comparison, VCP_SKIP if the source is not for this plugin (an owned target is then deleted).
   */
  vcp_status (*on_sync)(void* state, const vcp_sync_args* args, vcp_buf* out);

  /*
   * Backward sync, when both source and target exist: writes the updated SOURCE object (complete JSON)
   * into `out` (e.g. with the host pod's status). The engine writes the status subresource if only the
   * status differs, the object otherwise. May be NULL.
   */
  vcp_status (*on_back_sync)(void* state, const vcp_sync_args* args, vcp_buf* out);

  /*
   * The source is gone (args->source has len 0) while an owned target exists. Return VCP_OK to let the
   * engine delete the target (write DeleteOptions JSON into `out` to set a grace period or preconditions,
   * or leave it empty), VCP_SKIP to keep it. May be NULL (delete with defaults).
   * A target that vanished while its source exists is on_sync's business (target len 0): re-create it, or
   * submit a delete of the source (a started pod whose host pod was deleted) and return VCP_NO_CHANGE.
   */
  vcp_status (*on_delete)(void* state, const vcp_sync_args* args, vcp_buf* out);

  /* Informer events of every declared resource, so the plugin can enqueue dependent keys. May be NULL. */
  void (*on_watch_event)(void* state, const vcp_event* event);

  /*
   * (ABI 1.3) What the engine keeps in its cache of an object, for plugins that never read some of an
   * object's fields: called for each object of a declared resource on `side` before it is cached (listed,
   * watched, or answered to a write). Write into `out` the JSON text to cache instead, e.g. the object with
   * values the plugin does not read emptied, and return VCP_OK; or return VCP_SKIP to cache it whole.
   * Everything the plugin later reads of that object (args->source and args->target, cache_get,
   * cache_list, an event's old_object) is this text; on_watch_event's `object` is still the object as the
   * server sent it. The text must keep the object's metadata: the engine refuses (and caches the object
   * whole) a text whose name, namespace, uid or resourceVersion differ. It is only asked for a cache no
   * other loaded plugin declares: a cache two plugins share keeps objects whole. Drop only what the plugin
   * neither compares nor writes back: an object PUT from a cached target lacks what this hook dropped, so
   * the PUT removes it from the server. Keep it cheap; it runs once per object version. May be NULL (the
   * field is absent before 1.3). OWNERSHIP: `object` is BORROWED; `out` is engine-owned.
   */
  vcp_status (*on_cache)(void* state, vcp_side side, uint32_t resource, vcp_str object, vcp_buf* out);
} vcp_plugin;

/* The single symbol a plugin exports. */
typedef const vcp_plugin* (*vcp_plugin_entry_v1_fn)(void);
VCP_EXPORT const vcp_plugin* vcp_plugin_entry_v1(void);

#ifdef __cplusplus
}
#endif

#endif /* VCP_PLUGIN_H */
