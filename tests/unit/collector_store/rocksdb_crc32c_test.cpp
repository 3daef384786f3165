// RocksDB's crc32c::Extend is redirected to core/crc32c at link time (rocksdb_crc32c.cpp):
// the redirection must be in effect and must compute exactly what RocksDB's own code does,
// or a WAL written by one would be refused (as corrupt) by the other.
#include <catch2/catch.hpp>

#include <cstdint>
#include <random>
#include <string>

#include "collector/store/rocksdb_crc32c.hpp"
#include "core/crc32c.hpp"

namespace rocksdb::crc32c {
uint32_t Extend(uint32_t init_crc, const char* data, size_t n);  // util/crc32c.h (not installed)
}
extern "C" uint32_t __wrap__ZN7rocksdb6crc32c6ExtendEjPKcm(uint32_t crc, const char* data, size_t n);

using halong::collector::rocksdb_crc32c_own;

TEST_CASE("RocksDB's crc32c::Extend is linked to the hardware CRC-32C", "[store][crc32c]") {
  // With --wrap, this file's reference to rocksdb::crc32c::Extend resolves to the wrapper, as
  // the references from RocksDB's own objects (log_writer, log_reader, ...) do.
  REQUIRE(reinterpret_cast<void*>(&rocksdb::crc32c::Extend) ==
          reinterpret_cast<void*>(&__wrap__ZN7rocksdb6crc32c6ExtendEjPKcm));
  WARN("RocksDB checksums by: " << halong::collector::rocksdb_crc32c_kind());
}

TEST_CASE("the redirected crc32c::Extend equals RocksDB's own on random data", "[store][crc32c]") {
  const char check[] = "123456789";
  REQUIRE(rocksdb::crc32c::Extend(0, check, 9) == 0xE3069283u);
  REQUIRE(rocksdb_crc32c_own(0, check, 9) == 0xE3069283u);
  std::mt19937_64 rng(20261207);
  std::string buf(4096 + 16, '\0');
  for (auto& c : buf) c = static_cast<char>(rng());
  for (size_t off = 0; off < 8; ++off) {
    for (size_t n : {size_t{0}, size_t{1}, size_t{7}, size_t{8}, size_t{9}, size_t{15}, size_t{63}, size_t{200},
                     size_t{1000}, size_t{4096}}) {
      const char* p = buf.data() + off;
      const uint32_t seed = static_cast<uint32_t>(rng());
      INFO("offset " << off << ", length " << n << ", seed " << seed);
      REQUIRE(rocksdb::crc32c::Extend(seed, p, n) == rocksdb_crc32c_own(seed, p, n));
      const size_t cut = n / 3;
      REQUIRE(rocksdb::crc32c::Extend(rocksdb::crc32c::Extend(seed, p, cut), p + cut, n - cut) ==
              rocksdb_crc32c_own(seed, p, n));
    }
  }
}
