// COPY's binary format (COPY ... FROM STDIN (FORMAT binary)): each value in
// the form its column type's receive function reads, so the server parses
// no text for numbers, timestamps, dates, uuids and bytes (the batch copy's
// largest cost after the index inserts, in the profile of issue 17).
//
// Contract: a value is written only in the form that the server reads as
// exactly the value the text format would have given (same rounding by the
// column's typmod, same checks of encoding and constraints); a value with
// no such form here (an int beyond a SMALLINT or INTEGER column, a decimal
// beyond NUMERIC's binary range) makes append_binary_row return false, and
// the caller copies the batch in the text format, whose error names the
// record. A column type without a binary form here (an enum, an interval, a
// type from an extension) makes the table copy in the text format.
// Thread safety: plain functions over plain values.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "tandem/value.h"

namespace tandem::postgres {

// The receive function a COPY column's binary value is written for.
enum class BinaryColumn : uint8_t {
  kInt2,
  kInt4,
  kInt8,
  kBool,
  kFloat4,
  kFloat8,
  kNumeric,
  kText,  // text, varchar, char(n): the bytes (the server checks the encoding and the length)
  kBytea,
  kTimestamp,  // timestamptz and timestamp: microseconds since 2000-01-01
  kDate,
  kTime,
  kJson,
  kJsonb,
  kUuid,
};

// The binary form a value of type takes in a column of data_type
// (information_schema's words); nullopt: the table copies as text.
std::optional<BinaryColumn> binary_column(Type type, std::string_view data_type);

// The 19 bytes that start a binary COPY, and the two that end it.
void append_binary_header(std::string& out);
void append_binary_trailer(std::string& out);
// A row's field count, written before its fields.
void append_binary_field_count(size_t count, std::string& out);
// One field (its length, then its bytes; NULL for v null or absent); false
// if the value has no exact binary form in this column (see the contract).
bool append_binary_field(BinaryColumn column, const Value* v, std::string& out);

}  // namespace tandem::postgres
