#include "syncer/metrics.hpp"

#include <fmt/format.h>

#include <malloc.h>

#include <fstream>

#include "informer/informer.hpp"

namespace vc::syncer {
namespace {
long rss_bytes(const char* field) {
  std::ifstream f("/proc/self/status");
  std::string line;
  while (std::getline(f, line))
    if (line.rfind(field, 0) == 0) return std::strtol(line.c_str() + std::strlen(field), nullptr, 10) * 1024;
  return 0;
}
void requests(std::string& out, const kube::Client& c) {
  for (auto& [k, n] : c.stats().by_verb_code)
    out += fmt::format("vcluster_syncer_api_requests_total{{side=\"{}\",verb=\"{}\",code=\"{}\"}} {}\n",
                       c.side(), k.first, k.second, n);
}
}  // namespace

std::string render_metrics(const engine::Engine& eng, const kube::Client& virt, const kube::Client& host,
                           bool leader) {
  const auto& m = eng.metrics();
  std::string out;
  out +=
      "# HELP vcluster_syncer_reconciles_total Reconciles run, by outcome.\n# TYPE "
      "vcluster_syncer_reconciles_total counter\n";
  out += fmt::format("vcluster_syncer_reconciles_total {}\n", m.reconciles);
  out +=
      "# HELP vcluster_syncer_writes_total Writes made by the engine, by kind.\n# TYPE "
      "vcluster_syncer_writes_total counter\n";
  out += fmt::format("vcluster_syncer_writes_total{{kind=\"create\"}} {}\n", m.creates);
  out += fmt::format("vcluster_syncer_writes_total{{kind=\"update\"}} {}\n", m.updates);
  out += fmt::format("vcluster_syncer_writes_total{{kind=\"status\"}} {}\n", m.status_updates);
  out += fmt::format("vcluster_syncer_writes_total{{kind=\"delete\"}} {}\n", m.deletes);
  out += fmt::format("vcluster_syncer_writes_total{{kind=\"submit\"}} {}\n", m.submits);
  out += "# TYPE vcluster_syncer_outcomes_total counter\n";
  out += fmt::format("vcluster_syncer_outcomes_total{{outcome=\"no_change\"}} {}\n", m.no_change);
  out += fmt::format("vcluster_syncer_outcomes_total{{outcome=\"retry\"}} {}\n", m.retries);
  out += fmt::format("vcluster_syncer_outcomes_total{{outcome=\"refused\"}} {}\n", m.refusals);
  out += fmt::format("vcluster_syncer_outcomes_total{{outcome=\"wait\"}} {}\n", m.waits);
  out += fmt::format("vcluster_syncer_outcomes_total{{outcome=\"conflict\"}} {}\n", m.conflicts);
  out +=
      "# HELP vcluster_syncer_informer_events_total Informer events received.\n# TYPE "
      "vcluster_syncer_informer_events_total counter\n";
  out += fmt::format("vcluster_syncer_informer_events_total {}\n", m.informer_events);
  out +=
      "# HELP vcluster_syncer_queue_depth Keys waiting in the work queue.\n# TYPE "
      "vcluster_syncer_queue_depth gauge\n";
  out += fmt::format("vcluster_syncer_queue_depth {}\n", eng.queue_depth());
  const auto [unread, unread_bytes] = eng.unread_results();
  out +=
      "# HELP vcluster_syncer_unread_results Answers of plugin writes the plugin has not read yet.\n# TYPE "
      "vcluster_syncer_unread_results gauge\n";
  out += fmt::format("vcluster_syncer_unread_results {}\nvcluster_syncer_unread_result_bytes {}\n", unread,
                     unread_bytes);
  // Which writes they answer, so that a plugin that forgets to read some kind is found from /metrics.
  out +=
      "# HELP vcluster_syncer_unread_results_by_write Unread answers by plugin, side, kind and verb.\n"
      "# TYPE vcluster_syncer_unread_results_by_write gauge\n";
  for (const auto& u : eng.unread_results_by_write())
    out += fmt::format(
        "vcluster_syncer_unread_results_by_write{{plugin=\"{}\",side=\"{}\",kind=\"{}\",verb=\"{}\"}} {}\n",
        u.plugin, u.side, u.kind, u.verb, u.count);
  out += fmt::format(
      "# TYPE vcluster_syncer_unread_results_dropped_total "
      "counter\nvcluster_syncer_unread_results_dropped_total {}\n",
      m.results_dropped);
  const auto hold = eng.hold_info();
  out +=
      "# HELP vcluster_syncer_creation_hold 1 while other work waits for creations.\n# TYPE "
      "vcluster_syncer_creation_hold gauge\n";
  out += fmt::format("vcluster_syncer_creation_hold {}\n", hold.held ? 1 : 0);
  out +=
      "# HELP vcluster_syncer_creation_work Creation work pending, by kind.\n# TYPE "
      "vcluster_syncer_creation_work gauge\n";
  out += fmt::format("vcluster_syncer_creation_work{{kind=\"queued\"}} {}\n", hold.urgent_queued);
  out += fmt::format("vcluster_syncer_creation_work{{kind=\"reconciling\"}} {}\n", hold.urgent_processing);
  out += fmt::format("vcluster_syncer_creation_work{{kind=\"writes\"}} {}\n", hold.urgent_submits);
  out +=
      "# HELP vcluster_syncer_sync_latency_seconds From the event that made a key dirty to its host "
      "create.\n";
  out += "# TYPE vcluster_syncer_sync_latency_seconds histogram\n";
  uint64_t cum = 0;
  for (size_t i = 0; i < m.latency_buckets_le.size(); i++) {
    cum += m.latency_counts[i];
    out += fmt::format("vcluster_syncer_sync_latency_seconds_bucket{{le=\"{}\"}} {}\n",
                       m.latency_buckets_le[i], cum);
  }
  cum += m.latency_counts.back();
  out += fmt::format("vcluster_syncer_sync_latency_seconds_bucket{{le=\"+Inf\"}} {}\n", cum);
  out += fmt::format(
      "vcluster_syncer_sync_latency_seconds_sum {}\nvcluster_syncer_sync_latency_seconds_count {}\n",
      m.latency_sum, m.latency_count);
  out +=
      "# HELP vcluster_syncer_api_requests_total API requests by side, verb and code (0 = transport "
      "error).\n";
  out += "# TYPE vcluster_syncer_api_requests_total counter\n";
  requests(out, virt);
  requests(out, host);
  // One group per metric family, as the text format requires.
  const auto infs = eng.informers();
  auto family = [&](const char* name, const char* help, size_t engine::Engine::InformerInfo::*field) {
    out += fmt::format("# HELP {} {}\n# TYPE {} gauge\n", name, help, name);
    for (auto& i : infs)
      out += fmt::format("{}{{side=\"{}\",resource=\"{}\"}} {}\n", name, i.side, i.resource, i.*field);
  };
  family("vcluster_syncer_cache_objects", "Objects held per informer.",
         &engine::Engine::InformerInfo::objects);
  family("vcluster_syncer_cache_bytes", "Bytes held for the cached objects' text (packed).",
         &engine::Engine::InformerInfo::bytes);
  family("vcluster_syncer_cache_json_bytes", "The cached objects' JSON, unpacked.",
         &engine::Engine::InformerInfo::json_bytes);
  family("vcluster_syncer_cache_dict_bytes", "The dictionary each informer packs its objects against.",
         &engine::Engine::InformerInfo::dict_bytes);
  out +=
      "# HELP vcluster_syncer_plugin_quarantined 1 for each quarantined plugin.\n# TYPE "
      "vcluster_syncer_plugin_quarantined gauge\n";
  for (auto& [name, reason] : eng.quarantined())
    out += fmt::format("vcluster_syncer_plugin_quarantined{{plugin=\"{}\"}} 1\n", name);
  out += fmt::format("# TYPE vcluster_syncer_ready gauge\nvcluster_syncer_ready {}\n", eng.ready() ? 1 : 0);
  out += fmt::format("# TYPE vcluster_syncer_leader gauge\nvcluster_syncer_leader {}\n", leader ? 1 : 0);
  out += fmt::format("# TYPE process_resident_memory_bytes gauge\nprocess_resident_memory_bytes {}\n",
                     rss_bytes("VmRSS:"));
  out +=
      fmt::format("# TYPE process_resident_memory_peak_bytes gauge\nprocess_resident_memory_peak_bytes {}\n",
                  rss_bytes("VmHWM:"));
  // The allocator's view (glibc, every arena): bytes handed out and not freed, and bytes freed but kept. RSS
  // minus the first is what fragmentation and the allocator's caches cost.
  struct mallinfo2 mi = mallinfo2();
  out += fmt::format("# TYPE process_heap_in_use_bytes gauge\nprocess_heap_in_use_bytes {}\n",
                     mi.uordblks + mi.hblkhd);
  out += fmt::format("# TYPE process_heap_free_bytes gauge\nprocess_heap_free_bytes {}\n", mi.fordblks);
  // The caches' own pool (informer::cache_memory), whose chunks the heap figures above count as in use.
  const informer::CacheMemoryStats cm = informer::cache_memory_stats();
  out += "# HELP vcluster_syncer_cache_pool_bytes The caches' memory pool: bytes in use, and its chunks.\n";
  out += "# TYPE vcluster_syncer_cache_pool_bytes gauge\n";
  out += fmt::format("vcluster_syncer_cache_pool_bytes{{kind=\"in_use\"}} {}\n", cm.in_use);
  out += fmt::format("vcluster_syncer_cache_pool_bytes{{kind=\"reserved\"}} {}\n", cm.reserved);
  return out;
}

}  // namespace vc::syncer
