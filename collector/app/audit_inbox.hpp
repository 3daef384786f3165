// Audit records for changes made by the command line while the collector runs.
//
// The audit trail lives in the collector's RocksDB store, which the running collector holds
// open. `halong-collector rules push | token create | token revoke | agent revoke` change
// files under data_dir instead, so they drop one JSON file per change into
// <data_dir>/audit-inbox/ (0600, written to a temporary name and renamed, so a reader never
// sees half a record). The collector appends every file to the hash-chained trail at start
// and then every second, in the order the files were written, and deletes each file only
// after its record is in the chain.
#pragma once

#include <cstdint>
#include <string>

#include <boost/json.hpp>

#include "core/result.hpp"

namespace halong::collector {

class AuditLog;

// Writes one pending record (who, when, what, before, after) into the inbox.
Status queue_audit(const std::string& data_dir, int64_t time_us, const std::string& actor, const std::string& action,
                   const std::string& target, boost::json::value before, boost::json::value after);

// Appends every pending record to `log`, oldest first; returns how many were appended.
// A file that does not parse is moved aside as *.bad with an error (never dropped silently).
Result<size_t> drain_audit_inbox(const std::string& data_dir, AuditLog& log);

// Who ran the command line: "cli:<login name>" (from $SUDO_USER, $USER or the uid).
std::string cli_actor();

}  // namespace halong::collector
