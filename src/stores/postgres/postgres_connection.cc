#include "stores/postgres/postgres_connection.h"

#include <fmt/format.h>

#include <algorithm>
#include <cstdlib>
#include <fstream>
#include <sstream>

#include "stores/secrets.h"
#include "tandem/store.h"

namespace tandem::postgres {

Result<ConnectionSpec> ConnectionSpec::parse(std::string_view url) {
  ConnectionSpec spec;
  spec.display = redact_url(url);
  TANDEM_RETURN_IF_ERROR(refuse_password_in_url(url, spec.display));
  std::string base(url);
  std::string query;
  if (size_t q = base.find('?'); q != std::string::npos) {
    query = base.substr(q + 1);
    base = base.substr(0, q);
  }
  std::vector<std::string> kept;
  std::stringstream parts(query);
  std::string part;
  while (std::getline(parts, part, '&')) {
    if (part.empty()) continue;
    std::string option = part.substr(0, part.find('='));
    if (is_password_option(option) && part.size() > option.size()) {
      TANDEM_ASSIGN_OR_RETURN(spec.password,
                              read_password_option(option, part.substr(option.size() + 1), spec.display));
    } else {
      kept.push_back(part);
    }
  }
  spec.conninfo = base;
  if (!kept.empty()) spec.conninfo += fmt::format("?{}", fmt::join(kept, "&"));
  return spec;
}

int64_t PgResult::affected() const {
  const char* n = PQcmdTuples(r_);
  return (n == nullptr || *n == '\0') ? 0 : std::atoll(n);
}

Result<std::unique_ptr<Connection>> Connection::open(const ConnectionSpec& spec) {
  std::vector<const char*> keywords = {"dbname", "connect_timeout", "application_name"};
  std::string connect_timeout = std::to_string(spec.connect_timeout_s);
  std::vector<const char*> values = {spec.conninfo.c_str(), connect_timeout.c_str(), "tandem"};
  for (const auto& [keyword, value] : spec.keywords) {
    keywords.push_back(keyword.c_str());
    values.push_back(value.c_str());
  }
  if (!spec.password.empty()) {
    keywords.push_back("password");
    values.push_back(spec.password.c_str());
  }
  keywords.push_back(nullptr);
  values.push_back(nullptr);
  PGconn* conn = PQconnectdbParams(keywords.data(), values.data(), /*expand_dbname=*/1);
  if (conn == nullptr) return Status::Unavailable(fmt::format("{}: out of memory connecting", spec.display));
  if (PQstatus(conn) != CONNECTION_OK) {
    std::string msg = PQerrorMessage(conn);
    while (!msg.empty() && (msg.back() == '\n' || msg.back() == ' ')) msg.pop_back();
    PQfinish(conn);
    // libpq's message never contains the password.
    return Status::Unavailable(fmt::format("cannot connect to {}: {}", spec.display, msg));
  }
  std::unique_ptr<Connection> c(new Connection(conn, spec.display));
  if (spec.read_only) {
    TANDEM_RETURN_IF_ERROR(
        c->exec_simple("SET default_transaction_read_only = on", "making the session read-only"));
  }
  // A database in SQL_ASCII holds bytes it never checked; asked for UTF8,
  // the server refuses to send a row with a byte that is not, failing a
  // whole scan. Its bytes come as they are, and a value that is not UTF-8
  // is refused by tandem for that row alone (quarantined).
  const char* server_encoding = PQparameterStatus(conn, "server_encoding");
  bool raw = server_encoding != nullptr && std::string_view(server_encoding) == "SQL_ASCII";
  TANDEM_RETURN_IF_ERROR(
      c->exec_simple(fmt::format("SET TimeZone = 'UTC'; SET DateStyle = 'ISO'; SET extra_float_digits = 3; "
                                 "SET client_encoding = '{}'; SET client_min_messages = warning",
                                 raw ? "SQL_ASCII" : "UTF8"),
                     "setting up the session"));
  if (!spec.session_sql.empty())
    TANDEM_RETURN_IF_ERROR(c->exec_simple(spec.session_sql, "setting up the session"));
  return c;
}

Connection::~Connection() { PQfinish(conn_); }

Status Connection::error(const PGresult* r, std::string_view what) {
  const char* state = r != nullptr ? PQresultErrorField(r, PG_DIAG_SQLSTATE) : nullptr;
  std::string sqlstate = state != nullptr ? state : "";
  last_sqlstate_ = sqlstate;
  std::string msg = r != nullptr ? PQresultErrorMessage(r) : PQerrorMessage(conn_);
  while (!msg.empty() && (msg.back() == '\n' || msg.back() == ' ')) msg.pop_back();
  // One line (messages go into logs and the quarantine's list): the
  // server's DETAIL and CONTEXT lines joined with "; ".
  for (size_t at = msg.find('\n'); at != std::string::npos; at = msg.find('\n', at)) msg.replace(at, 1, "; ");
  std::string full = fmt::format("{} on {}: {}{}", what, display_, msg,
                                 sqlstate.empty() ? "" : fmt::format(" (SQLSTATE {})", sqlstate));
  if (PQstatus(conn_) != CONNECTION_OK || sqlstate.rfind("08", 0) == 0 || sqlstate == "57P01" ||
      sqlstate == "57P02" || sqlstate == "57P03") {
    broken_ = true;
    return Status::Unavailable(full + "; the connection was lost");
  }
  if (sqlstate == "40001" || sqlstate == "40P01" || sqlstate == "55P03" || sqlstate == "53300" ||
      sqlstate == "53200") {
    return Status::Busy(full);
  }
  // Data the server refuses for good: a data exception (22), a constraint
  // (23), a program limit such as an index row too large (54).
  if (sqlstate == "23503" || sqlstate == "23001") {  // foreign key, restrict violation
    return Status::InvalidArgument(full).foreign_key();
  }
  if (sqlstate.rfind("23", 0) == 0 || sqlstate.rfind("22", 0) == 0 || sqlstate.rfind("54", 0) == 0) {
    return Status::InvalidArgument(full);
  }
  if (sqlstate == "42P01" || sqlstate == "42703") return Status::FailedPrecondition(full);
  if (sqlstate == "25006" || sqlstate.rfind("42501", 0) == 0) {
    return Status::FailedPrecondition(full + " (the account or transaction is read-only)");
  }
  return Status::Internal(full);
}

Result<std::string> Connection::prepared(const std::string& sql, int n_params, std::string_view what) {
  auto it = statements_.find(sql);
  if (it != statements_.end()) return it->second;
  std::string name = fmt::format("tandem_{}", statements_.size());
  PgResult r(PQprepare(conn_, name.c_str(), sql.c_str(), n_params, nullptr));
  if (PQresultStatus(r.get()) != PGRES_COMMAND_OK) return error(r.get(), what);
  statements_.emplace(sql, name);
  return name;
}

namespace {
struct ParamArrays {
  std::vector<const char*> values;
  std::vector<int> lengths;
  std::vector<int> formats;
  explicit ParamArrays(const std::vector<Param>& params) {
    for (const Param& p : params) {
      values.push_back(p.is_null ? nullptr : p.value.data());
      lengths.push_back(static_cast<int>(p.value.size()));
      formats.push_back(p.binary ? 1 : 0);
    }
  }
};
}  // namespace

Result<PgResult> Connection::exec(const std::string& sql, const std::vector<Param>& params,
                                  std::string_view what) {
  TANDEM_ASSIGN_OR_RETURN(std::string name, prepared(sql, static_cast<int>(params.size()), what));
  ParamArrays a(params);
  PgResult r(PQexecPrepared(conn_, name.c_str(), static_cast<int>(params.size()), a.values.data(),
                            a.lengths.data(), a.formats.data(), 0));
  ExecStatusType st = PQresultStatus(r.get());
  if (st != PGRES_COMMAND_OK && st != PGRES_TUPLES_OK) return error(r.get(), what);
  return r;
}

Status Connection::exec_simple(const std::string& sql, std::string_view what) {
  PgResult r(PQexec(conn_, sql.c_str()));
  ExecStatusType st = PQresultStatus(r.get());
  if (st != PGRES_COMMAND_OK && st != PGRES_TUPLES_OK) return error(r.get(), what);
  return Status::Ok();
}

Status Connection::copy_in(const std::string& sql, std::string_view data, std::string_view what) {
  PgResult start(PQexec(conn_, sql.c_str()));
  if (PQresultStatus(start.get()) != PGRES_COPY_IN) return error(start.get(), what);
  Status sent;
  constexpr size_t kChunk = size_t{1} << 20;
  for (size_t at = 0; at < data.size() && sent.ok(); at += kChunk) {
    size_t n = std::min(kChunk, data.size() - at);
    if (PQputCopyData(conn_, data.data() + at, static_cast<int>(n)) != 1) sent = error(nullptr, what);
  }
  if (PQputCopyEnd(conn_, sent.ok() ? nullptr : "tandem could not send every row") != 1 && sent.ok()) {
    sent = error(nullptr, what);
  }
  Status result;
  for (;;) {
    PgResult r(PQgetResult(conn_));
    if (r.get() == nullptr) break;
    if (PQresultStatus(r.get()) != PGRES_COMMAND_OK && result.ok()) result = error(r.get(), what);
  }
  return sent.ok() ? result : sent;
}

Status Connection::stream(const std::string& sql, const std::vector<Param>& params, std::string_view what,
                          const std::function<Status(const PgResult& row)>& visit) {
  TANDEM_ASSIGN_OR_RETURN(std::string name, prepared(sql, static_cast<int>(params.size()), what));
  ParamArrays a(params);
  if (PQsendQueryPrepared(conn_, name.c_str(), static_cast<int>(params.size()), a.values.data(),
                          a.lengths.data(), a.formats.data(), 0) == 0) {
    return error(nullptr, what);
  }
  PQsetSingleRowMode(conn_);
  Status first_error;
  for (;;) {
    PgResult r(PQgetResult(conn_));
    if (r.get() == nullptr) break;
    ExecStatusType st = PQresultStatus(r.get());
    if (st == PGRES_SINGLE_TUPLE) {
      if (first_error.ok()) first_error = visit(r);
    } else if (st != PGRES_TUPLES_OK && st != PGRES_COMMAND_OK && first_error.ok()) {
      first_error = error(r.get(), what);
    }
  }
  return first_error;
}

}  // namespace tandem::postgres
