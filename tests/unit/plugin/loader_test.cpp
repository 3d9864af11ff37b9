// The loader's refusals, each provoked by a real fixture .so or, for the validation rules no fixture
// covers, by a descriptor built in memory. Every test asserts the full sentence a user would read.
#include "plugin/loader.hpp"

#include <doctest/doctest.h>

#include <cstddef>
#include <string>
#include <utility>
#include <vector>

#include "fixtures.hpp"
#include "plugin/instance.hpp"

namespace vc::plugin {
namespace {

using test::fixture_dir;
using test::fixture_path;

Error load(const std::string& fixture, LoadedPlugin* out) {
  return load_plugin(fixture_path(fixture), out);
}

// The message load_plugin gives for `fixture`, which must fail; the LoadedPlugin must stay empty.
std::string refusal(const std::string& fixture) {
  LoadedPlugin p;
  Error e = load(fixture, &p);
  CHECK(e);
  CHECK(p.handle == nullptr);
  CHECK(p.name.empty());
  return e.message;
}

}  // namespace

TEST_CASE("the ok fixture loads and its tables are copied and validated") {
  LoadedPlugin p;
  Error e = load("ok", &p);
  REQUIRE_MESSAGE(e.ok(), e.message);
  CHECK(p.path == fixture_path("ok"));
  CHECK(p.handle != nullptr);
  REQUIRE(p.descriptor != nullptr);
  CHECK(p.name == "fixture-ok");
  CHECK(p.version == "1.0.0");
  CHECK(p.description == "A healthy plugin for the loader tests.");
  CHECK(p.abi_major == VCP_ABI_MAJOR);
  CHECK(p.abi_minor == VCP_ABI_MINOR);
  CHECK(p.label() == "plugin fixture-ok (" + fixture_path("ok") + ")");
  REQUIRE(p.resources.size() == 1);
  const Resource& r = p.resources[0];
  CHECK(r.group.empty());
  CHECK(r.version == "v1");
  CHECK(r.resource == "configmaps");
  CHECK(r.kind == "ConfigMap");
  CHECK(r.namespaced);
  CHECK_FALSE(r.has_status);
  CHECK_FALSE(r.keep_on_delete);
  CHECK(r.role == VCP_ROLE_TO_HOST);
  CHECK(r.mapping == VCP_NAME_NAMESPACED);
  CHECK(r.owned());
  CHECK(r.gvr() == "configmaps");
  CHECK(r.group_resource() == "configmaps");
  REQUIRE(p.config_keys.size() == 1);
  CHECK(p.config_keys[0].path == "fixture.ok.prefix");
  CHECK(p.config_keys[0].type == VCP_CONF_STRING);
  CHECK(p.config_keys[0].default_value == "\"\"");
  CHECK(p.config_keys[0].description == "A prefix the fixture would put before names.");
  CHECK(p.config_keys[0].object_fields.empty());
}

TEST_CASE("a LoadedPlugin moves its dlopen handle and leaves the source empty") {
  LoadedPlugin a;
  REQUIRE(load("ok", &a).ok());
  void* handle = a.handle;
  LoadedPlugin b(std::move(a));
  CHECK(b.handle == handle);
  CHECK(a.handle == nullptr);  // NOLINT(bugprone-use-after-move): checking the moved-from state is the point.
  CHECK(a.name.empty());
  LoadedPlugin c;
  c = std::move(b);
  CHECK(c.handle == handle);
  CHECK(b.handle == nullptr);  // NOLINT(bugprone-use-after-move)
  CHECK(c.name == "fixture-ok");
}

TEST_CASE("a missing plugin file is refused before dlopen, naming the file") {
  const std::string path = fixture_dir() + "/libvcp-fixture-absent.so";
  LoadedPlugin p;
  Error e = load_plugin(path, &p);
  CHECK(e.kind == ErrorKind::kIo);
  CHECK(e.message == "plugin file " + path + " does not exist; check the path, or build the plugin first");
}

TEST_CASE("a directory given as a plugin file is refused") {
  LoadedPlugin p;
  CHECK(load_plugin(fixture_dir(), &p).message ==
        "plugin file " + fixture_dir() + " is not a regular file; pass the path of the plugin's .so file");
}

TEST_CASE("a file that is not a shared object is refused with dlerror's text") {
  const std::string path = fixture_path("not-a-plugin");
  CHECK(refusal("not-a-plugin") ==
        "plugin file " + path + " could not be loaded: " + path +
            ": invalid ELF header; check that it is a shared object built for this "
            "platform and that its dependencies are installed");
}

TEST_CASE("a plugin without the versioned entry symbol is refused") {
  CHECK(refusal("no-entry") ==
        "plugin file " + fixture_path("no-entry") +
            " does not export vcp_plugin_entry_v1; was it built against vcp/plugin.h 1.x "
            "with VCP_EXPORT on its entry function?");
}

TEST_CASE("an entry function returning NULL is refused") {
  CHECK(refusal("null-descriptor") ==
        "plugin file " + fixture_path("null-descriptor") +
            " returned no descriptor from vcp_plugin_entry_v1; the entry function "
            "must return a pointer to a static vcp_plugin");
}

// "1.1": this build's ABI version, as the loader prints it.
const std::string kAbi = std::to_string(VCP_ABI_MAJOR) + "." + std::to_string(VCP_ABI_MINOR);

TEST_CASE("a plugin built for another major ABI is refused, naming both versions") {
  CHECK(refusal("abi-major-mismatch") == "plugin fixture-abi-major (" + fixture_path("abi-major-mismatch") +
                                             ") was built for plugin ABI 2.0 but this syncer speaks " + kAbi +
                                             "; rebuild "
                                             "the plugin against vcp/plugin.h 1.x");
}

TEST_CASE("a plugin built for a newer minor ABI is refused, not warned about") {
  // The versions come from the header, so the expected sentence follows every minor bump.
  CHECK(refusal("abi-minor-newer") ==
        "plugin fixture-abi-minor (" + fixture_path("abi-minor-newer") + ") needs ABI 1." +
            std::to_string(VCP_ABI_MINOR + 1) + ", this syncer provides " + kAbi +
            "; upgrade the syncer or rebuild the plugin against vcp/plugin.h " + kAbi);
}

TEST_CASE("a resource with an empty kind is refused, naming its index and resource") {
  CHECK(refusal("bad-resource") ==
        "plugin fixture-bad-resource (" + fixture_path("bad-resource") +
            ") resource #1 (endpoints) has an empty kind; set version, resource and "
            "kind (and group, \"\" for the core group) in every entry");
}

// The rules below are checked on descriptors built in memory: one valid descriptor, broken one field at
// a time, so that each test provokes exactly one refusal.
namespace {

vcp_status init_ok(const vcp_host_api*, vcp_host_ctx*, void**) {
  return VCP_OK;
}
vcp_status sync_ok(void*, const vcp_sync_args*, vcp_buf*) {
  return VCP_OK;
}

const std::string kPath = "/plugins/libvcp-mem.so";
const std::string kMe = "plugin mem (" + kPath + ")";

struct MemPlugin {
  vcp_resource res[2];
  vcp_config_key keys[2];
  vcp_plugin p;

  MemPlugin(const MemPlugin&) = delete;
  MemPlugin& operator=(const MemPlugin&) = delete;
  MemPlugin() {
    res[0] = vcp_resource{
        sizeof(vcp_resource), "", "v1", "configmaps", "ConfigMap", VCP_RES_NAMESPACED, VCP_ROLE_TO_HOST,
        VCP_NAME_NAMESPACED,  ""};
    res[1] = vcp_resource{sizeof(vcp_resource),
                          "apps",
                          "v1",
                          "deployments",
                          "Deployment",
                          VCP_RES_NAMESPACED,
                          VCP_ROLE_WATCH_HOST,
                          VCP_NAME_NAMESPACED,
                          "app=web"};
    keys[0] = vcp_config_key{
        sizeof(vcp_config_key), "sync.mem.enabled", VCP_CONF_BOOL, "false", "Turns it on.", nullptr};
    keys[1] = vcp_config_key{sizeof(vcp_config_key), "sync.mem.mappings", VCP_CONF_OBJECT_LIST, "[]",
                             "Maps things.",         "from, to"};
    p = vcp_plugin{};
    p.struct_size = sizeof(vcp_plugin);
    p.abi_major = VCP_ABI_MAJOR;
    p.abi_minor = VCP_ABI_MINOR;
    p.name = "mem";
    p.version = "0.1.0";
    p.resources = res;
    p.resource_count = 2;
    p.config_keys = keys;
    p.config_key_count = 2;
    p.on_init = init_ok;
    p.on_sync = sync_ok;
  }

  Error validate(LoadedPlugin* out) const { return validate_descriptor(&p, kPath, out); }
  std::string refusal() const {
    LoadedPlugin out;
    Error e = validate(&out);
    CHECK(e.kind == ErrorKind::kInvalidArgument);
    CHECK(out.name.empty());
    CHECK(out.resources.empty());
    return e.message;
  }
};

}  // namespace

TEST_CASE("a valid in-memory descriptor passes and is copied field by field") {
  MemPlugin m;
  m.p.description = nullptr;  // optional: reads as ""
  LoadedPlugin out;
  Error e = m.validate(&out);
  REQUIRE_MESSAGE(e.ok(), e.message);
  CHECK(out.descriptor == &m.p);
  CHECK(out.description.empty());
  REQUIRE(out.resources.size() == 2);
  CHECK(out.resources[1].gvr() == "apps/v1/deployments");
  CHECK(out.resources[1].group_resource() == "deployments.apps");
  CHECK(out.resources[1].label_selector == "app=web");
  CHECK_FALSE(out.resources[1].owned());
  REQUIRE(out.config_keys.size() == 2);
  CHECK(out.config_keys[0].type == VCP_CONF_BOOL);
  CHECK(out.config_keys[1].object_fields == std::vector<std::string>{"from", "to"});
}

TEST_CASE("every resource flag is copied into its own field") {
  MemPlugin m;
  m.res[0].flags = VCP_RES_NAMESPACED | VCP_RES_STATUS | VCP_RES_KEEP_ON_DELETE | VCP_RES_RECREATE_ON_UID;
  LoadedPlugin out;
  REQUIRE(m.validate(&out).ok());
  CHECK(out.resources[0].namespaced);
  CHECK(out.resources[0].has_status);
  CHECK(out.resources[0].keep_on_delete);
  CHECK(out.resources[0].recreate_on_uid);
  CHECK_FALSE(out.resources[1].has_status);
  CHECK_FALSE(out.resources[1].recreate_on_uid);
  CHECK_FALSE(out.resources[0].uncached);
  CHECK_FALSE(out.resources[1].uncached);
  MemPlugin w;
  w.res[1].flags = VCP_RES_NAMESPACED | VCP_RES_UNCACHED;  // a WATCH role
  LoadedPlugin out2;
  REQUIRE(w.validate(&out2).ok());
  CHECK(out2.resources[1].uncached);
}

TEST_CASE("a NULL group and a NULL label selector read as the core group and all objects") {
  MemPlugin m;
  m.res[0].group = nullptr;
  m.res[0].label_selector = nullptr;
  LoadedPlugin out;
  REQUIRE(m.validate(&out).ok());
  CHECK(out.resources[0].group.empty());
  CHECK(out.resources[0].label_selector.empty());
}

TEST_CASE("resource tables are read with the plugin's element size, not the engine's sizeof") {
  // A plugin whose vcp_resource elements are larger than the engine's (as a later minor's would be, seen
  // by an engine of that minor) must be read at its own stride; reading at sizeof(vcp_resource) would
  // land inside the first element's padding and refuse or misread the second.
  struct Wide {
    vcp_resource r;
    uint64_t appended_field;
  };
  Wide wide[2] = {
      {{sizeof(Wide), "", "v1", "secrets", "Secret", VCP_RES_NAMESPACED, VCP_ROLE_WATCH_VIRTUAL, 0, ""}, 7},
      {{sizeof(Wide), "", "v1", "nodes", "Node", 0, VCP_ROLE_TO_VIRTUAL, VCP_NAME_SAME, ""}, 7},
  };
  MemPlugin m;
  m.p.resources = &wide[0].r;
  LoadedPlugin out;
  Error e = m.validate(&out);
  REQUIRE_MESSAGE(e.ok(), e.message);
  REQUIRE(out.resources.size() == 2);
  CHECK(out.resources[0].resource == "secrets");
  CHECK(out.resources[1].resource == "nodes");
  CHECK(out.resources[1].mapping == VCP_NAME_SAME);
}

TEST_CASE("a descriptor smaller than ABI 1.0's vcp_plugin is refused") {
  // ABI 1.0's vcp_plugin ends with on_watch_event; later minors append hooks (1.3: on_cache).
  const size_t v1_0 = offsetof(vcp_plugin, on_watch_event) + sizeof(void*);
  MemPlugin m;
  m.p.struct_size = 8;
  CHECK(m.refusal() ==
        "plugin file " + kPath + " declares a vcp_plugin of 8 bytes, smaller than the " +
            std::to_string(v1_0) +
            " bytes of plugin ABI 1.0; set struct_size = sizeof(vcp_plugin) and rebuild the plugin "
            "against vcp/plugin.h 1.x");
  m.p.struct_size = static_cast<uint32_t>(v1_0 - sizeof(void*));
  CHECK(m.refusal() ==
        kMe + " declares a vcp_plugin of " + std::to_string(v1_0 - sizeof(void*)) +
            " bytes, smaller than the " + std::to_string(v1_0) +
            " bytes of plugin ABI 1.0; set struct_size = sizeof(vcp_plugin) and rebuild the plugin "
            "against vcp/plugin.h 1.x");
}

TEST_CASE("a plugin built against ABI 1.2 (no on_cache field) loads, and its objects are cached whole") {
  MemPlugin m;
  m.p.struct_size = static_cast<uint32_t>(offsetof(vcp_plugin, on_cache));
  m.p.abi_minor = 2;
  // What lies past its struct_size is not the plugin's: the engine must not read it.
  m.p.on_cache = [](void*, vcp_side, uint32_t, vcp_str, vcp_buf*) { return VCP_ERROR; };
  LoadedPlugin out;
  Error e = m.validate(&out);
  REQUIRE_MESSAGE(e.ok(), e.message);
  out.descriptor = &m.p;
  vc::plugin::Instance inst(std::move(out));
  CHECK_FALSE(inst.has_cache_hook());
}

TEST_CASE("an invalid or missing plugin name is refused") {
  MemPlugin m;
  m.p.name = "Mem_Plugin";
  CHECK(m.refusal() ==
        "plugin file " + kPath +
            " declares the invalid name \"Mem_Plugin\"; a plugin name is 1 to 63 characters of "
            "[a-z0-9-] that start and end with a letter or digit");
  m.p.name = "-mem";
  CHECK(m.refusal().find("declares the invalid name \"-mem\"") != std::string::npos);
  m.p.name = "";
  CHECK(m.refusal().find("declares the invalid name \"\"") != std::string::npos);
  m.p.name = nullptr;
  CHECK(m.refusal() ==
        "plugin file " + kPath +
            " declares no name; set vcp_plugin.name to a short name of [a-z0-9-], e.g. \"pods\"");
}

TEST_CASE("a descriptor without a version is refused") {
  MemPlugin m;
  m.p.version = "";
  CHECK(m.refusal() == kMe + " declares no version; set vcp_plugin.version, e.g. \"1.0.0\"");
}

TEST_CASE("a plugin with zero resources is refused") {
  MemPlugin m;
  m.p.resource_count = 0;
  CHECK(m.refusal() == kMe +
                           " declares no resources; a plugin must own or watch at least one resource (set "
                           "vcp_plugin.resources and resource_count)");
  m.p.resource_count = 2;
  m.p.resources = nullptr;
  CHECK(m.refusal() == kMe +
                           " declares 2 resources but its resource table is NULL; point vcp_plugin.resources "
                           "at a static vcp_resource array");
}

TEST_CASE("a resource entry with a wrong struct_size is refused") {
  MemPlugin m;
  m.res[1].struct_size = 12;
  CHECK(m.refusal() ==
        kMe + " resource #1 declares struct_size 12, expected " + std::to_string(sizeof(vcp_resource)) +
            " or more and the same in every entry; set struct_size = sizeof(vcp_resource) in each "
            "entry");
}

TEST_CASE("a resource with a NULL version or resource name is refused") {
  MemPlugin m;
  m.res[0].version = nullptr;
  CHECK(m.refusal() ==
        kMe +
            " resource #0 (configmaps) has an empty version; set version, resource and kind (and "
            "group, \"\" for the core group) in every entry");
  MemPlugin n;
  n.res[1].resource = nullptr;
  CHECK(n.refusal() == kMe +
                           " resource #1 has an empty resource; set version, resource and kind (and group, "
                           "\"\" for the core group) in every entry");
}

TEST_CASE("a resource spelled in a way the API server would not accept is refused") {
  MemPlugin m;
  m.res[0].kind = "configMap";
  CHECK(m.refusal() ==
        kMe +
            " resource #0 (configmaps) has the invalid kind \"configMap\"; spell it as the API "
            "server does (group a DNS subdomain, version and resource lowercase alphanumerics, "
            "kind CamelCase)");
  MemPlugin n;
  n.res[1].group = "apps/v1";
  CHECK(n.refusal().find("resource #1 (deployments) has the invalid group \"apps/v1\"") != std::string::npos);
}

TEST_CASE("a resource with unknown flags, role or name mapping is refused") {
  MemPlugin m;
  m.res[0].flags = VCP_RES_NAMESPACED | 0x40;
  CHECK(m.refusal() ==
        kMe +
            " resource #0 (configmaps) sets unknown flags 0x40; use only VCP_RES_NAMESPACED, "
            "VCP_RES_STATUS, VCP_RES_KEEP_ON_DELETE, VCP_RES_RECREATE_ON_UID, VCP_RES_UNCACHED "
            "and VCP_RES_HOST_NAMESPACES");
  MemPlugin u;
  u.res[0].flags = VCP_RES_NAMESPACED | VCP_RES_UNCACHED;
  CHECK(u.refusal().find("resource #0 (configmaps) sets VCP_RES_UNCACHED on a resource it owns") !=
        std::string::npos);
  MemPlugin r;
  r.res[1].role = 0;
  CHECK(r.refusal() == kMe +
                           " resource #1 (deployments) has the unknown role 0; use VCP_ROLE_TO_HOST, "
                           "VCP_ROLE_TO_VIRTUAL, VCP_ROLE_WATCH_VIRTUAL or VCP_ROLE_WATCH_HOST");
  MemPlugin n;
  n.res[0].name_mapping = 3;
  CHECK(n.refusal() ==
        kMe +
            " resource #0 (configmaps) has the unknown name mapping 3; use VCP_NAME_NAMESPACED, "
            "VCP_NAME_CLUSTER or VCP_NAME_SAME");
}

TEST_CASE("VCP_RES_HOST_NAMESPACES (ABI 1.4) is accepted on a host watch of Services only") {
  MemPlugin m;  // owns services and watches them in other host namespaces: two caches, allowed
  m.res[0] = vcp_resource{
      sizeof(vcp_resource), "", "v1", "services", "Service", VCP_RES_NAMESPACED, VCP_ROLE_TO_HOST,
      VCP_NAME_NAMESPACED,  ""};
  m.res[1] = m.res[0];
  m.res[1].flags = VCP_RES_NAMESPACED | VCP_RES_HOST_NAMESPACES;
  m.res[1].role = VCP_ROLE_WATCH_HOST;
  LoadedPlugin out;
  Error e = m.validate(&out);
  REQUIRE_MESSAGE(e.ok(), e.message);
  CHECK(out.resources[1].host_namespaces);
  CHECK_FALSE(out.resources[0].host_namespaces);
  const std::string why =
      " sets VCP_RES_HOST_NAMESPACES, which only a VCP_ROLE_WATCH_HOST entry of the core group's namespaced "
      "services may set; other host namespaces are readable for Services only";
  MemPlugin s;  // Secrets of other namespaces: refused
  s.res[1] = vcp_resource{
      sizeof(vcp_resource), "", "v1", "secrets", "Secret", VCP_RES_NAMESPACED | VCP_RES_HOST_NAMESPACES,
      VCP_ROLE_WATCH_HOST,  0,  ""};
  CHECK(s.refusal() == kMe + " resource #1 (secrets)" + why);
  MemPlugin v;  // on the virtual side it means nothing
  v.res[1] = m.res[1];
  v.res[1].role = VCP_ROLE_WATCH_VIRTUAL;
  CHECK(v.refusal() == kMe + " resource #1 (services)" + why);
  MemPlugin o;  // an owned entry cannot reach other namespaces
  o.res[0].flags = VCP_RES_NAMESPACED | VCP_RES_HOST_NAMESPACES;
  CHECK(o.refusal() == kMe + " resource #0 (configmaps)" + why);
  MemPlugin t;  // two watches of other namespaces are one cache: declare it once
  t.res[0] = m.res[1];
  t.res[1] = m.res[1];
  CHECK(t.refusal().find("declares services with VCP_ROLE_WATCH_HOST twice") != std::string::npos);
}

TEST_CASE("the name mapping of a WATCH resource is ignored, as the header says") {
  MemPlugin m;
  m.res[1].name_mapping = 99;
  LoadedPlugin out;
  CHECK(m.validate(&out).ok());
}

TEST_CASE("a cluster-scoped resource with the namespaced name mapping is refused") {
  MemPlugin m;
  m.res[0] = vcp_resource{sizeof(vcp_resource), "", "v1", "nodes", "Node", 0, VCP_ROLE_TO_VIRTUAL,
                          VCP_NAME_NAMESPACED,  ""};
  CHECK(m.refusal() ==
        kMe +
            " resource #0 (nodes) is cluster-scoped but uses VCP_NAME_NAMESPACED, which needs a "
            "namespace; use VCP_NAME_CLUSTER or VCP_NAME_SAME, or set VCP_RES_NAMESPACED");
}

TEST_CASE("one plugin declaring a resource twice is refused") {
  MemPlugin m;
  m.res[1] = m.res[0];
  m.res[1].role = VCP_ROLE_WATCH_HOST;
  CHECK(m.refusal() == kMe +
                           " declares configmaps twice (resources #0 and #1) and owns it in one of them; an "
                           "owned resource is cached on both sides already, so declare it once");
  MemPlugin n;
  n.res[0] = n.res[1];
  CHECK(n.refusal() == kMe +
                           " declares deployments.apps with VCP_ROLE_WATCH_HOST twice (resources #0 and #1); "
                           "declare it once");
  MemPlugin w;  // both sides of one resource, read-only: two caches, allowed
  w.res[0] = w.res[1];
  w.res[0].role = VCP_ROLE_WATCH_VIRTUAL;
  LoadedPlugin out;
  CHECK(w.validate(&out).ok());
}

TEST_CASE("config keys with a NULL path, a bad path, an unknown type or no object fields are refused") {
  MemPlugin m;
  m.keys[0].path = nullptr;
  CHECK(m.refusal() == kMe +
                           " config key #0 has a NULL path; set its full values path, e.g. "
                           "\"sync.nodes.syncAllNodes\"");
  MemPlugin b;
  b.keys[1].path = "sync..mappings";
  CHECK(b.refusal() == kMe +
                           " config key #1 has the invalid path \"sync..mappings\"; a values path is "
                           "dot-separated keys of [A-Za-z0-9_-]");
  MemPlugin t;
  t.keys[0].type = 6;
  CHECK(t.refusal() == kMe +
                           " config key #0 (sync.mem.enabled) has the unknown type 6; use VCP_CONF_BOOL, "
                           "VCP_CONF_INT, VCP_CONF_STRING, VCP_CONF_STRING_LIST, VCP_CONF_OBJECT_LIST or "
                           "VCP_CONF_STRING_MAP");
  MemPlugin o;
  o.keys[1].object_fields = " , ";
  CHECK(o.refusal() == kMe +
                           " config key #1 (sync.mem.mappings) is a VCP_CONF_OBJECT_LIST without "
                           "object_fields; list its allowed fields, e.g. \"from,to\"");
  MemPlugin d;
  d.keys[1] = d.keys[0];
  CHECK(d.refusal() ==
        kMe + " declares config key sync.mem.enabled twice (#0 and #1); declare each key once");
  MemPlugin n;
  n.p.config_keys = nullptr;
  CHECK(n.refusal() ==
        kMe +
            " declares 2 config keys but its config key table is NULL; point "
            "vcp_plugin.config_keys at a static vcp_config_key array or set config_key_count to 0");
}

TEST_CASE("a plugin without on_init, or owning a resource without on_sync, is refused") {
  MemPlugin m;
  m.p.on_init = nullptr;
  CHECK(m.refusal() ==
        kMe + " has no on_init hook; every plugin needs on_init to receive the host services table");
  MemPlugin s;
  s.p.on_sync = nullptr;
  CHECK(s.refusal() ==
        kMe +
            " owns configmaps (VCP_ROLE_TO_HOST) but has no on_sync hook; implement on_sync or "
            "declare the resource with a WATCH role");
  MemPlugin w;  // a watch-only plugin needs no on_sync
  w.p.on_sync = nullptr;
  w.res[0].role = VCP_ROLE_WATCH_VIRTUAL;
  LoadedPlugin out;
  CHECK(w.validate(&out).ok());
}

TEST_CASE("resolve_plugin finds a name in the search directories in order") {
  std::string path;
  Error e = resolve_plugin("fixture-ok", {"/nonexistent/a", fixture_dir()}, &path);
  REQUIRE_MESSAGE(e.ok(), e.message);
  CHECK(path == fixture_path("ok"));
}

TEST_CASE("resolve_plugin lists every path it tried when a name is not found") {
  std::string path = "unchanged";
  Error e = resolve_plugin("pods", {"/nonexistent/a", "/nonexistent/b/"}, &path);
  CHECK(e.kind == ErrorKind::kIo);
  CHECK(e.message ==
        "plugin pods not found; tried /nonexistent/a/libvcp-pods.so, /nonexistent/b/libvcp-pods.so; "
        "build it, or add the directory that holds libvcp-pods.so to the plugin search path");
  CHECK(path == "unchanged");
}

TEST_CASE("resolve_plugin takes a value with a slash or a .so suffix as a path") {
  std::string path;
  REQUIRE(resolve_plugin(fixture_path("ok"), {"/nonexistent"}, &path).ok());
  CHECK(path == fixture_path("ok"));
  Error e = resolve_plugin("libvcp-gone.so", {fixture_dir()}, &path);
  CHECK(e.message == "plugin file libvcp-gone.so does not exist; check the path, or build the plugin first");
}

TEST_CASE("resolve_plugin refuses a value that is neither a name nor a path, and an empty search path") {
  std::string path;
  CHECK(resolve_plugin("Pods!", {fixture_dir()}, &path).message ==
        "\"Pods!\" is neither a plugin name ([a-z0-9-]) nor the path of a .so file; pass a name such as pods "
        "or a "
        "path");
  CHECK(resolve_plugin("pods", {}, &path).message ==
        "plugin pods not found: no plugin directories are configured; pass the path of libvcp-pods.so or "
        "configure "
        "a plugin directory");
  CHECK(resolve_plugin("", {fixture_dir()}, &path).message ==
        "no plugin was given; pass a plugin name such as pods or the path of its .so file");
}

TEST_CASE("two plugins owning the same resource conflict, naming both plugins and files") {
  LoadedPlugin ok, conflict;
  REQUIRE(load("ok", &ok).ok());
  REQUIRE(load("conflict", &conflict).ok());
  Error e = check_conflicts({&ok, &conflict});
  CHECK(e.kind == ErrorKind::kInvalidArgument);
  CHECK(e.message ==
        "plugins fixture-ok (" + fixture_path("ok") + ") and fixture-conflict (" + fixture_path("conflict") +
            ") both own configmaps; a resource can be synced by one plugin only, so remove one of them "
            "or give one a WATCH role for it");
}

TEST_CASE("a WATCH role never conflicts with an owner of the same resource") {
  // fixture-conflict watches secrets on the virtual side; fixture-throws owns secrets.
  LoadedPlugin conflict, throws;
  REQUIRE(load("conflict", &conflict).ok());
  REQUIRE(load("throws", &throws).ok());
  CHECK(check_conflicts({&conflict, &throws}).ok());
}

TEST_CASE("two plugins with the same name conflict, and so does one plugin loaded twice") {
  LoadedPlugin a, b;
  REQUIRE(load("ok", &a).ok());
  REQUIRE(load("ok", &b).ok());
  CHECK(check_conflicts({&a, &b}).message ==
        "plugin fixture-ok (" + fixture_path("ok") + ") is loaded twice; list each plugin once");
  b.path = "/elsewhere/libvcp-fixture-ok.so";
  CHECK(check_conflicts({&a, &b}).message ==
        "plugins fixture-ok (" + fixture_path("ok") +
            ") and fixture-ok (/elsewhere/libvcp-fixture-ok.so) have the same "
            "name; load only one of them, or rename one");
}

TEST_CASE("ownership conflicts ignore the version: apps/v1 and apps/v1beta1 deployments are one resource") {
  MemPlugin m1, m2;
  m1.res[1].role = VCP_ROLE_TO_HOST;
  m2.res[1].role = VCP_ROLE_TO_HOST;
  m2.res[1].version = "v1beta1";
  m2.res[0].role = VCP_ROLE_WATCH_VIRTUAL;  // configmaps owned by m1 only
  m2.p.name = "other";
  LoadedPlugin a, b;
  REQUIRE(m1.validate(&a).ok());
  REQUIRE(m2.validate(&b).ok());
  a.path = "/p/a.so";
  b.path = "/p/b.so";
  CHECK(check_conflicts({&a, &b}).message ==
        "plugins mem (/p/a.so) and other (/p/b.so) both own deployments.apps; a resource can be synced by "
        "one plugin "
        "only, so remove one of them or give one a WATCH role for it");
}

}  // namespace vc::plugin
