// The dashboard of `tandem serve` at / : one static page (HTML, CSS and
// JavaScript compiled into the binary; nothing loaded from elsewhere) that
// reads the admin API with the token the operator types (kept in the tab's
// sessionStorage only) and shows the plan with the current step, the
// instances and the step each applied, each collection's backfill (progress,
// rate, ETA) and verify, the repair queue, the quarantine, the shadow
// mismatches and the recent step changes, with buttons to move a step that
// show the refusal's reasons when a move is refused. Refreshes every 2 s.
#pragma once

#include <httplib.h>

namespace tandem::serve {

// GET / and GET /dashboard.js.
void install_dashboard(httplib::Server& server);

}  // namespace tandem::serve
