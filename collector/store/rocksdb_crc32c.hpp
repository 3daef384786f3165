// RocksDB's CRC-32C, redirected to core/crc32c (rocksdb_crc32c.cpp says why and how).
#pragma once

#include <cstddef>
#include <cstdint>

namespace halong::collector {

// RocksDB's own implementation, bypassing the redirection (for the test that compares them).
uint32_t rocksdb_crc32c_own(uint32_t crc, const char* data, size_t n);
// How RocksDB's checksums are computed in this process, for the store's start-up log line.
const char* rocksdb_crc32c_kind();

}  // namespace halong::collector
