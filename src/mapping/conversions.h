// Conversions of one value between old's shape and new's: a value of old's
// column or a member of old's document to new's column type, and back, by a
// Mapper::Conversion that Mapper::create parsed from the config once. Errors
// are kInvalidArgument with the reason (the Mapper adds the record and field).
// Internal to src/mapping.
#pragma once

#include <nlohmann/json.hpp>

#include "tandem/mapping.h"
#include "tandem/value.h"

namespace tandem::mapping {

// No conversion: types must match, or widen.
extern const Mapper::Conversion kNoConversion;

// A value of old's column to new's column type.
Result<Value> from_value(const Value& v, Type target, const Mapper::Conversion& convert);
// A member of old's document to new's column type.
Result<Value> from_json(const nlohmann::json& j, Type target, const Mapper::Conversion& convert);
// new's value back to old's column type.
Result<Value> to_value(const Value& v, Type old_type, const Mapper::Conversion& convert);
// new's value back to a document member; existing is the member it replaces.
Result<nlohmann::json> to_json(const Value& v, const Mapper::Conversion& convert,
                               const nlohmann::json* existing);
// A value as JSON, for a field kept in a json column (unknown_fields = "keep").
nlohmann::json value_as_json(const Value& v);

}  // namespace tandem::mapping
