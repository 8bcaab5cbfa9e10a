#include "tandem/operator_tools.h"

#include "router/migration_state.h"
#include "tandem/migration.h"

namespace tandem {

ControlStore& OperatorTools::control() const { return *migration_.state_->control; }

Store& OperatorTools::store(Side side) const { return migration_.state_->store(side); }

}  // namespace tandem
