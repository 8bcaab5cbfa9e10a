#include "stores/mariadb/mariadb_connection.h"

#include <errmsg.h>
#include <fmt/format.h>
#include <mysqld_error.h>

#include <charconv>
#include <cstdlib>
#include <fstream>
#include <set>

#include "stores/secrets.h"
#include "tandem/store.h"

namespace tandem::mariadb {

namespace {

Result<std::string> percent_decode(std::string_view s, std::string_view what) {
  std::string out;
  for (size_t i = 0; i < s.size(); ++i) {
    if (s[i] != '%') {
      out += s[i];
      continue;
    }
    unsigned v = 0;
    if (i + 2 >= s.size() ||
        std::from_chars(s.data() + i + 1, s.data() + i + 3, v, 16).ptr != s.data() + i + 3)
      return Status::Config(fmt::format("bad percent-escape in the {} of the URL", what));
    out += static_cast<char>(v);
    i += 2;
  }
  return out;
}

const std::set<std::string, std::less<>>& tls_options() {
  static const std::set<std::string, std::less<>> names = {"ssl_mode", "ssl_ca",     "ssl_capath", "ssl_cert",
                                                           "ssl_key",  "ssl_cipher", "tls_version"};
  return names;
}

}  // namespace

Result<ConnectionSpec> ConnectionSpec::parse(std::string_view url) {
  ConnectionSpec spec;
  spec.display = redact_url(url);
  auto bad = [&](std::string_view why) {
    return Status::Config(fmt::format(
        "{}: {} (expected mariadb://USER@HOST[:PORT]/DATABASE[?password_file=PATH...])", spec.display, why));
  };
  TANDEM_RETURN_IF_ERROR(refuse_password_in_url(url, spec.display));
  size_t scheme = url.find("://");
  if (scheme == std::string_view::npos) return bad("no '://'");
  std::string_view rest = url.substr(scheme + 3);
  std::string_view query;
  if (size_t q = rest.find('?'); q != std::string_view::npos) {
    query = rest.substr(q + 1);
    rest = rest.substr(0, q);
  }
  std::string_view path;
  if (size_t slash = rest.find('/'); slash != std::string_view::npos) {
    path = rest.substr(slash + 1);
    rest = rest.substr(0, slash);
  }
  if (size_t at = rest.rfind('@'); at != std::string_view::npos) {
    std::string_view userinfo = rest.substr(0, at);
    rest = rest.substr(at + 1);
    // A password here was refused above.
    TANDEM_ASSIGN_OR_RETURN(spec.user, percent_decode(userinfo, "user"));
  }
  std::string_view port;
  if (!rest.empty() && rest.front() == '[') {  // [IPv6]:port
    size_t close = rest.find(']');
    if (close == std::string_view::npos) return bad("unclosed '[' in the host");
    spec.host = std::string(rest.substr(1, close - 1));
    if (close + 1 < rest.size() && rest[close + 1] == ':') port = rest.substr(close + 2);
  } else {
    size_t colon = rest.find(':');
    if (colon != std::string_view::npos) port = rest.substr(colon + 1);
    if (!rest.substr(0, colon).empty()) spec.host = std::string(rest.substr(0, colon));
  }
  if (!port.empty()) {
    auto [p, ec] = std::from_chars(port.data(), port.data() + port.size(), spec.port);
    if (ec != std::errc() || p != port.data() + port.size() || spec.port == 0 || spec.port > 65535) {
      return bad(fmt::format("'{}' is not a port", port));
    }
  }
  TANDEM_ASSIGN_OR_RETURN(spec.database, percent_decode(path, "database"));
  if (spec.database.empty()) return bad("no database named after the host");
  while (!query.empty()) {
    size_t amp = query.find('&');
    std::string_view part = query.substr(0, amp);
    query = amp == std::string_view::npos ? std::string_view() : query.substr(amp + 1);
    if (part.empty()) continue;
    size_t eq = part.find('=');
    std::string_view key = part.substr(0, eq);
    TANDEM_ASSIGN_OR_RETURN(std::string value,
                            percent_decode(eq == std::string_view::npos ? "" : part.substr(eq + 1), key));
    if (is_password_option(key)) {
      TANDEM_ASSIGN_OR_RETURN(spec.password, read_password_option(key, value, spec.display));
    } else if (key == "socket") {
      spec.socket = value;
    } else if (tls_options().contains(key)) {
      spec.tls[std::string(key)] = value;
    } else {
      return bad(
          fmt::format("unknown option '{}' (known: password_file, password_env, socket, ssl_mode, "
                      "ssl_ca, ssl_capath, ssl_cert, ssl_key, ssl_cipher, tls_version)",
                      key));
    }
  }
  if (auto mode = spec.tls.find("ssl_mode"); mode != spec.tls.end()) {
    static const std::set<std::string, std::less<>> modes = {"disabled", "required", "verify_ca",
                                                             "verify_identity"};
    if (!modes.contains(mode->second)) {
      return bad(fmt::format("ssl_mode '{}' is not one of disabled, required, verify_ca, verify_identity",
                             mode->second));
    }
  }
  return spec;
}

std::string_view Row::text(size_t col) const {
  const Column& c = columns_[col];
  if (c.temporal) {
    const MYSQL_TIME& t = c.time;
    // Digits by hand: fmt::format here was a twelfth of a MariaDB copy's
    // client time (the profile of issue 17). Fields beyond their widths
    // (never from the server) keep fmt's spelling.
    if (t.year <= 9999 && t.month <= 99 && t.day <= 99 && t.hour <= 99 && t.minute <= 99 && t.second <= 99 &&
        t.second_part <= 999999) {
      char buf[26];
      auto put = [&buf](size_t at, unsigned long v, size_t width) {
        for (size_t i = width; i-- > 0; v /= 10) buf[at + i] = static_cast<char>('0' + v % 10);
      };
      put(0, t.year, 4);
      buf[4] = '-';
      put(5, t.month, 2);
      buf[7] = '-';
      put(8, t.day, 2);
      if (c.date_only) {
        time_text_.assign(buf, 10);
        return time_text_;
      }
      buf[10] = ' ';
      put(11, t.hour, 2);
      buf[13] = ':';
      put(14, t.minute, 2);
      buf[16] = ':';
      put(17, t.second, 2);
      buf[19] = '.';
      put(20, t.second_part, 6);
      time_text_.assign(buf, 26);
      return time_text_;
    }
    if (c.date_only) {
      time_text_ = fmt::format("{:04}-{:02}-{:02}", t.year, t.month, t.day);
    } else {
      time_text_ = fmt::format("{:04}-{:02}-{:02} {:02}:{:02}:{:02}.{:06}", t.year, t.month, t.day, t.hour,
                               t.minute, t.second, t.second_part);
    }
    return time_text_;
  }
  return {c.buffer.data(), std::min<size_t>(c.length, c.buffer.size())};
}

std::string Row::as_text(size_t col) const {
  if (is_null(col)) return "NULL";
  switch (kind(col)) {
    case Kind::kInt:
      return std::to_string(integer(col));
    case Kind::kDouble:
      return fmt::format("{}", real(col));
    case Kind::kText:
      break;
  }
  return std::string(text(col));
}

Result<std::unique_ptr<Connection>> Connection::open(const ConnectionSpec& spec) {
  static std::once_flag library;
  std::call_once(library, [] { mysql_library_init(0, nullptr, nullptr); });
  MYSQL* mysql = mysql_init(nullptr);
  if (mysql == nullptr) return Status::Unavailable(fmt::format("{}: out of memory connecting", spec.display));
  unsigned connect_timeout = spec.connect_timeout, io_timeout = spec.io_timeout;
  my_bool off = 0, on = 1;
  mysql_options(mysql, MYSQL_SET_CHARSET_NAME, "utf8mb4");
  mysql_options(mysql, MYSQL_OPT_CONNECT_TIMEOUT, &connect_timeout);
  mysql_options(mysql, MYSQL_OPT_READ_TIMEOUT, &io_timeout);
  mysql_options(mysql, MYSQL_OPT_WRITE_TIMEOUT, &io_timeout);
  mysql_options(mysql, MYSQL_OPT_LOCAL_INFILE, &off);
  mysql_options(mysql, MYSQL_OPT_RECONNECT, &off);  // a lost session loses its locks: never hide it
  auto tls = [&](std::string_view name) -> const char* {
    auto it = spec.tls.find(std::string(name));
    return it == spec.tls.end() ? nullptr : it->second.c_str();
  };
  if (const char* v = tls("ssl_ca")) mysql_optionsv(mysql, MYSQL_OPT_SSL_CA, v);
  if (const char* v = tls("ssl_capath")) mysql_optionsv(mysql, MYSQL_OPT_SSL_CAPATH, v);
  if (const char* v = tls("ssl_cert")) mysql_optionsv(mysql, MYSQL_OPT_SSL_CERT, v);
  if (const char* v = tls("ssl_key")) mysql_optionsv(mysql, MYSQL_OPT_SSL_KEY, v);
  if (const char* v = tls("ssl_cipher")) mysql_optionsv(mysql, MYSQL_OPT_SSL_CIPHER, v);
  if (const char* v = tls("tls_version")) mysql_optionsv(mysql, MARIADB_OPT_TLS_VERSION, v);
  if (const char* mode = tls("ssl_mode")) {
    std::string_view m = mode;
    if (m != "disabled") mysql_optionsv(mysql, MYSQL_OPT_SSL_ENFORCE, &on);
    if (m == "verify_ca" || m == "verify_identity") {
      mysql_optionsv(mysql, MYSQL_OPT_SSL_VERIFY_SERVER_CERT, &on);
    }
  }
  const char* password = spec.password.empty() ? nullptr : spec.password.c_str();
  const char* socket = spec.socket.empty() ? nullptr : spec.socket.c_str();
  if (mysql_real_connect(mysql, spec.host.c_str(), spec.user.c_str(), password, spec.database.c_str(),
                         spec.port, socket, CLIENT_FOUND_ROWS) == nullptr) {
    unsigned number = mysql_errno(mysql);
    // The client's message names the user and host, never the password.
    std::string msg =
        fmt::format("cannot connect to {}: {} (error {})", spec.display, mysql_error(mysql), number);
    mysql_close(mysql);
    if (number == ER_ACCESS_DENIED_ERROR || number == ER_ACCESS_DENIED_NO_PASSWORD_ERROR ||
        number == ER_DBACCESS_DENIED_ERROR || number == ER_BAD_DB_ERROR) {
      return Status::Config(msg + "; check the user, password and database of the URL");
    }
    return Status::Unavailable(msg);
  }
  std::unique_ptr<Connection> c(new Connection(mysql, spec.display));
  // ANSI_QUOTES: identifiers are quoted with '"' as in every SQL store.
  TANDEM_RETURN_IF_ERROR(c->exec_simple(
      "SET SESSION time_zone = '+00:00', SESSION sql_mode = 'STRICT_ALL_TABLES,ANSI_QUOTES,NO_ZERO_DATE,"
      "NO_ZERO_IN_DATE,ERROR_FOR_DIVISION_BY_ZERO,NO_ENGINE_SUBSTITUTION,NO_BACKSLASH_ESCAPES', "
      "NAMES utf8mb4 COLLATE utf8mb4_bin",
      "setting up the session"));
  TANDEM_RETURN_IF_ERROR(
      c->run("SELECT @@max_allowed_packet", {}, "reading max_allowed_packet", [&](const Row& r) {
         std::string v = r.as_text(0);
         c->max_packet_ = std::strtoull(v.c_str(), nullptr, 10);
         return Status::Ok();
       }).status());
  if (spec.read_only) {
    TANDEM_RETURN_IF_ERROR(
        c->exec_simple("SET SESSION TRANSACTION READ ONLY", "making the session read-only"));
  }
  if (!spec.session_sql.empty())
    TANDEM_RETURN_IF_ERROR(c->exec_simple(spec.session_sql, "setting up the session"));
  return c;
}

Connection::~Connection() {
  for (auto& [sql, stmt] : statements_) mysql_stmt_close(stmt);
  mysql_close(mysql_);
}

Status Connection::error(unsigned number, std::string_view sqlstate, std::string_view message,
                         std::string_view what) {
  last_error_ = number;
  std::string full =
      fmt::format("{} on {}: {} (error {}, SQLSTATE {})", what, display_, message, number, sqlstate);
  switch (number) {
    case CR_SERVER_GONE_ERROR:
    case CR_SERVER_LOST:
    case CR_CONNECTION_ERROR:
    case CR_CONN_HOST_ERROR:
    case CR_SERVER_LOST_EXTENDED:
    case ER_SERVER_SHUTDOWN:
    case ER_CONNECTION_KILLED:
    case ER_NET_READ_ERROR:
    case ER_NET_WRITE_INTERRUPTED:
    case ER_NET_READ_INTERRUPTED:
      broken_ = true;
      return Status::Unavailable(full + "; the connection was lost");
    case ER_LOCK_WAIT_TIMEOUT:
    case ER_LOCK_DEADLOCK:
    case ER_CON_COUNT_ERROR:
    case ER_TOO_MANY_USER_CONNECTIONS:
      return Status::Busy(full);
    case ER_NET_PACKET_TOO_LARGE:
    case CR_NET_PACKET_TOO_LARGE:
      broken_ = true;  // the server closes the session after this
      return Status::InvalidArgument(full + "; raise max_allowed_packet on the server");
    case ER_DUP_ENTRY:
    case ER_DATA_TOO_LONG:
    case ER_DATA_OUT_OF_RANGE:
    case ER_WARN_ALLOWED_PACKET_OVERFLOWED:
    case ER_TOO_BIG_ROWSIZE:
    case ER_UNDO_RECORD_TOO_BIG:
    case ER_INDEX_COLUMN_TOO_LONG:
    case ER_TOO_LONG_KEY:
    case ER_WARN_INVALID_TIMESTAMP:
    case ER_INVALID_CHARACTER_STRING:
    case ER_WRONG_VALUE_FOR_TYPE:
    case ER_DATETIME_FUNCTION_OVERFLOW:
    case ER_DIVISION_BY_ZERO:
    case ER_CANT_CREATE_GEOMETRY_OBJECT:
    case ER_TRUNCATED_WRONG_VALUE_FOR_FIELD:
    case ER_TRUNCATED_WRONG_VALUE:
    case ER_BAD_NULL_ERROR:
    case ER_WARN_DATA_OUT_OF_RANGE:
    case WARN_DATA_TRUNCATED:
    case ER_CONSTRAINT_FAILED:
    case ER_ILLEGAL_VALUE_FOR_TYPE:
    case ER_WARN_NULL_TO_NOTNULL:
      return Status::InvalidArgument(full);
    case ER_NO_REFERENCED_ROW:  // 1216, 1452: a child without its parent
    case ER_NO_REFERENCED_ROW_2:
    case ER_ROW_IS_REFERENCED:  // 1217, 1451: a parent with children
    case ER_ROW_IS_REFERENCED_2:
      return Status::InvalidArgument(full).foreign_key();
    case ER_NO_SUCH_TABLE:
    case ER_BAD_FIELD_ERROR:
    case ER_NO_DEFAULT_FOR_FIELD:  // a column of the table the config does not name
      return Status::FailedPrecondition(full);
    case ER_CANT_EXECUTE_IN_READ_ONLY_TRANSACTION:
    case ER_OPTION_PREVENTS_STATEMENT:
    case ER_TABLEACCESS_DENIED_ERROR:
    case ER_DBACCESS_DENIED_ERROR:
    case ER_SPECIFIC_ACCESS_DENIED_ERROR:
      return Status::FailedPrecondition(full + " (the account or transaction is read-only)");
    default:
      break;
  }
  if (number >= 2000 && number < 3000) {  // any other client-side error: the connection is unusable
    broken_ = true;
    return Status::Unavailable(full + "; the connection was lost");
  }
  return Status::Internal(full);
}

Status Connection::stmt_error(MYSQL_STMT* stmt, std::string_view what) {
  return error(mysql_stmt_errno(stmt), mysql_stmt_sqlstate(stmt), mysql_stmt_error(stmt), what);
}

Result<MYSQL_STMT*> Connection::prepared(const std::string& sql, std::string_view what) {
  auto it = statements_.find(sql);
  if (it != statements_.end()) return it->second;
  if (statements_.size() >= 256) {  // bound the server's prepared statements per session
    for (auto& [text, stmt] : statements_) mysql_stmt_close(stmt);
    statements_.clear();
  }
  MYSQL_STMT* stmt = mysql_stmt_init(mysql_);
  if (stmt == nullptr) return error(mysql_errno(mysql_), mysql_sqlstate(mysql_), mysql_error(mysql_), what);
  if (mysql_stmt_prepare(stmt, sql.data(), sql.size()) != 0) {
    Status s = stmt_error(stmt, what);
    mysql_stmt_close(stmt);
    return s;
  }
  statements_.emplace(sql, stmt);
  return stmt;
}

Result<uint64_t> Connection::run(const std::string& sql, const std::vector<Param>& params,
                                 std::string_view what, const std::function<Status(const Row&)>& visit) {
  TANDEM_ASSIGN_OR_RETURN(MYSQL_STMT * stmt, prepared(sql, what));
  if (mysql_stmt_param_count(stmt) != params.size()) {
    return Status::Internal(fmt::format("{}: {} parameters for {} placeholders", what, params.size(),
                                        mysql_stmt_param_count(stmt)));
  }
  std::vector<MYSQL_BIND> binds(params.size());
  std::vector<my_bool> nulls(params.size());
  for (size_t i = 0; i < params.size(); ++i) {
    const Param& p = params[i];
    MYSQL_BIND& b = binds[i];
    nulls[i] = p.kind == Param::Kind::kNull;
    b.is_null = &nulls[i];
    switch (p.kind) {
      case Param::Kind::kNull:
        b.buffer_type = MYSQL_TYPE_NULL;
        break;
      case Param::Kind::kInt:
        b.buffer_type = MYSQL_TYPE_LONGLONG;
        b.buffer = const_cast<int64_t*>(&p.integer);
        break;
      case Param::Kind::kDouble:
        b.buffer_type = MYSQL_TYPE_DOUBLE;
        b.buffer = const_cast<double*>(&p.real);
        break;
      case Param::Kind::kText:
      case Param::Kind::kBytes:
        b.buffer_type = p.kind == Param::Kind::kText ? MYSQL_TYPE_STRING : MYSQL_TYPE_BLOB;
        b.buffer = const_cast<char*>(p.text.data());
        b.buffer_length = p.text.size();
        break;
    }
  }
  if (!binds.empty() && mysql_stmt_bind_param(stmt, binds.data()) != 0) return stmt_error(stmt, what);
  if (mysql_stmt_execute(stmt) != 0) return stmt_error(stmt, what);
  uint64_t affected = 0;
  MYSQL_RES* meta = mysql_stmt_result_metadata(stmt);
  if (meta == nullptr) {
    affected = mysql_stmt_affected_rows(stmt);
    return affected == static_cast<uint64_t>(-1) ? 0 : affected;
  }
  // Rows: bind each column by its kind and stream them.
  unsigned n = mysql_num_fields(meta);
  MYSQL_FIELD* fields = mysql_fetch_fields(meta);
  Row row;
  row.columns_.resize(n);
  std::vector<MYSQL_BIND> out(n);
  for (unsigned i = 0; i < n; ++i) {
    Row::Column& c = row.columns_[i];
    MYSQL_BIND& b = out[i];
    b.is_null = &c.null;
    b.error = &c.error;
    b.length = &c.length;
    bool is_unsigned = (fields[i].flags & UNSIGNED_FLAG) != 0;
    switch (fields[i].type) {
      case MYSQL_TYPE_TINY:
      case MYSQL_TYPE_SHORT:
      case MYSQL_TYPE_INT24:
      case MYSQL_TYPE_LONG:
      case MYSQL_TYPE_YEAR:
        c.kind = Row::Kind::kInt;
        b.buffer_type = MYSQL_TYPE_LONGLONG;
        b.buffer = &c.integer;
        break;
      case MYSQL_TYPE_LONGLONG:
        if (is_unsigned) {  // may not fit int64: read as text and checked when converted
          c.buffer.resize(24);
          b.buffer_type = MYSQL_TYPE_STRING;
          b.buffer = c.buffer.data();
          b.buffer_length = c.buffer.size();
        } else {
          c.kind = Row::Kind::kInt;
          b.buffer_type = MYSQL_TYPE_LONGLONG;
          b.buffer = &c.integer;
        }
        break;
      case MYSQL_TYPE_FLOAT:
      case MYSQL_TYPE_DOUBLE:
        c.kind = Row::Kind::kDouble;
        b.buffer_type = MYSQL_TYPE_DOUBLE;
        b.buffer = &c.real;
        break;
      case MYSQL_TYPE_DATE:
      case MYSQL_TYPE_DATETIME:
      case MYSQL_TYPE_TIMESTAMP:
      case MYSQL_TYPE_DATETIME2:
      case MYSQL_TYPE_TIMESTAMP2:
      case MYSQL_TYPE_NEWDATE:
        c.temporal = true;
        c.date_only = fields[i].type == MYSQL_TYPE_DATE || fields[i].type == MYSQL_TYPE_NEWDATE;
        b.buffer_type = fields[i].type == MYSQL_TYPE_DATE ? MYSQL_TYPE_DATE : MYSQL_TYPE_DATETIME;
        b.buffer = &c.time;
        b.buffer_length = sizeof(c.time);
        break;
      default:
        c.buffer.resize(256);
        b.buffer_type = MYSQL_TYPE_STRING;
        b.buffer = c.buffer.data();
        b.buffer_length = c.buffer.size();
        break;
    }
    b.is_unsigned = is_unsigned;
  }
  mysql_free_result(meta);
  Status first_error;
  if (mysql_stmt_bind_result(stmt, out.data()) != 0) return stmt_error(stmt, what);
  for (;;) {
    int rc = mysql_stmt_fetch(stmt);
    if (rc == MYSQL_NO_DATA) break;
    if (rc == 1) {
      Status s = stmt_error(stmt, what);
      mysql_stmt_free_result(stmt);
      return s;
    }
    if (rc == MYSQL_DATA_TRUNCATED) {  // a value larger than its buffer: grow it, fetch it again
      for (unsigned i = 0; i < n; ++i) {
        Row::Column& c = row.columns_[i];
        if (c.error == 0 || c.kind != Row::Kind::kText || c.temporal) continue;
        c.buffer.resize(c.length);
        out[i].buffer = c.buffer.data();
        out[i].buffer_length = c.buffer.size();
        if (mysql_stmt_fetch_column(stmt, &out[i], i, 0) != 0) {
          Status s = stmt_error(stmt, what);
          mysql_stmt_free_result(stmt);
          return s;
        }
      }
      // Rebind the grown buffers for the rows that follow.
      if (mysql_stmt_bind_result(stmt, out.data()) != 0) return stmt_error(stmt, what);
    }
    if (first_error.ok() && visit) first_error = visit(row);
    ++affected;
  }
  mysql_stmt_free_result(stmt);
  TANDEM_RETURN_IF_ERROR(first_error);
  return affected;
}

Status Connection::exec_simple(const std::string& sql, std::string_view what) {
  if (mysql_real_query(mysql_, sql.data(), sql.size()) != 0) {
    return error(mysql_errno(mysql_), mysql_sqlstate(mysql_), mysql_error(mysql_), what);
  }
  // Discard any result set.
  if (MYSQL_RES* r = mysql_store_result(mysql_)) mysql_free_result(r);
  return Status::Ok();
}

}  // namespace tandem::mariadb
