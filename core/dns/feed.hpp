// Keeps a Zone in step with informers of Services and Endpoints: whoever holds those informers (the
// syncer's engine, or vcluster-dns's own) adds these handlers before starting them.
#pragma once

#include "dns/zone.hpp"
#include "informer/informer.hpp"

namespace vc::dns {

informer::Handlers service_handlers(Zone* zone);
informer::Handlers endpoints_handlers(Zone* zone);

// The resources the zone is built from, as the informers name them.
kube::GVR services_gvr();
kube::GVR endpoints_gvr();

}  // namespace vc::dns
