// Canonical record encoding and hashing, shared by every store so that equal
// records hash equal whatever engine holds them. The encoding covers the key
// and every field in name order; a missing field encodes as null, so a record
// read back with all schema columns hashes like one written with nulls omitted.
#pragma once

#include <cstdint>
#include <string>

#include "tandem/record.h"
#include "tandem/schema.h"

namespace tandem {

// Appends the canonical encoding of record (fields in schema column order,
// which the schema keeps fixed) to out.
void encode_record_canonical(const CollectionSchema& schema, const Record& record, std::string& out);

// 64-bit hash (XXH3) of the canonical encoding.
uint64_t record_hash(const CollectionSchema& schema, const Record& record);

uint64_t hash_bytes(std::string_view bytes);

// Appends v as 8 big-endian bytes (sorts with memcmp as unsigned integers).
void append_u64_be(std::string& out, uint64_t v);

// The 64-bit hash that names a record's lock in every store: (collection,
// encoded key). A collision only makes two records share a lock.
uint64_t record_lock_hash(std::string_view collection, std::string_view encoded_key);

}  // namespace tandem
