#include "tandem/record.h"

namespace tandem {

std::string Record::to_display() const {
  std::string out = "{key: " + key.to_display();
  for (const auto& [name, value] : fields) {
    out += ", ";
    out += name;
    out += ": ";
    out += value.to_display();
    if (out.size() > 400) {
      out += ", ...";
      break;
    }
  }
  return out + "}";
}

}  // namespace tandem
