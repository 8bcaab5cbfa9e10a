// The control store conformance suites' fixture: one fresh control database
// per test on each engine (SQLite file, PostgreSQL and MariaDB databases on the
// servers scripts/test.sh starts, dropped after).
#pragma once

#include <fmt/format.h>
#include <gtest/gtest.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <memory>
#include <string>

#include "tandem/control_store.h"
#include "test_support.h"

namespace tandem::testing {

enum class Engine { kSqlite, kPostgres, kMariaDb };

inline std::string engine_name(Engine e) {
  switch (e) {
    case Engine::kSqlite:
      return "SQLite";
    case Engine::kPostgres:
      return "PostgreSQL";
    case Engine::kMariaDb:
      return "MariaDB";
  }
  return "?";
}

// A fresh control database for one test, dropped at the end.
class ControlDatabase {
 public:
  explicit ControlDatabase(Engine engine) {
    static std::atomic<int> counter{0};
    std::string name = fmt::format("tandem_ctl_{}_{}", getpid(), counter++);
    switch (engine) {
      case Engine::kSqlite:
        url_ = "sqlite:" + dir_.file("control.db");
        break;
      case Engine::kPostgres:
        postgres_ = std::make_unique<PostgresDatabase>(name);
        url_ = postgres_->url();
        break;
      case Engine::kMariaDb:
        mariadb_ = std::make_unique<MariaDbDatabase>(name);
        url_ = mariadb_->url();
        break;
    }
    name_ = name;
  }
  const std::string& url() const { return url_; }
  // The database's URL for another account (the servers only).
  std::string url_for(const std::string& user) const {
    return postgres_ ? postgres_->url(user) : mariadb_ ? mariadb_->url(user) : url_;
  }
  const std::string& name() const { return name_; }

 private:
  TempDir dir_;
  std::unique_ptr<PostgresDatabase> postgres_;
  std::unique_ptr<MariaDbDatabase> mariadb_;
  std::string url_;
  std::string name_;
};

inline std::unique_ptr<ControlStore> open_or_fail(const std::string& url) {
  auto store = open_control_store(url);
  EXPECT_TRUE(store.ok()) << store.status().to_string();
  return store.ok() ? std::move(*store) : nullptr;
}

class ControlStoreTest : public ::testing::TestWithParam<Engine> {
 protected:
  void SetUp() override {
    db_ = std::make_unique<ControlDatabase>(GetParam());
    store_ = open_or_fail(db_->url());
    ASSERT_NE(store_, nullptr);
    ASSERT_TRUE(store_->initialize("fingerprint-1", 5).ok());
  }
  // The store's clock is within a few seconds of this host's (same machine).
  WallTime store_now() {
    auto now = store_->clock_now();
    EXPECT_TRUE(now.ok()) << now.status().to_string();
    return now.ok() ? *now : WallTime{};
  }
  static void expect_near(WallTime a, WallTime b) {
    EXPECT_LT(std::chrono::abs(a - b), std::chrono::microseconds(std::chrono::seconds(5)))
        << format_time(a) << " vs " << format_time(b);
  }

  std::unique_ptr<ControlDatabase> db_;
  std::unique_ptr<ControlStore> store_;
};

inline std::string engine_test_name(const ::testing::TestParamInfo<Engine>& info) {
  return engine_name(info.param);
}

}  // namespace tandem::testing
