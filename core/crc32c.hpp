// CRC-32C (Castagnoli, the iSCSI/ext4 polynomial 0x1EDC6F41, reflected 0x82F63B78), the
// checksum of spool records since segment format 2 ("HLSPOOL2") and of RocksDB's WAL records
// (collector/store/rocksdb_crc32c.cpp). Uses the SSE4.2 crc32 instruction when the CPU has it
// (checked once at run time), else a slicing-by-8 table: both give the same value (tests
// compare them and the standard check value).
#pragma once

#include <cstddef>
#include <cstdint>

namespace halong {

// Continues `crc` (0 to start) over n bytes; the result can be passed back in to extend it.
uint32_t crc32c(uint32_t crc, const void* data, size_t n);
// The portable path alone (for tests and CPUs without SSE4.2).
uint32_t crc32c_portable(uint32_t crc, const void* data, size_t n);
// True when crc32c() uses the CPU instruction.
bool crc32c_hardware();

}  // namespace halong
