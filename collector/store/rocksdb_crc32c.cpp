// RocksDB's CRC-32C (WAL records, and any other checksum it takes with crc32c::Extend) on the
// CPU's crc32 instruction.
//
// Debian's librocksdb 7.8 is a portable build: crc32c::IsFastCrc32Supported() says "Not
// supported on x86" and every WAL record's checksum runs the table code, ~3.5% of all CPU at
// 1,000 agents (bench/ingest/NOTES.md). The library is linked statically, so the linker
// redirects its calls to rocksdb::crc32c::Extend here (-Wl,--wrap, set on halong_collector_store
// in collector/CMakeLists.txt). core/crc32c computes the same function (it checks the CPU once
// and falls back to a table); a test compares the two on random data, lengths and alignments.
#include "collector/store/rocksdb_crc32c.hpp"

#include "core/crc32c.hpp"

// The mangled name of uint32_t rocksdb::crc32c::Extend(uint32_t, const char*, size_t).
extern "C" uint32_t __real__ZN7rocksdb6crc32c6ExtendEjPKcm(uint32_t crc, const char* data, size_t n);
extern "C" uint32_t __wrap__ZN7rocksdb6crc32c6ExtendEjPKcm(uint32_t crc, const char* data, size_t n);

extern "C" uint32_t __wrap__ZN7rocksdb6crc32c6ExtendEjPKcm(uint32_t crc, const char* data, size_t n) {
  return halong::crc32c(crc, data, n);
}

namespace halong::collector {

uint32_t rocksdb_crc32c_own(uint32_t crc, const char* data, size_t n) {
  return __real__ZN7rocksdb6crc32c6ExtendEjPKcm(crc, data, n);
}

const char* rocksdb_crc32c_kind() { return crc32c_hardware() ? "SSE4.2 crc32 instruction" : "table (no SSE4.2)"; }

}  // namespace halong::collector
