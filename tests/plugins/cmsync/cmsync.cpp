// cmsync: the smallest useful sync plugin, used by the engine's integration tests. It copies every
// virtual ConfigMap to the host (renamed by the engine) with its data, the ownership labels and
// annotations, and keeps host-only annotations. It is written only against <vcp/plugin.h> and the JSON SDK,
// exactly as a third-party plugin would be. Its on_cache drops the virtual annotation cmsync.test/bulk, which
// it never copies, from the engine's cache; for a virtual ConfigMap labelled cmsync.test/bad-cache it writes
// a text under another name, which the engine must refuse (and cache the object whole).
#include <vcp/plugin.h>

#include <exception>
#include <string>

#include "json/json.hpp"

namespace {

const vcp_host_api* g_host;
vcp_host_ctx* g_ctx;

const vcp_resource kResources[] = {
    {sizeof(vcp_resource), "", "v1", "configmaps", "ConfigMap", VCP_RES_NAMESPACED, VCP_ROLE_TO_HOST,
     VCP_NAME_NAMESPACED, ""},
};

const vcp_config_key kKeys[] = {
    {sizeof(vcp_config_key), "sync.cmsync.skipLabel", VCP_CONF_STRING, "\"\"",
     "Virtual ConfigMaps carrying this label key are not synced.", nullptr},
};

std::string s(vcp_str v) {
  return v.ptr ? std::string(v.ptr, v.len) : std::string();
}

void error(const std::string& msg) {
  g_host->set_error(g_ctx, vcp_str{msg.data(), msg.size()});
}

vcp_status on_init(const vcp_host_api* host, vcp_host_ctx* ctx, void** state) {
  g_host = host;
  g_ctx = ctx;
  *state = nullptr;
  return VCP_OK;
}

vcp_status on_sync(void*, const vcp_sync_args* a, vcp_buf* out) {
  try {
    auto v = vc::json::parse(std::string_view(a->source.ptr, a->source.len));
    if (!v) {
      error("virtual ConfigMap is not JSON");
      return VCP_REFUSED;
    }
    // A virtual ConfigMap carrying the configured label key stays virtual (shows config_get at work).
    vcp_str skip{nullptr, 0};
    if (g_host->config_get(g_ctx, vcp_str{"sync.cmsync.skipLabel", 21}, &skip) && skip.len > 0) {
      if (const auto* vl = v->at({"metadata", "labels"}); vl && vl->find(s(skip))) return VCP_SKIP;
    }
    const vcp_cluster_info* info = g_host->cluster_info(g_ctx);
    vc::json::Value h = a->target.len ? *vc::json::parse(std::string_view(a->target.ptr, a->target.len))
                                      : vc::json::Value::object();
    h["apiVersion"] = "v1";
    h["kind"] = "ConfigMap";
    vc::json::Value& meta = h["metadata"];
    meta["name"] = s(a->target_name);
    meta["namespace"] = s(a->target_namespace);
    vc::json::Value& labels = meta["labels"];
    labels = vc::json::Value::object();
    if (const auto* vl = v->at({"metadata", "labels"}))
      for (auto& [k, val] : vl->members())
        labels[s(g_host->translate_label_key(g_ctx, 0, vcp_str{k.data(), k.size()}))] = val;
    labels["vcluster.loft.sh/managed-by"] = s(info->vcluster_name);
    labels["vcluster.loft.sh/namespace"] = s(a->source_namespace);
    vc::json::Value& ann = meta["annotations"];
    if (!ann.is_object()) ann = vc::json::Value::object();
    ann["vcluster.loft.sh/object-name"] = s(a->source_name);
    ann["vcluster.loft.sh/object-namespace"] = s(a->source_namespace);
    if (const auto* uid = v->at({"metadata", "uid"})) ann["vcluster.loft.sh/object-uid"] = *uid;
    h.erase("data");
    h.erase("binaryData");
    if (const auto* d = v->find("data")) h["data"] = *d;
    if (const auto* d = v->find("binaryData")) h["binaryData"] = *d;
    std::string j = vc::json::dump(h);
    g_host->buf_append(out, j.data(), j.size());
    return VCP_OK;
  } catch (const std::exception& e) {
    error(e.what());
    return VCP_ERROR;
  }
}

vcp_status on_cache(void*, vcp_side side, uint32_t, vcp_str object, vcp_buf* out) {
  if (side != VCP_SIDE_VIRTUAL) return VCP_SKIP;
  try {
    auto v = vc::json::parse(std::string_view(object.ptr, object.len));
    if (!v) return VCP_SKIP;
    vc::json::Value* meta = v->find("metadata");
    if (const auto* l = v->at({"metadata", "labels"}); l && l->find("cmsync.test/bad-cache")) {
      (*meta)["name"] = "not-" + meta->find("name")->as_string();
    } else if (vc::json::Value* ann = meta->find("annotations"); ann && ann->find("cmsync.test/bulk")) {
      ann->erase("cmsync.test/bulk");
    } else {
      return VCP_SKIP;
    }
    std::string j = vc::json::dump(*v);
    g_host->buf_append(out, j.data(), j.size());
    return VCP_OK;
  } catch (const std::exception& e) {
    error(e.what());
    return VCP_ERROR;
  }
}

const vcp_plugin kPlugin = {
    sizeof(vcp_plugin),
    VCP_ABI_MAJOR,
    VCP_ABI_MINOR,
    "cmsync",
    "0.1.0",
    "Test plugin: syncs every virtual ConfigMap to the host.",
    kResources,
    1,
    kKeys,
    1,
    on_init,
    nullptr,
    on_sync,
    nullptr,
    nullptr,
    nullptr,
    on_cache,
};

}  // namespace

extern "C" VCP_EXPORT const vcp_plugin* vcp_plugin_entry_v1(void) {
  return &kPlugin;
}
