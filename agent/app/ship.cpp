#include "agent/app/ship.hpp"

#include <filesystem>

#include <spdlog/spdlog.h>

#include "agent/uplink/enroll.hpp"

namespace halong::agent {

Result<UplinkOptions> uplink_options(const AgentConfig& c) {
  if (c.collector.address.empty())
    return make_error(ErrorCode::invalid_argument,
                      c.source_file + ": collector.address is not set (HOST:PORT of the collector's agent gateway)");
  auto colon = c.collector.address.rfind(':');
  UplinkOptions o;
  o.host = c.collector.address.substr(0, colon);
  if (o.host.size() >= 2 && o.host.front() == '[') o.host = o.host.substr(1, o.host.size() - 2);
  try {
    int port = std::stoi(c.collector.address.substr(colon + 1));
    if (port <= 0 || port > 65535) throw std::out_of_range("port");
    o.port = static_cast<uint16_t>(port);
  } catch (const std::exception&) {
    return make_error(ErrorCode::invalid_argument, c.source_file + ": collector.address '" + c.collector.address +
                                                       "' has no valid port");
  }
  o.token = c.collector.token;
  o.agent = AgentRef{c.id, c.hostname, c.agency};
  o.ca_file = c.collector.ca_file;
  o.pinned_sha256 = c.collector.fingerprint;
  // Enrolled (halong-agent enroll): identity, agency and trust come from the certificate
  // the collector signed; mutual TLS replaces the shared token.
  if (auto en = load_enrollment(std::filesystem::path(c.data_dir) / "identity")) {
    o.agent.id = en->agent_id;
    o.agent.agency = en->agency;
    o.client_cert_file = en->cert_file;
    o.client_key_file = en->key_file;
    o.ca_file = en->ca_file;
    o.pinned_sha256 = en->collector_fingerprint;
    o.token.clear();
  }
  if (o.ca_file.empty() && o.pinned_sha256.empty())
    return make_error(ErrorCode::invalid_argument,
                      c.source_file + ": set collector.ca_file or collector.fingerprint so the agent can verify the "
                                      "collector (no trust on first use)");
  o.batch_size = c.collector.batch_size;
  o.flush_interval = std::chrono::milliseconds(c.collector.flush_interval_ms);
  o.spool.dir = std::filesystem::path(c.data_dir) / "spool";
  o.spool.max_bytes = c.spool.max_bytes;
  o.spool.fsync = c.spool.fsync == "always" ? FsyncPolicy::always
                  : c.spool.fsync == "never" ? FsyncPolicy::never
                                             : FsyncPolicy::interval;
  o.spool.overflow = c.spool.when_full == "drop_newest" ? OverflowPolicy::drop_newest : OverflowPolicy::drop_oldest;
  return o;
}

Result<uint64_t> ship_alerts(const AgentConfig& c, std::vector<Alert> alerts, std::chrono::milliseconds timeout) {
  auto opts = uplink_options(c);
  if (!opts) return opts.error();
  auto up = Uplink::create(*opts);
  if (!up) return up.error();
  for (auto& a : alerts) {
    auto r = (*up)->submit(std::move(a));
    if (!r) return make_error(r.error().code, "spool: " + r.error().message);
  }
  auto st = (*up)->start();
  if (!st) return st.error();
  auto done = (*up)->flush_and_wait(timeout);
  auto status = (*up)->status();
  (*up)->stop();
  if (!done) {
    const auto& e = done.error();
    if (e.code == ErrorCode::unauthorized)
      return make_error(e.code, "collector " + c.collector.address +
                                    " refused this agent (check collector.token / the agent's certificate): " + e.message);
    return make_error(e.code, "collector " + c.collector.address + " not reachable or not acknowledging after " +
                                  std::to_string(timeout.count() / 1000) + "s (" +
                                  std::to_string(status.connect_failures) + " connection attempts, will retry from "
                                  "the spool next time): " + e.message);
  }
  return static_cast<uint64_t>(alerts.size());
}

}  // namespace halong::agent
