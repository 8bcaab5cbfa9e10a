// The control store on a database server, steps: the current step, its
// history and the finish record (a row of tandem_meta written by `tandem
// finish`).
#include <fmt/format.h>

#include "control/fence_ahead.h"
#include "control/sql/sql_control_store.h"

namespace tandem::control_sql {

// The config fingerprint and other metadata, the current step, its history.
const std::vector<std::string_view> kStepsSchema = {
    "CREATE TABLE IF NOT EXISTS tandem_meta (name $KEYTEXT PRIMARY KEY, value $TEXT NOT NULL)$OPTIONS",
    "CREATE TABLE IF NOT EXISTS tandem_step_state (id BIGINT PRIMARY KEY CHECK (id = 1), "
    "step_index BIGINT NOT NULL, version BIGINT NOT NULL, changed_at BIGINT NOT NULL)$OPTIONS",
    "CREATE TABLE IF NOT EXISTS tandem_step_history (version BIGINT PRIMARY KEY, at BIGINT NOT NULL, "
    "from_index BIGINT NOT NULL, to_index BIGINT NOT NULL, reason $TEXT NOT NULL, forced BIGINT NOT NULL, "
    "actor $TEXT NOT NULL)$OPTIONS",
};

Result<StepState> SqlControlStore::current_step() {
  TANDEM_ASSIGN_OR_RETURN(auto session, engine_->session());
  return read_step(*session, "");
}

Result<StepState> SqlControlStore::read_step(Session& session, std::string_view lock) {
  TANDEM_ASSIGN_OR_RETURN(
      auto rows,
      session.query(
          fmt::format("SELECT step_index, version, changed_at FROM tandem_step_state WHERE id = 1{}", lock),
          {}, "reading the current step from tandem_step_state"));
  if (rows.empty()) {
    return Status::FailedPrecondition(fmt::format(
        "control store '{}' is not initialized (open the migration once to create it)", engine_->display()));
  }
  TANDEM_ASSIGN_OR_RETURN(int64_t index, as_int(rows[0][0], "tandem_step_state.step_index"));
  TANDEM_ASSIGN_OR_RETURN(int64_t version, as_int(rows[0][1], "tandem_step_state.version"));
  TANDEM_ASSIGN_OR_RETURN(int64_t at, as_int(rows[0][2], "tandem_step_state.changed_at"));
  return StepState{static_cast<size_t>(index), version, from_micros(at)};
}

Result<StepState> SqlControlStore::change_step(int64_t expected_version, size_t to_index,
                                               std::string_view reason, bool forced, std::string_view actor,
                                               const std::vector<Side>& require_drained) {
  TANDEM_ASSIGN_OR_RETURN(auto session, engine_->session());
  TANDEM_ASSIGN_OR_RETURN(auto tx, Transaction::begin(*session, dialect()));
  // The row lock serializes movers, and waits for repairs being queued (they
  // hold a shared lock of the same row until they commit).
  TANDEM_ASSIGN_OR_RETURN(StepState cur, read_step(*session, " FOR UPDATE"));
  TANDEM_ASSIGN_OR_RETURN(std::optional<FinishRecord> done, read_finished(*session));
  if (done) {
    return Status::FailedPrecondition(fmt::format(
        "the migration was finished at {} by {} (`tandem finish`, at step {}): its steps no longer move; "
        "start a new migration with a fresh control store to migrate again",
        format_time(done->at), done->actor, done->step_index + 1));
  }
  if (cur.version != expected_version) {
    return Status::FailedPrecondition(fmt::format(
        "the step changed meanwhile (version {} is now {}, at step {}); check `tandem status` and retry",
        expected_version, cur.version, cur.step_index + 1));
  }
  for (Side side : require_drained) {
    TANDEM_ASSIGN_OR_RETURN(auto rows,
                            session->query("SELECT COUNT(*) FROM tandem_repair_queue WHERE target = ?",
                                           {Param::of(side_name(side))}, "counting tandem_repair_queue"));
    TANDEM_ASSIGN_OR_RETURN(int64_t queued, as_int(rows.at(0).at(0), "the repair queue's size"));
    if (queued > 0) {
      return Status::FailedPrecondition(fmt::format(
          "a write in flight queued {} repair(s) for {} while the move was being decided; drain the repair "
          "queue (`tandem repair`) and retry",
          queued, side_name(side)));
    }
  }
  TANDEM_ASSIGN_OR_RETURN(int64_t now_us, now(*session));
  StepState next{to_index, cur.version + 1, from_micros(now_us)};
  TANDEM_RETURN_IF_ERROR(write_step(*session, cur, next, reason, forced, actor));
  TANDEM_RETURN_IF_ERROR(tx->commit());
  return next;
}

Result<StepState> SqlControlStore::continue_after_fence(int64_t fence_version, std::string_view reason,
                                                        std::string_view actor) {
  TANDEM_ASSIGN_OR_RETURN(auto session, engine_->session());
  TANDEM_ASSIGN_OR_RETURN(auto tx, Transaction::begin(*session, dialect()));
  TANDEM_ASSIGN_OR_RETURN(StepState cur, read_step(*session, " FOR UPDATE"));
  if (cur.version > fence_version) return cur;
  TANDEM_ASSIGN_OR_RETURN(auto rows, session->query("SELECT COUNT(*) FROM tandem_step_history", {},
                                                    "counting tandem_step_history"));
  TANDEM_ASSIGN_OR_RETURN(int64_t moves, as_int(rows.at(0).at(0), "the history's size"));
  if (moves > 0) return fence_ahead(engine_->display(), cur, fence_version);
  TANDEM_ASSIGN_OR_RETURN(int64_t now_us, now(*session));
  StepState next{cur.step_index, fence_version + 1, from_micros(now_us)};
  TANDEM_RETURN_IF_ERROR(write_step(*session, cur, next, reason, false, actor));
  TANDEM_RETURN_IF_ERROR(tx->commit());
  return next;
}

Status SqlControlStore::write_step(Session& session, const StepState& cur, const StepState& next,
                                   std::string_view reason, bool forced, std::string_view actor) {
  const int64_t now_us = micros(next.changed_at);
  const size_t to_index = next.step_index;
  TANDEM_RETURN_IF_ERROR(
      session
          .exec("UPDATE tandem_step_state SET step_index = ?, version = ?, changed_at = ? WHERE id = 1",
                {Param::of(static_cast<int64_t>(to_index)), Param::of(next.version), Param::of(now_us)},
                "changing the step in tandem_step_state")
          .status());
  return session
      .exec(
          "INSERT INTO tandem_step_history (version, at, from_index, to_index, reason, forced, actor) "
          "VALUES (?, ?, ?, ?, ?, ?, ?)",
          {Param::of(next.version), Param::of(now_us), Param::of(static_cast<int64_t>(cur.step_index)),
           Param::of(static_cast<int64_t>(to_index)), Param::of(reason), Param::of(int64_t{forced}),
           Param::of(actor)},
          "recording the step change in tandem_step_history")
      .status();
}

Result<std::vector<StepChange>> SqlControlStore::history(size_t limit) {
  TANDEM_ASSIGN_OR_RETURN(auto rows,
                          query1("SELECT version, at, from_index, to_index, reason, forced, actor FROM "
                                 "tandem_step_history ORDER BY version DESC LIMIT ?",
                                 {Param::of(static_cast<int64_t>(limit))}, "reading tandem_step_history"));
  std::vector<StepChange> out;
  for (const Row& r : rows) {
    StepChange c;
    TANDEM_ASSIGN_OR_RETURN(c.version, as_int(r[0], "tandem_step_history.version"));
    TANDEM_ASSIGN_OR_RETURN(int64_t at, as_int(r[1], "tandem_step_history.at"));
    TANDEM_ASSIGN_OR_RETURN(int64_t from, as_int(r[2], "tandem_step_history.from_index"));
    TANDEM_ASSIGN_OR_RETURN(int64_t to, as_int(r[3], "tandem_step_history.to_index"));
    TANDEM_ASSIGN_OR_RETURN(int64_t forced, as_int(r[5], "tandem_step_history.forced"));
    c.at = from_micros(at);
    c.from_index = static_cast<size_t>(from);
    c.to_index = static_cast<size_t>(to);
    c.reason = r[4].value_or("");
    c.forced = forced != 0;
    c.actor = r[6].value_or("");
    out.push_back(std::move(c));
  }
  return out;
}

// The finish record is one row of tandem_meta: "at|version|step_index|actor".
Result<std::optional<FinishRecord>> SqlControlStore::read_finished(Session& session) {
  TANDEM_ASSIGN_OR_RETURN(auto rows, session.query("SELECT value FROM tandem_meta WHERE name = 'finished'",
                                                   {}, "reading the finish record from tandem_meta"));
  if (rows.empty()) return std::optional<FinishRecord>();
  std::string v = rows[0][0].value_or("");
  size_t a = v.find('|');
  size_t b = a == std::string::npos ? a : v.find('|', a + 1);
  size_t c = b == std::string::npos ? b : v.find('|', b + 1);
  auto bad = [&] {
    return Status::Corruption(
        fmt::format("control store '{}': unreadable finish record '{}'", engine_->display(), v));
  };
  if (c == std::string::npos) return bad();
  auto at = as_int(v.substr(0, a), "the finish time");
  auto version = as_int(v.substr(a + 1, b - a - 1), "the finish version");
  auto index = as_int(v.substr(b + 1, c - b - 1), "the finish step");
  if (!at.ok() || !version.ok() || !index.ok()) return bad();
  FinishRecord r;
  r.at = from_micros(*at);
  r.version = *version;
  r.step_index = static_cast<size_t>(*index);
  r.actor = v.substr(c + 1);
  return std::optional<FinishRecord>(r);
}

Status SqlControlStore::mark_finished(const FinishRecord& record) {
  TANDEM_ASSIGN_OR_RETURN(auto session, engine_->session());
  TANDEM_ASSIGN_OR_RETURN(auto tx, Transaction::begin(*session, dialect()));
  TANDEM_ASSIGN_OR_RETURN(StepState cur, read_step(*session, " FOR UPDATE"));
  TANDEM_ASSIGN_OR_RETURN(std::optional<FinishRecord> done, read_finished(*session));
  if (done) return Status::Ok();
  if (cur.version != record.version) {
    return Status::FailedPrecondition(fmt::format(
        "the step changed meanwhile (version {} is now {}, at step {}); check `tandem status` and retry",
        record.version, cur.version, cur.step_index + 1));
  }
  TANDEM_RETURN_IF_ERROR(
      put_meta(*session, "finished",
               fmt::format("{}|{}|{}|{}", micros(record.at), record.version, record.step_index, record.actor),
               /*overwrite=*/true));
  return tx->commit();
}

Result<std::optional<FinishRecord>> SqlControlStore::finished() {
  TANDEM_ASSIGN_OR_RETURN(auto session, engine_->session());
  return read_finished(*session);
}

}  // namespace tandem::control_sql
