#include "agent/capture/pcap_source.hpp"

#include <pcap/pcap.h>

#include <cerrno>

#include <poll.h>

namespace halong::agent::net {
namespace {

int64_t to_us(const timeval& tv) {
  return static_cast<int64_t>(tv.tv_sec) * 1000000 + static_cast<int64_t>(tv.tv_usec);
}

Error pcap_err(ErrorCode code, const std::string& what, const std::string& detail) {
  return make_error(code, what + ": " + detail);
}

}  // namespace

// ---------------------------------------------------------------- PcapFileSource

Result<std::unique_ptr<PcapFileSource>> PcapFileSource::open(const std::string& path) {
  char errbuf[PCAP_ERRBUF_SIZE] = {0};
  pcap_t* p = pcap_open_offline_with_tstamp_precision(path.c_str(), PCAP_TSTAMP_PRECISION_MICRO, errbuf);
  if (p == nullptr) {
    std::string why = errbuf[0] ? errbuf : "cannot be opened";
    ErrorCode code = ErrorCode::parse_error;
    if (why.find("No such file") != std::string::npos) code = ErrorCode::not_found;
    else if (why.find("Permission denied") != std::string::npos || why.find("Is a directory") != std::string::npos)
      code = ErrorCode::io_error;
    return pcap_err(code, "pcap file '" + path + "'", why);
  }
  return std::unique_ptr<PcapFileSource>(new PcapFileSource(p, path, pcap_datalink(p)));
}

PcapFileSource::PcapFileSource(pcap* p, std::string path, int linktype)
    : p_(p), path_(std::move(path)), linktype_(linktype) {}

PcapFileSource::~PcapFileSource() {
  if (p_ != nullptr) pcap_close(p_);
}

Result<ReadStatus> PcapFileSource::next(Frame& out) {
  if (done_) return ReadStatus::end;
  pcap_pkthdr* hdr = nullptr;
  const u_char* data = nullptr;
  int rc = pcap_next_ex(p_, &hdr, &data);
  if (rc == 1) {
    out.data = data;
    out.caplen = hdr->caplen;
    out.wire_len = hdr->len;
    out.ts_us = to_us(hdr->ts);
    out.linktype = linktype_;
    ++stats_.received;
    return ReadStatus::frame;
  }
  done_ = true;
  if (rc == PCAP_ERROR_BREAK) return ReadStatus::end;
  // pcapng files can change link type per interface block: libpcap reports it as an error.
  std::string why = pcap_geterr(p_);
  return pcap_err(ErrorCode::parse_error,
                  "pcap file '" + path_ + "' after frame " + std::to_string(stats_.received), why);
}

// ---------------------------------------------------------------- LiveSource

Result<std::unique_ptr<LiveSource>> LiveSource::open(const LiveOptions& o) {
  const std::string where = "capture on interface '" + o.interface + "'";
  if (o.interface.empty()) return make_error(ErrorCode::invalid_argument, "capture: no interface given");
  if (o.snaplen <= 0) return make_error(ErrorCode::invalid_argument, where + ": snaplen must be > 0");
  if (o.buffer_size < 0) return make_error(ErrorCode::invalid_argument, where + ": buffer_size must be >= 0");
  if (o.timeout_ms < 0) return make_error(ErrorCode::invalid_argument, where + ": timeout must be >= 0");
  char errbuf[PCAP_ERRBUF_SIZE] = {0};
  pcap_t* p = pcap_create(o.interface.c_str(), errbuf);
  if (p == nullptr) return pcap_err(ErrorCode::io_error, where, errbuf);
  auto fail = [&](const std::string& step, int rc) -> Error {
    std::string why = rc == PCAP_ERROR_NO_SUCH_DEVICE ? std::string("no such device")
                      : rc == PCAP_ERROR_PERM_DENIED  ? std::string("permission denied (needs CAP_NET_RAW)")
                                                      : std::string(pcap_geterr(p));
    if (why.empty()) why = pcap_statustostr(rc);
    pcap_close(p);
    return pcap_err(ErrorCode::io_error, where, step + ": " + why);
  };
  int rc;
  if ((rc = pcap_set_snaplen(p, o.snaplen)) != 0) return fail("snaplen", rc);
  if ((rc = pcap_set_promisc(p, o.promisc ? 1 : 0)) != 0) return fail("promisc", rc);
  if ((rc = pcap_set_timeout(p, o.timeout_ms)) != 0) return fail("timeout", rc);
  if (o.buffer_size > 0 && (rc = pcap_set_buffer_size(p, o.buffer_size)) != 0) return fail("buffer_size", rc);
  if (o.immediate && (rc = pcap_set_immediate_mode(p, 1)) != 0) return fail("immediate mode", rc);
  rc = pcap_activate(p);
  if (rc < 0) return fail("activate", rc);  // rc > 0 are warnings (e.g. promisc not supported)
  if (!o.bpf.empty()) {
    bpf_program prog{};
    if (pcap_compile(p, &prog, o.bpf.c_str(), 1, PCAP_NETMASK_UNKNOWN) != 0) {
      std::string why = pcap_geterr(p);
      pcap_close(p);
      return make_error(ErrorCode::invalid_argument, where + ": BPF filter '" + o.bpf + "': " + why);
    }
    rc = pcap_setfilter(p, &prog);
    pcap_freecode(&prog);
    if (rc != 0) return fail("set BPF filter", rc);
  }
  // Non-blocking reads + our own poll(): next() then honours timeout_ms exactly,
  // whatever the kernel ring's block timeout or immediate mode would do.
  if (pcap_setnonblock(p, 1, errbuf) != 0) {
    pcap_close(p);
    return pcap_err(ErrorCode::io_error, where, std::string("set non-blocking: ") + errbuf);
  }
  int fd = pcap_get_selectable_fd(p);
  if (fd < 0) {
    pcap_close(p);
    return pcap_err(ErrorCode::io_error, where, "no selectable file descriptor");
  }
  return std::unique_ptr<LiveSource>(new LiveSource(p, o, pcap_datalink(p), fd));
}

LiveSource::LiveSource(pcap* p, LiveOptions options, int linktype, int fd)
    : p_(p), options_(std::move(options)), linktype_(linktype), fd_(fd) {}

LiveSource::~LiveSource() {
  if (p_ != nullptr) pcap_close(p_);
}

void LiveSource::break_loop() { stop_.store(true, std::memory_order_relaxed); }

Result<ReadStatus> LiveSource::next(Frame& out) {
  if (stop_.load(std::memory_order_relaxed)) return ReadStatus::end;
  pcap_pkthdr* hdr = nullptr;
  const u_char* data = nullptr;
  int rc = pcap_next_ex(p_, &hdr, &data);
  if (rc == 0) {  // nothing buffered: wait up to the timeout, then try once more
    pollfd pfd{fd_, POLLIN, 0};
    int pr = ::poll(&pfd, 1, options_.timeout_ms);
    if (pr < 0 && errno != EINTR)
      return pcap_err(ErrorCode::io_error, "capture on interface '" + options_.interface + "'", "poll failed");
    if (stop_.load(std::memory_order_relaxed)) return ReadStatus::end;
    if (pr <= 0) return ReadStatus::timeout;
    rc = pcap_next_ex(p_, &hdr, &data);
  }
  if (rc == 1) {
    out.data = data;
    out.caplen = hdr->caplen;
    out.wire_len = hdr->len;
    out.ts_us = to_us(hdr->ts);
    out.linktype = linktype_;
    ++stats_.received;
    return ReadStatus::frame;
  }
  if (rc == 0) return ReadStatus::timeout;
  if (rc == PCAP_ERROR_BREAK) return ReadStatus::end;
  return pcap_err(ErrorCode::io_error, "capture on interface '" + options_.interface + "'", pcap_geterr(p_));
}

CaptureStats LiveSource::stats() const {
  pcap_stat ps{};
  if (pcap_stats(p_, &ps) == 0) {
    stats_.kernel_received = ps.ps_recv;
    stats_.dropped = ps.ps_drop;
    stats_.if_dropped = ps.ps_ifdrop;
  }
  return stats_;
}

}  // namespace halong::agent::net
