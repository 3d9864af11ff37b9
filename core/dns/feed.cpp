#include "dns/feed.hpp"

namespace vc::dns {

informer::Handlers service_handlers(Zone* zone) {
  informer::Handlers h;
  // An event's object is the one the server sent, unpacked: json() is a view of it, no copy.
  h.on_add = [zone](const informer::ObjectPtr& o) {
    std::string scratch;
    zone->upsert_service(o->json(&scratch));
  };
  h.on_update = [zone](const informer::ObjectPtr&, const informer::ObjectPtr& o) {
    std::string scratch;
    zone->upsert_service(o->json(&scratch));
  };
  h.on_delete = [zone](const informer::ObjectPtr& o) { zone->remove_service(o->namespace_(), o->name()); };
  return h;
}

informer::Handlers endpoints_handlers(Zone* zone) {
  informer::Handlers h;
  h.on_add = [zone](const informer::ObjectPtr& o) {
    std::string scratch;
    zone->upsert_endpoints(o->json(&scratch));
  };
  h.on_update = [zone](const informer::ObjectPtr&, const informer::ObjectPtr& o) {
    std::string scratch;
    zone->upsert_endpoints(o->json(&scratch));
  };
  h.on_delete = [zone](const informer::ObjectPtr& o) { zone->remove_endpoints(o->namespace_(), o->name()); };
  return h;
}

kube::GVR services_gvr() {
  return kube::GVR{"", "v1", "services", true, "Service"};
}
kube::GVR endpoints_gvr() {
  return kube::GVR{"", "v1", "endpoints", true, "Endpoints"};
}

}  // namespace vc::dns
