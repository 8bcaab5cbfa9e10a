#include "employees_fixture.h"

#include <fmt/format.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <cctype>

#include "test_support.h"

namespace tandem::testing {
namespace {

constexpr int kEmployees = 200;
constexpr int kDepartments = 9;
const char* const kTitles[] = {"Engineer", "Senior Engineer", "Staff", "Manager"};

std::string day(int32_t days) { return Date{days}.to_string(); }
int32_t days_of(const char* text) { return Date::parse(text).value().days; }

std::string lower(std::string s) {
  for (char& c : s) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return s;
}

std::string dept_no(int k) { return fmt::format("d{:03}", k); }

struct Sample {
  FixtureRows departments, employees, dept_emp, salaries, titles;
};

// The loaded rows, as the model prints them.
Sample sample() {
  Sample s;
  for (int k = 1; k <= kDepartments; ++k)
    s.departments.push_back({dept_no(k), fmt::format("Department {}", k)});
  for (int i = 0; i < kEmployees; ++i) {
    const int64_t emp = 10001 + i;
    const int32_t hire = days_of("1985-01-01") + (i * 11) % 4000;
    s.employees.push_back({std::to_string(emp), day(days_of("1952-02-01") + (i * 37) % 5000),
                           fmt::format("First{}", i), fmt::format("Last{}", i), i % 2 ? "M" : "F", day(hire),
                           i % 5 == 0 ? "<NULL>" : std::to_string((i * 7) % 256)});
    s.dept_emp.push_back({std::to_string(emp), dept_no(i % kDepartments + 1), day(hire), "9999-01-01"});
    for (int j = 0; j < 3; ++j) {
      s.salaries.push_back({std::to_string(emp), std::to_string(40000 + i * 7 + j * 1000),
                            day(hire + 365 * j), day(hire + 365 * (j + 1))});
    }
    s.titles.push_back({std::to_string(emp), "Engineer", day(hire), i % 2 ? "<NULL>" : day(hire + 730)});
    if (i % 2 == 0) s.titles.push_back({std::to_string(emp), "Senior Engineer", day(hire + 730), "<NULL>"});
  }
  return s;
}

std::string sql_value(const std::string& v, bool number) {
  if (v == "<NULL>") return "NULL";
  return number ? v : fmt::format("'{}'", v);
}

// INSERT statements for the sample (numbers: which columns are unquoted).
std::vector<std::string> inserts() {
  Sample s = sample();
  std::vector<std::string> out;
  auto add = [&](const char* table, const FixtureRows& rows, std::vector<bool> numbers) {
    std::vector<std::string> values;
    for (const auto& r : rows) {
      std::vector<std::string> v;
      for (size_t c = 0; c < r.size(); ++c) v.push_back(sql_value(r[c], numbers[c]));
      values.push_back(fmt::format("({})", fmt::join(v, ", ")));
    }
    out.push_back(fmt::format("INSERT INTO {} VALUES {}", table, fmt::join(values, ", ")));
  };
  add("departments", s.departments, {false, false});
  add("employees", s.employees, {true, false, false, false, false, false, true});
  add("dept_emp", s.dept_emp, {true, false, false, false});
  add("salaries", s.salaries, {true, true, false, false});
  add("titles", s.titles, {true, false, false, false});
  return out;
}

}  // namespace

const char* const kOrphansSql =
    "SELECT (SELECT COUNT(*) FROM salaries c WHERE NOT EXISTS (SELECT 1 FROM employees p WHERE p.emp_no = "
    "c.emp_no)) + (SELECT COUNT(*) FROM titles c WHERE NOT EXISTS (SELECT 1 FROM employees p WHERE p.emp_no "
    "= "
    "c.emp_no)) + (SELECT COUNT(*) FROM dept_emp c WHERE NOT EXISTS (SELECT 1 FROM employees p WHERE "
    "p.emp_no "
    "= c.emp_no)) + (SELECT COUNT(*) FROM dept_emp c WHERE NOT EXISTS (SELECT 1 FROM departments p WHERE "
    "p.dept_no = c.dept_no))";

EmployeesEngine mariadb_employees(bool ci_keys) {
  EmployeesEngine e;
  e.name = "mariadb";
  e.case_insensitive = ci_keys;
  e.load = [ci_keys](const std::string& url) {
    // The sample's own DDL: every text column under the table's
    // case-insensitive default collation.
    const char* const ddl[] = {
        "CREATE TABLE departments (dept_no CHAR(4) NOT NULL PRIMARY KEY, dept_name VARCHAR(40) NOT NULL, "
        "UNIQUE KEY (dept_name)) DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_general_ci",
        "CREATE TABLE employees (emp_no INT UNSIGNED NOT NULL PRIMARY KEY, birth_date DATE NOT NULL, "
        "first_name VARCHAR(14) NOT NULL, last_name VARCHAR(16) NOT NULL, gender ENUM('M','F') NOT NULL, "
        "hire_date DATE NOT NULL, level TINYINT UNSIGNED) DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_general_ci",
        "CREATE TABLE dept_emp (emp_no INT UNSIGNED NOT NULL, dept_no CHAR(4) NOT NULL, from_date DATE NOT "
        "NULL, to_date DATE NOT NULL, PRIMARY KEY (emp_no, dept_no), KEY (dept_no), FOREIGN KEY (emp_no) "
        "REFERENCES employees (emp_no) ON DELETE CASCADE, FOREIGN KEY (dept_no) REFERENCES departments "
        "(dept_no) ON DELETE CASCADE) DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_general_ci",
        "CREATE TABLE salaries (emp_no INT UNSIGNED NOT NULL, salary INT UNSIGNED NOT NULL, from_date DATE "
        "NOT "
        "NULL, to_date DATE NOT NULL, PRIMARY KEY (emp_no, from_date), FOREIGN KEY (emp_no) REFERENCES "
        "employees (emp_no) ON DELETE CASCADE) DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_general_ci",
        "CREATE TABLE titles (emp_no INT UNSIGNED NOT NULL, title VARCHAR(50) NOT NULL, from_date DATE NOT "
        "NULL, to_date DATE, PRIMARY KEY (emp_no, title, from_date), FOREIGN KEY (emp_no) REFERENCES "
        "employees (emp_no) ON DELETE CASCADE) DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_general_ci"};
    for (std::string sql : ddl) {
      if (!ci_keys) {  // the key columns by bytes
        for (const char* key : {"dept_no CHAR(4)", "title VARCHAR(50)"}) {
          size_t at = sql.find(key);
          if (at != std::string::npos) sql.insert(at + std::string_view(key).size(), " COLLATE utf8mb4_bin");
        }
      }
      mariadb_sql(url, sql);
    }
    for (const std::string& sql : inserts()) mariadb_sql(url, sql);
  };
  e.rows = [](const std::string& url, const std::string& sql) { return mariadb_rows(url, sql); };
  const std::string d = "DATE_FORMAT({}, '%Y-%m-%d')";
  auto date = [&](const char* c) { return fmt::format(fmt::runtime(d), c); };
  e.select_rows = {
      {"departments", "SELECT dept_no, dept_name FROM departments"},
      {"employees", fmt::format("SELECT emp_no, {}, first_name, last_name, gender, {}, level FROM employees",
                                date("birth_date"), date("hire_date"))},
      {"dept_emp",
       fmt::format("SELECT emp_no, dept_no, {}, {} FROM dept_emp", date("from_date"), date("to_date"))},
      {"salaries",
       fmt::format("SELECT emp_no, salary, {}, {} FROM salaries", date("from_date"), date("to_date"))},
      {"titles",
       fmt::format("SELECT emp_no, title, {}, {} FROM titles", date("from_date"), date("to_date"))}};
  e.schema_sql =
      "SELECT TABLE_NAME, COLUMN_NAME, COLUMN_TYPE, IFNULL(COLLATION_NAME, ''), IS_NULLABLE FROM "
      "information_schema.COLUMNS WHERE TABLE_SCHEMA = DATABASE() UNION ALL SELECT TABLE_NAME, INDEX_NAME, "
      "COLUMN_NAME, CAST(NON_UNIQUE AS CHAR), CAST(SEQ_IN_INDEX AS CHAR) FROM information_schema.STATISTICS "
      "WHERE TABLE_SCHEMA = DATABASE() UNION ALL SELECT TABLE_NAME, CONSTRAINT_NAME, DELETE_RULE, "
      "UPDATE_RULE, "
      "REFERENCED_TABLE_NAME FROM information_schema.REFERENTIAL_CONSTRAINTS WHERE CONSTRAINT_SCHEMA = "
      "DATABASE() ORDER BY 1, 2, 3";
  return e;
}

EmployeesEngine postgres_employees() {
  EmployeesEngine e;
  e.name = "postgres";
  e.load = [](const std::string& url) {
    postgres_rows(
        url,
        "CREATE TYPE gender AS ENUM ('M', 'F'); "
        "CREATE TABLE departments (dept_no char(4) PRIMARY KEY, dept_name varchar(40) NOT NULL UNIQUE); "
        "CREATE TABLE employees (emp_no integer PRIMARY KEY, birth_date date NOT NULL, first_name "
        "varchar(14) NOT NULL, last_name varchar(16) NOT NULL, gender gender NOT NULL, hire_date date NOT "
        "NULL, level smallint); "
        "CREATE TABLE dept_emp (emp_no integer NOT NULL REFERENCES employees ON DELETE CASCADE, dept_no "
        "char(4) NOT NULL REFERENCES departments ON DELETE CASCADE, from_date date NOT NULL, to_date date "
        "NOT "
        "NULL, PRIMARY KEY (emp_no, dept_no)); CREATE INDEX ON dept_emp (dept_no); "
        "CREATE TABLE salaries (emp_no integer NOT NULL REFERENCES employees ON DELETE CASCADE, salary "
        "integer NOT NULL, from_date date NOT NULL, to_date date NOT NULL, PRIMARY KEY (emp_no, from_date)); "
        "CREATE TABLE titles (emp_no integer NOT NULL REFERENCES employees ON DELETE CASCADE, title "
        "varchar(50) NOT NULL, from_date date NOT NULL, to_date date, PRIMARY KEY (emp_no, title, "
        "from_date))");
    for (const std::string& sql : inserts()) postgres_rows(url, sql);
  };
  e.rows = [](const std::string& url, const std::string& sql) { return postgres_rows(url, sql); };
  e.select_rows = {
      {"departments", "SELECT dept_no::text, dept_name FROM departments"},
      {"employees",
       "SELECT emp_no::text, birth_date::text, first_name, last_name, gender::text, hire_date::text, "
       "level::text FROM employees"},
      {"dept_emp", "SELECT emp_no::text, dept_no::text, from_date::text, to_date::text FROM dept_emp"},
      {"salaries", "SELECT emp_no::text, salary::text, from_date::text, to_date::text FROM salaries"},
      {"titles", "SELECT emp_no::text, title, from_date::text, to_date::text FROM titles"}};
  e.schema_sql =
      "SELECT table_name::text, column_name::text, data_type::text, coalesce(collation_name::text, ''), "
      "is_nullable::text FROM information_schema.columns WHERE table_schema = current_schema() UNION ALL "
      "SELECT conrelid::regclass::text, conname::text, pg_get_constraintdef(oid), '', '' FROM pg_constraint "
      "WHERE connamespace = current_schema()::regnamespace UNION ALL SELECT tablename::text, "
      "indexname::text, indexdef, '', '' FROM pg_indexes WHERE schemaname = current_schema() ORDER BY 1, 2, "
      "3";
  return e;
}

Config employees_config(const std::string& control_path, const std::string& old_url,
                        const std::string& new_url) {
  Config config;
  config.migration_name = "employees";
  config.control_url = "sqlite:" + control_path;
  config.old_url = old_url;
  config.new_url = new_url;
  auto text = [](const char* n, bool nullable = false) { return Column{n, Type::kText, nullable}; };
  auto date = [](const char* n, bool nullable = false) { return Column{n, Type::kDate, nullable}; };
  auto integer = [](const char* n, bool nullable = false) { return Column{n, Type::kInt, nullable}; };
  CollectionSchema departments{"departments", {text("dept_no")}, {text("dept_name")}};
  CollectionSchema employees{"employees",
                             {integer("emp_no")},
                             {date("birth_date"), text("first_name"), text("last_name"), text("gender"),
                              date("hire_date"), integer("level", true)}};
  CollectionSchema dept_emp{
      "dept_emp", {integer("emp_no"), text("dept_no")}, {date("from_date"), date("to_date")}};
  CollectionSchema salaries{
      "salaries", {integer("emp_no"), date("from_date")}, {integer("salary"), date("to_date")}};
  CollectionSchema titles{
      "titles", {integer("emp_no"), text("title"), date("from_date")}, {date("to_date", true)}};
  config.collections = {departments, employees, dept_emp, salaries, titles};
  return config;
}

std::string EmployeesModel::identity(const std::string& text) const {
  return case_insensitive_ ? lower(text) : text;
}

EmployeesModel EmployeesModel::of_loaded(bool case_insensitive) {
  EmployeesModel m;
  m.case_insensitive_ = case_insensitive;
  Sample s = sample();
  for (const auto& r : s.departments) m.tables_["departments"][m.identity(r[0])] = r;
  for (const auto& r : s.employees) {
    m.tables_["employees"][r[0]] = r;
    m.employees_.push_back(std::stoll(r[0]));
  }
  for (const auto& r : s.dept_emp) m.tables_["dept_emp"][r[0] + "|" + m.identity(r[1])] = r;
  for (const auto& r : s.salaries) m.tables_["salaries"][r[0] + "|" + r[2]] = r;
  for (const auto& r : s.titles) m.tables_["titles"][r[0] + "|" + m.identity(r[1]) + "|" + r[2]] = r;
  return m;
}

std::map<std::string, FixtureRows> EmployeesModel::rows() const {
  std::map<std::string, FixtureRows> out;
  for (const auto& [table, rows] : tables_) {
    FixtureRows& o = out[table];
    for (const auto& [identity, row] : rows) o.push_back(row);
    std::sort(o.begin(), o.end());
  }
  return out;
}

void EmployeesModel::random_write(Migration& m, std::mt19937& random) {
  auto pick = [&](size_t n) { return std::uniform_int_distribution<size_t>(0, n - 1)(random); };
  auto fail = [&](const Status& s, const std::string& what) {
    ADD_FAILURE() << what << ": " << s.to_string();
  };
  const int op = static_cast<int>(pick(100));
  if (employees_.empty() || op < 15) {  // a new employee
    const int64_t emp = next_emp_no_++;
    std::vector<std::string> row = {std::to_string(emp),        "1990-05-17", "New",
                                    fmt::format("Hire{}", emp), "F",          "2026-11-27",
                                    std::to_string(emp % 256)};
    Record r{Key{Value(emp)},
             {{"birth_date", Value(Date::parse(row[1]).value())},
              {"first_name", Value(row[2])},
              {"last_name", Value(row[3])},
              {"gender", Value(row[4])},
              {"hire_date", Value(Date::parse(row[5]).value())},
              {"level", Value(emp % 256)}}};
    Status s = value_or_die(m.collection("employees"))->put(r);
    if (!s.ok()) return fail(s, "put employee");
    tables_["employees"][row[0]] = row;
    employees_.push_back(emp);
    ++writes_;
    return;
  }
  const int64_t emp = employees_[pick(employees_.size())];
  const std::string e = std::to_string(emp);
  if (op < 35) {  // a patch of the employee
    const std::string last = fmt::format("Patched{}", writes_ % 1000);
    Status s = value_or_die(m.collection("employees"))
                   ->patch(Key{Value(emp)}, {{"last_name", Value(last)}, {"level", Value(int64_t{255})}});
    if (!s.ok()) return fail(s, "patch employee " + e);
    auto& row = tables_["employees"][e];
    row[3] = last;
    row[6] = "255";
  } else if (op < 55) {  // a salary
    const int32_t from = days_of("2027-01-01") + static_cast<int32_t>(pick(3000));
    const int64_t salary = 50000 + static_cast<int64_t>(pick(50000));
    Record r{Key{Value(emp), Value(Date{from})},
             {{"salary", Value(salary)}, {"to_date", Value(Date{from + 365})}}};
    Status s = value_or_die(m.collection("salaries"))->put(r);
    if (!s.ok()) return fail(s, "put salary of " + e);
    tables_["salaries"][e + "|" + day(from)] = {e, std::to_string(salary), day(from), day(from + 365)};
  } else if (op < 65) {  // the employee leaves: old's (or new's) foreign keys cascade
    Status s = value_or_die(m.collection("employees"))->remove(Key{Value(emp)});
    if (!s.ok()) return fail(s, "remove employee " + e);
    tables_["employees"].erase(e);
    for (const char* child : {"salaries", "titles", "dept_emp"}) {
      auto& rows = tables_[child];
      for (auto it = rows.lower_bound(e + "|"); it != rows.end() && it->first.starts_with(e + "|");) {
        it = rows.erase(it);
        ++cascaded_;
      }
    }
    employees_.erase(std::find(employees_.begin(), employees_.end(), emp));
  } else if (op < 85) {  // a title, often one the employee has, spelled in another case
    const char* title = kTitles[pick(4)];
    std::string spelled = title;
    if (pick(2) == 0) spelled = lower(spelled);
    if (pick(3) == 0) std::transform(spelled.begin(), spelled.end(), spelled.begin(), ::toupper);
    auto& rows = tables_["titles"];
    const std::string prefix = e + "|" + identity(spelled) + "|";
    auto existing = rows.lower_bound(prefix);
    const bool has = existing != rows.end() && existing->first.starts_with(prefix);
    const std::string from = has ? existing->second[2] : "2026-11-27";
    Record r{Key{Value(emp), Value(spelled), Value(Date::parse(from).value())}, {{"to_date", Value()}}};
    Status s = value_or_die(m.collection("titles"))->put(r);
    if (!s.ok()) return fail(s, "put title " + spelled + " of " + e);
    rows[prefix + from] = {e, spelled, from, "<NULL>"};
  } else if (op < 95) {  // a salary removed
    auto& rows = tables_["salaries"];
    auto it = rows.lower_bound(e + "|");
    if (it == rows.end() || !it->first.starts_with(e + "|")) return;
    Key key{Value(emp), Value(Date::parse(it->second[2]).value())};
    Status s = value_or_die(m.collection("salaries"))->remove(key);
    if (!s.ok()) return fail(s, "remove salary of " + e);
    rows.erase(it);
  } else {  // a move to another department
    const std::string dept = dept_no(static_cast<int>(pick(kDepartments)) + 1);
    Record r{Key{Value(emp), Value(dept)},
             {{"from_date", Value(Date::parse("2026-11-27").value())},
              {"to_date", Value(Date::parse("9999-01-01").value())}}};
    Status s = value_or_die(m.collection("dept_emp"))->put(r);
    if (!s.ok()) return fail(s, "put dept_emp of " + e);
    tables_["dept_emp"][e + "|" + identity(dept)] = {e, dept, "2026-11-27", "9999-01-01"};
  }
  ++writes_;
}

}  // namespace tandem::testing
