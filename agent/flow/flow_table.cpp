#include "agent/flow/flow_table.hpp"

#include <cstring>

namespace halong::agent::net {

using halong::net::IpAddr;
using halong::net::Packet;
namespace ipproto = halong::net::ipproto;
namespace tcpflag = halong::net::tcpflag;

struct FlowTable::Flow {
  Key key;
  halong::net::FlowInfo info;
  IpAddr client, server;
  uint16_t cport = 0, sport = 0;
  uint8_t proto = 0;
  Queue queue = q_other_new;
  std::list<Flow*>::iterator qit;
  bool seen[2] = {false, false};
  // TCP
  enum class Tcp : uint8_t { none, syn_sent, syn_recv, established, closed } tcp = Tcp::none;
  bool session = false;  // stream tracked (SYN seen, or midstream pick-up)
  bool no_session_counted = false;
  bool fin[2] = {false, false};
  StreamDirection dir[2];  // 0 = to server, 1 = to client
};

size_t FlowTable::KeyHash::operator()(const Key& k) const {
  uint64_t w[6];
  std::memcpy(w, k.a.data(), 16);
  std::memcpy(w + 2, k.b.data(), 16);
  w[4] = static_cast<uint64_t>(k.pa) << 48 | static_cast<uint64_t>(k.pb) << 32 | static_cast<uint64_t>(k.vlan0) << 16 |
         k.vlan1;
  w[5] = static_cast<uint64_t>(k.proto) << 8 | k.version;
  uint64_t h = 0x9e3779b97f4a7c15ull;
  for (uint64_t x : w) {
    h ^= x + 0x9e3779b97f4a7c15ull + (h << 6) + (h >> 2);
    h *= 0xff51afd7ed558ccdull;
  }
  return static_cast<size_t>(h ^ (h >> 33));
}

FlowTable::FlowTable(FlowSettings settings) : settings_(std::move(settings)) {}

FlowTable::~FlowTable() = default;

size_t FlowTable::size() const { return map_.size(); }

size_t FlowTable::bytes_per_flow() {
  // Flow + unordered_map node (key, pointer, hash, next) + bucket + list node.
  return sizeof(Flow) + sizeof(Key) + 4 * sizeof(void*) + sizeof(void*) + 3 * sizeof(void*);
}

int64_t FlowTable::timeout_of(Queue q) const {
  const FlowTimeouts& t = q <= q_tcp_closed ? settings_.tcp : q <= q_udp_closed ? settings_.udp : settings_.other;
  switch (q % 3) {
    case 0: return t.new_us;
    case 1: return t.established_us;
    default: return t.closed_us;
  }
}

void FlowTable::requeue(Flow* f, int64_t now) {
  (void)now;
  int base = f->proto == ipproto::tcp ? q_tcp_new : f->proto == ipproto::udp ? q_udp_new : q_other_new;
  int state = 0;
  if (f->tcp == Flow::Tcp::closed) state = 2;
  else if (f->info.established) state = 1;
  Queue q = static_cast<Queue>(base + state);
  auto& from = queues_[f->queue];
  auto& to = queues_[q];
  to.splice(to.end(), from, f->qit);  // O(1), iterator stays valid
  f->queue = q;
}

void FlowTable::end_flow(Flow* f, FlowEndReason reason) {
  if (on_end_) {
    FlowRecord r{f->info, f->client, f->server, f->cport, f->sport, f->proto, reason};
    on_end_(r);
  }
  f->dir[0].release(stream_mem_);
  f->dir[1].release(stream_mem_);
  queues_[f->queue].erase(f->qit);
  --counters_.active;
  counters_.stream_memory = stream_mem_;
  map_.erase(f->key);  // frees f
}

size_t FlowTable::expire(int64_t now_us) {
  size_t n = 0;
  for (int q = 0; q < q_count; ++q) {
    auto& list = queues_[q];
    const int64_t to = timeout_of(static_cast<Queue>(q));
    while (!list.empty() && list.front()->info.last_us + to < now_us) {
      ++counters_.timed_out;
      end_flow(list.front(), FlowEndReason::timeout);
      ++n;
    }
  }
  return n;
}

void FlowTable::flush() {
  for (auto& list : queues_)
    while (!list.empty()) end_flow(list.front(), FlowEndReason::shutdown);
}

void FlowTable::process(Packet& p) {
  p.flow = nullptr;
  p.stream = nullptr;
  p.stream_len = 0;
  p.stream_new_len = 0;
  p.stream_offset = 0;
  if (p.ip_version == 0 || p.ip_fragment) {
    ++counters_.not_tracked;
    return;
  }
  expire(p.ts_us);

  const bool has_ports = p.ip_proto == ipproto::tcp || p.ip_proto == ipproto::udp || p.ip_proto == ipproto::sctp;
  const uint16_t sp = has_ports ? p.src_port : 0, dp = has_ports ? p.dst_port : 0;
  Key k{};
  const bool src_first = p.src.bytes < p.dst.bytes || (p.src.bytes == p.dst.bytes && sp <= dp);
  k.a = src_first ? p.src.bytes : p.dst.bytes;
  k.b = src_first ? p.dst.bytes : p.src.bytes;
  k.pa = src_first ? sp : dp;
  k.pb = src_first ? dp : sp;
  k.vlan0 = p.vlan_count > 0 ? p.vlan[0] : 0;
  k.vlan1 = p.vlan_count > 1 ? p.vlan[1] : 0;
  k.proto = p.ip_proto;
  k.version = p.ip_version;

  Flow* f;
  auto it = map_.find(k);
  if (it == map_.end()) {
    if (map_.size() >= settings_.max_flows && settings_.max_flows > 0) {
      // Evict the least recently active flow of any state.
      Flow* victim = nullptr;
      for (auto& list : queues_)
        if (!list.empty() && (victim == nullptr || list.front()->info.last_us < victim->info.last_us))
          victim = list.front();
      if (victim != nullptr) {
        ++counters_.evicted;
        end_flow(victim, FlowEndReason::evicted);
      }
    }
    auto nf = std::make_unique<Flow>();
    f = nf.get();
    f->key = k;
    f->proto = p.ip_proto;
    f->info.flow_id = next_id_++;
    f->info.start_us = p.ts_us;
    // The initiator is the sender of the first packet, except that a TCP SYN/ACK seen
    // first comes from the server when midstream pick-up is on (Suricata swaps the flow
    // then; without midstream it keeps the first packet's direction).
    const bool reversed = settings_.midstream && p.ip_proto == ipproto::tcp &&
                          (p.tcp_flags & (tcpflag::syn | tcpflag::ack)) == (tcpflag::syn | tcpflag::ack);
    f->client = reversed ? p.dst : p.src;
    f->server = reversed ? p.src : p.dst;
    f->cport = reversed ? dp : sp;
    f->sport = reversed ? sp : dp;
    f->queue = f->proto == ipproto::tcp ? q_tcp_new : f->proto == ipproto::udp ? q_udp_new : q_other_new;
    queues_[f->queue].push_back(f);
    f->qit = std::prev(queues_[f->queue].end());
    map_.emplace(k, std::move(nf));
    ++counters_.created;
    ++counters_.active;
  } else {
    f = it->second.get();
  }

  const bool to_server = p.src == f->client && sp == f->cport;
  auto& info = f->info;
  info.to_server = to_server;
  info.last_us = p.ts_us;
  if (to_server) {
    ++info.pkts_toserver;
    info.bytes_toserver += p.frame_len;
  } else {
    ++info.pkts_toclient;
    info.bytes_toclient += p.frame_len;
  }
  f->seen[to_server ? 0 : 1] = true;
  if (f->proto == ipproto::tcp) {
    tcp_update(f, p, to_server);
  } else if (f->seen[0] && f->seen[1]) {
    info.established = true;
  }
  p.flow = &info;
  requeue(f, p.ts_us);
  counters_.stream_memory = stream_mem_;
}

void FlowTable::tcp_update(Flow* f, Packet& p, bool to_server) {
  using Tcp = Flow::Tcp;
  const uint8_t fl = p.tcp_flags;
  const bool syn = fl & tcpflag::syn, ack = fl & tcpflag::ack, rst = fl & tcpflag::rst, fin = fl & tcpflag::fin;
  const int d = to_server ? 0 : 1;
  auto start_session = [&](bool midstream) {
    f->session = true;
    ++counters_.tcp_sessions;
    if (midstream) ++counters_.tcp_midstream;
  };

  if (syn && !ack) {
    if (f->tcp == Tcp::none && to_server) {
      f->tcp = Tcp::syn_sent;
      start_session(false);
      f->dir[0].init(p.tcp_seq + 1);
    }
  } else if (syn && ack) {
    if (f->tcp == Tcp::none && !to_server) {
      if (settings_.midstream) {
        f->tcp = Tcp::syn_recv;
        start_session(true);
        f->dir[1].init(p.tcp_seq + 1);
        f->dir[0].init(p.tcp_ack);
      }
    } else if (f->tcp == Tcp::syn_sent && !to_server) {
      f->tcp = Tcp::syn_recv;
      f->dir[1].init(p.tcp_seq + 1);
    }
  } else if (f->tcp == Tcp::none) {
    if (settings_.midstream && !rst) {
      f->tcp = Tcp::established;
      start_session(true);
    }
  } else if (ack && to_server && (f->tcp == Tcp::syn_recv || (f->tcp == Tcp::syn_sent && settings_.async_oneside))) {
    f->tcp = Tcp::established;
  } else if (ack && !to_server && f->tcp == Tcp::syn_recv && settings_.async_oneside) {
    // Only the server side is visible (asymmetric routing): its ACK after the SYN/ACK
    // completes the handshake, as Suricata's stream.async-oneside does.
    f->tcp = Tcp::established;
  }
  if (f->session && f->tcp == Tcp::none) f->tcp = Tcp::established;
  if (f->tcp == Tcp::none && !f->no_session_counted) {
    f->no_session_counted = true;
    ++counters_.tcp_no_session;
  }
  if (f->tcp == Tcp::established) f->info.established = true;  // sticky once reached
  if (rst && f->tcp != Tcp::none) f->tcp = Tcp::closed;
  if (fin) {
    f->fin[d] = true;
    if (f->fin[0] && f->fin[1]) f->tcp = Tcp::closed;
  }

  if (!f->session || !settings_.reassembly) return;
  StreamDirection& mine = f->dir[d];
  if (!mine.initialized()) mine.init(syn ? p.tcp_seq + 1 : p.tcp_seq);
  // Data on a RST is not part of the stream (the receiver discards it; Suricata too).
  if (p.payload_len > 0 && !rst) {
    mine.add(syn ? p.tcp_seq + 1 : p.tcp_seq, p.payload, p.payload_len, settings_.stream, stream_mem_,
             settings_.stream_memcap, counters_.stream);
  }
  if (ack) f->dir[1 - d].on_peer_ack(p.tcp_ack, settings_.stream, stream_mem_, settings_.stream_memcap, counters_.stream);
  StreamDirection::View v = mine.take_view(settings_.stream);
  if (v.new_len > 0) {
    p.stream = v.data;
    p.stream_len = v.len;
    p.stream_new_len = v.new_len;
    p.stream_offset = v.offset;
  }
}

}  // namespace halong::agent::net
