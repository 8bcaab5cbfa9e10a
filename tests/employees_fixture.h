// The employees fixture of issue 14's acceptance test: the shape of the
// well-known MySQL employees sample (departments, employees, dept_emp,
// salaries, titles; dates, composite keys, text keys under a
// case-insensitive collation in MariaDB, unsigned and small integers, an
// ENUM, foreign keys with ON DELETE CASCADE) in MariaDB's and PostgreSQL's
// words, the tandem config for it, and a model of every acknowledged write
// (cascades included) that both databases must equal at the end.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <random>
#include <string>
#include <vector>

#include "tandem/config.h"
#include "tandem/migration.h"

namespace tandem::testing {

using FixtureRows = std::vector<std::vector<std::string>>;

struct EmployeesEngine {
  std::string name;
  std::function<void(const std::string& url)> load;  // creates the tables and loads the sample rows
  std::function<FixtureRows(const std::string& url, const std::string& sql)> rows;  // the engine's own client
  std::map<std::string, std::string> select_rows;  // per table, its rows as the model prints them
  std::string schema_sql;                          // old's catalog: tables, columns, indexes, foreign keys
  bool case_insensitive = false;                   // text keys under a case-insensitive collation
};

// ci_keys: every text column, keys included, under the tables' default
// case-insensitive collation (utf8mb4_general_ci), as the sample declares
// them; else the key columns are utf8mb4_bin (the other text columns stay
// case-insensitive).
EmployeesEngine mariadb_employees(bool ci_keys);
EmployeesEngine postgres_employees();

// Children whose parent is missing, over every foreign key: one row, one count.
extern const char* const kOrphansSql;

Config employees_config(const std::string& control_path, const std::string& old_url,
                        const std::string& new_url);

class EmployeesModel {
 public:
  // The rows EmployeesEngine::load loaded; case_insensitive: text keys that
  // differ only by case are one record (old's collation), else two.
  static EmployeesModel of_loaded(bool case_insensitive);
  // One random write through the migration's collections; applied to the
  // model when acknowledged (a failure fails the test).
  void random_write(Migration& m, std::mt19937& random);
  // Per table, the rows both databases must hold (sorted, as select_rows prints them).
  std::map<std::string, FixtureRows> rows() const;
  uint64_t writes() const { return writes_; }
  uint64_t cascaded() const { return cascaded_; }

 private:
  // Per table: identity (case-folded text keys) -> row.
  std::map<std::string, std::map<std::string, std::vector<std::string>>> tables_;
  std::vector<int64_t> employees_;
  std::string identity(const std::string& text) const;

  bool case_insensitive_ = false;
  int64_t next_emp_no_ = 500001;
  uint64_t writes_ = 0;
  uint64_t cascaded_ = 0;
};

}  // namespace tandem::testing
