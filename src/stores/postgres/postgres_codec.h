// PostgreSQL values: the column types tandem creates and reads, parameters
// (text format; bytea and arrays binary), COPY's and array literals' escapes,
// and the text format read back. Thread safety: plain functions over plain values.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "stores/postgres/postgres_connection.h"
#include "tandem/schema.h"
#include "tandem/value.h"

namespace tandem::postgres {

// The column type tandem creates for a type.
std::string_view sql_type(Type type);
// information_schema data types each tandem type reads from an existing table.
bool compatible(Type type, std::string_view data_type);
// The value as a parameter in text format (bytea binary).
Param to_param(const Value& v);
Param bytes_param(std::string value);
Param text_param(std::string value);
// Appends bytea's hex input form with its backslash doubled ("\\\\x0aff"), as
// both an array literal's quoted element and COPY's text format need it.
void append_escaped_bytea(std::string_view bytes, std::string& out);
// Appends p as one element of an array literal: "...", with \ and " escaped;
// bytea as its hex input form.
void append_array_element(const Param& p, std::string& out);
// A value of the text format as type; kCorruption with the reason if it is not one.
Result<Value> from_text(Type type, std::string_view s);
// A REAL (float4) column's text, as the float it is, widened exactly.
Result<Value> float4_from_text(std::string_view s);
// The advisory-lock key of a record (the same hash as every store's record lock).
int64_t lock_key(std::string_view collection, std::string_view encoded_key);

// A one-dimensional array without nulls in PostgreSQL's binary format (what
// array_recv reads): the batch queries' key arrays, which the server reads
// several times faster than a text literal (no number or hex parsing).
class BinaryArray {
 public:
  static constexpr uint32_t kInt8 = 20;  // pg_type OIDs
  static constexpr uint32_t kBytea = 17;

  explicit BinaryArray(uint32_t element_type) {
    put32(1);  // dimensions
    put32(0);  // no nulls
    put32(element_type);
    put32(0);  // element count, set by param()
    put32(1);  // lower bound
  }
  void add_int8(int64_t v) {
    put32(8);
    put32(static_cast<uint32_t>(static_cast<uint64_t>(v) >> 32));
    put32(static_cast<uint32_t>(static_cast<uint64_t>(v)));
    ++count_;
  }
  void add_bytes(std::string_view b) {
    put32(static_cast<uint32_t>(b.size()));
    out_.append(b);
    ++count_;
  }
  size_t size() const { return count_; }
  Param param() && {
    if (count_ == 0) {
      out_.assign(12, '\0');  // zero dimensions, no nulls, element type 0
    } else {
      for (int i = 0; i < 4; ++i) out_[12 + i] = static_cast<char>((count_ >> (24 - 8 * i)) & 0xff);
    }
    Param p;
    p.value = std::move(out_);
    p.binary = true;
    return p;
  }

 private:
  void put32(uint32_t v) {
    for (int i = 3; i >= 0; --i) out_ += static_cast<char>((v >> (8 * i)) & 0xff);
  }
  std::string out_;
  size_t count_ = 0;
};

}  // namespace tandem::postgres
