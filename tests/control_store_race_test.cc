// The control store under concurrent callers, the same tests on every engine:
// two store objects on one database, many threads moving the step or claiming
// backfill ranges. And on the servers: a fast failure when unreachable, and a
// reconnect after the server dropped the session.
#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstdlib>
#include <mutex>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "control_store_fixture.h"

namespace tandem::testing {
namespace {

using std::chrono::milliseconds;
using std::chrono::seconds;
using Ranges = std::vector<std::pair<std::optional<std::string>, std::optional<std::string>>>;

class ControlStoreRaces : public ControlStoreTest {};

// Two store objects on one database, movers on many threads: exactly one
// change wins per version, and the history holds each version once.
TEST_P(ControlStoreRaces, ConcurrentMoversOneWinnerPerVersion) {
  auto second = open_or_fail(db_->url());
  ASSERT_NE(second, nullptr);
  constexpr int kThreads = 6, kVersions = 12;
  std::vector<std::atomic<int>> wins(kVersions + 2);
  std::atomic<int> unexpected{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      ControlStore& store = t % 2 == 0 ? *store_ : *second;
      for (int v = 1; v <= kVersions; ++v) {
        for (;;) {
          auto r = store.change_step(v, static_cast<size_t>(v % 5), "race", false, fmt::format("t{}", t), {});
          if (r.ok()) {
            wins[v]++;
          } else if (r.status().code() == Code::kBusy) {
            continue;  // contended: try again
          } else if (r.status().code() != Code::kFailedPrecondition) {
            ADD_FAILURE() << r.status().to_string();
            unexpected++;
          }
          break;
        }
      }
    });
  }
  for (auto& th : threads) th.join();
  EXPECT_EQ(unexpected.load(), 0);
  for (int v = 1; v <= kVersions; ++v) EXPECT_EQ(wins[v].load(), 1) << "version " << v;
  auto cur = store_->current_step();
  ASSERT_TRUE(cur.ok());
  EXPECT_EQ(cur->version, kVersions + 1);
  auto h = second->history(100);
  ASSERT_TRUE(h.ok());
  ASSERT_EQ(h->size(), static_cast<size_t>(kVersions));
  for (size_t i = 0; i < h->size(); ++i) EXPECT_EQ((*h)[i].version, kVersions + 1 - static_cast<int64_t>(i));
}

// Workers on many threads (two store objects) claim until none is left: every
// range goes to exactly one owner.
TEST_P(ControlStoreRaces, ConcurrentClaimsNeverShareARange) {
  constexpr int kRanges = 24, kThreads = 6;
  Ranges ranges;
  for (int i = 0; i < kRanges; ++i) ranges.emplace_back(fmt::format("{:03}", i), fmt::format("{:03}", i + 1));
  ASSERT_TRUE(store_->plan_backfill("users", ranges, kRanges).ok());
  auto second = open_or_fail(db_->url());
  ASSERT_NE(second, nullptr);
  std::mutex mutex;
  std::multiset<int64_t> claimed;
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      ControlStore& store = t % 2 == 0 ? *store_ : *second;
      std::string owner = fmt::format("worker-{}", t);
      for (int idle = 0; idle < 3;) {
        auto r = store.claim_backfill_range("users", owner, seconds(60), nullptr);
        if (!r.ok()) {
          ASSERT_EQ(r.status().code(), Code::kBusy) << r.status().to_string();
          continue;
        }
        if (!r->has_value()) {
          ++idle;  // the rest may be locked by claims in flight: look again
          std::this_thread::sleep_for(milliseconds(20));
          continue;
        }
        std::lock_guard<std::mutex> lock(mutex);
        claimed.insert((*r)->id);
        // Hold it: a worker's own range is claimable by it again, so stop on done.
        ASSERT_TRUE(store
                        .checkpoint_backfill("users", (*r)->id, owner, std::nullopt, {1, 1, 0, 0, 0, 0}, true,
                                             seconds(60))
                        .ok());
      }
    });
  }
  for (auto& th : threads) th.join();
  EXPECT_EQ(claimed.size(), static_cast<size_t>(kRanges));
  for (int64_t id = 0; id < kRanges; ++id) EXPECT_EQ(claimed.count(id), 1u) << "range " << id;
  auto state = store_->backfill_state("users");
  ASSERT_TRUE(state.ok());
  EXPECT_TRUE(state->complete);
  EXPECT_EQ(state->counts.scanned, kRanges);
}

INSTANTIATE_TEST_SUITE_P(Engines, ControlStoreRaces,
                         ::testing::Values(Engine::kSqlite, Engine::kPostgres, Engine::kMariaDb),
                         engine_test_name);

// The server engines only: an unreachable control store fails fast (the
// lease depends on it) without its secret in the message, and a session the
// server drops is replaced on the next call.
class ControlStoreServer : public ::testing::TestWithParam<Engine> {};

TEST_P(ControlStoreServer, UnreachableFailsFastWithoutSecrets) {
  setenv("TANDEM_CTL_TEST_SECRET", "s3cret-pw", 1);
  // A port that accepts TCP connections (the kernel's backlog) but never
  // answers: the connect timeout ends the call, not a refusal.
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  ASSERT_GE(fd, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  ASSERT_EQ(bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr), 0);
  ASSERT_EQ(listen(fd, 16), 0);
  socklen_t len = sizeof addr;
  ASSERT_EQ(getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len), 0);
  std::string scheme = GetParam() == Engine::kPostgres ? "postgres" : "mariadb";
  std::string url = fmt::format("{}://tandem@127.0.0.1:{}/db?password_env=TANDEM_CTL_TEST_SECRET", scheme,
                                ntohs(addr.sin_port));
  auto start = std::chrono::steady_clock::now();
  auto store = open_control_store(url);
  auto took = std::chrono::steady_clock::now() - start;
  close(fd);
  ASSERT_FALSE(store.ok());
  EXPECT_EQ(store.status().code(), Code::kUnavailable) << store.status().to_string();
  EXPECT_LT(took, seconds(8));
  EXPECT_EQ(store.status().to_string().find("s3cret-pw"), std::string::npos) << store.status().to_string();
}

TEST_P(ControlStoreServer, ReconnectsAfterTheServerDropsTheSession) {
  ControlDatabase db(GetParam());
  auto store = open_or_fail(db.url());
  ASSERT_NE(store, nullptr);
  ASSERT_TRUE(store->initialize("fp", 3).ok());
  auto kill_sessions = [&] {
    if (GetParam() == Engine::kPostgres) {
      postgres_rows(postgres_admin_url(),
                    fmt::format("SELECT pg_terminate_backend(pid, 5000) FROM pg_stat_activity "
                                "WHERE datname = '{}' AND pid <> pg_backend_pid()",
                                db.name()));
    } else {
      for (const auto& row :
           mariadb_rows(mariadb_admin_url(),
                        fmt::format("SELECT ID FROM information_schema.PROCESSLIST WHERE DB = '{}' "
                                    "AND ID <> CONNECTION_ID()",
                                    db.name()))) {
        (void)run_mariadb_admin(mariadb_admin_url(), "KILL " + row[0]);
      }
    }
    std::this_thread::sleep_for(milliseconds(200));  // the server closes the sessions
  };
  kill_sessions();
  auto first = store->current_step();  // may see the lost session (kUnavailable), never hangs
  if (!first.ok()) {
    EXPECT_EQ(first.status().code(), Code::kUnavailable) << first.status().to_string();
  }
  auto second = store->current_step();
  ASSERT_TRUE(second.ok()) << second.status().to_string();
  EXPECT_EQ(second->version, 1);
  // A connection idle for a while is checked before use: a session the
  // server dropped meanwhile costs no failed call.
  std::this_thread::sleep_for(milliseconds(2100));
  kill_sessions();
  auto third = store->current_step();
  ASSERT_TRUE(third.ok()) << third.status().to_string();
}

// After the first open created the tables, an account with only SELECT,
// INSERT, UPDATE and DELETE on them (docs/CONTROL_STORE.md) runs every kind of
// call: a move, a queued repair, a heartbeat, a claim, a checkpoint.
TEST_P(ControlStoreServer, LeastPrivilegesAfterFirstOpen) {
  ControlDatabase db(GetParam());
  {
    auto owner = open_or_fail(db.url());
    ASSERT_NE(owner, nullptr);
    ASSERT_TRUE(owner->initialize("fp", 3).ok());
  }
  std::string user = "tandem_ctl_min";
  std::string url;
  std::string in_db;
  if (GetParam() == Engine::kPostgres) {
    std::string admin = postgres_admin_url();
    in_db = admin.substr(0, admin.rfind('/') + 1) + db.name();
    psql(admin, fmt::format("DROP ROLE IF EXISTS {0}; CREATE ROLE {0} LOGIN", user));
    psql(in_db, fmt::format("GRANT CONNECT ON DATABASE {1} TO {0}; GRANT USAGE ON SCHEMA public TO {0}; "
                            "GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA public TO {0}; "
                            "REVOKE CREATE ON SCHEMA public FROM PUBLIC",
                            user, db.name()));
    url = db.url_for(user);
  } else {
    std::string admin = mariadb_admin_url();
    mariadb_sql(admin, fmt::format("DROP USER IF EXISTS '{}'@'127.0.0.1'", user));
    mariadb_sql(admin, fmt::format("CREATE USER '{}'@'127.0.0.1'", user));
    mariadb_sql(admin, fmt::format("GRANT SELECT, INSERT, UPDATE, DELETE ON {}.* TO '{}'@'127.0.0.1'",
                                   db.name(), user));
    url = db.url_for(user);
  }
  auto store = open_or_fail(url);
  ASSERT_NE(store, nullptr);
  EXPECT_TRUE(store->initialize("fp", 3).ok());
  EXPECT_TRUE(store->enqueue_repair({0, "users", "k", "id=1", Side::kOld, "r", {}, 0}).ok());
  EXPECT_TRUE(store->add_quarantine({0, "users", "k", "id=1", "", "", "r", {}}).ok());
  EXPECT_TRUE(store->change_step(1, 1, "move", false, "a", {Side::kNew}).ok());
  EXPECT_TRUE(store->heartbeat({"i-1", "h", 1, WallTime{}, WallTime{}, 2, 1}).ok());
  std::this_thread::sleep_for(std::chrono::milliseconds(20));
  EXPECT_TRUE(store->forget_instance("i-1", "gone", "ops", std::chrono::milliseconds(10)).ok());
  EXPECT_TRUE(store->plan_backfill("users", {{std::nullopt, std::nullopt}}, 1).ok());
  auto claim = store->claim_backfill_range("users", "w", seconds(60), nullptr);
  ASSERT_TRUE(claim.ok() && claim->has_value()) << claim.status().to_string();
  EXPECT_TRUE(store->checkpoint_backfill("users", 0, "w", "k", {1, 1, 0, 0, 0, 0}, true, seconds(60)).ok());
  EXPECT_TRUE(store->add_shadow_mismatches("users", MismatchKind::kDifferent, 1).ok());
  EXPECT_TRUE(store->record_verify({0, "users", WallTime{}, 2, true, 1, 0, 0, 0, 0, 0.1}).ok());
  store.reset();
  if (GetParam() == Engine::kPostgres) {
    psql(in_db, fmt::format("DROP OWNED BY {0}; DROP ROLE IF EXISTS {0}", user));
  } else {
    mariadb_sql(mariadb_admin_url(), fmt::format("DROP USER IF EXISTS '{}'@'127.0.0.1'", user));
  }
}

// A control schema made before heartbeats recorded their lease and claims
// their time gains the columns when opened (the owner's account, which may
// ALTER its tables).
TEST_P(ControlStoreServer, AnOlderControlSchemaGainsTheNewColumns) {
  ControlDatabase db(GetParam());
  {
    auto owner = open_or_fail(db.url());
    ASSERT_NE(owner, nullptr);
    ASSERT_TRUE(owner->initialize("fp", 3).ok());
  }
  for (const std::string drop : {"ALTER TABLE tandem_instances DROP COLUMN lease_ms",
                                 "ALTER TABLE tandem_backfill_ranges DROP COLUMN claimed_at",
                                 "ALTER TABLE tandem_backfill_ranges DROP COLUMN claimed_scanned"}) {
    if (GetParam() == Engine::kPostgres) {
      psql(db.url(), drop);
    } else {
      mariadb_sql(db.url(), drop);
    }
  }
  auto store = open_or_fail(db.url());
  ASSERT_NE(store, nullptr);
  ASSERT_TRUE(store->heartbeat({"i-1", "h", 1, WallTime{}, WallTime{}, 1, 0, seconds(30)}).ok());
  auto listed = store->instances();
  ASSERT_TRUE(listed.ok()) << listed.status().to_string();
  ASSERT_EQ(listed->size(), 1u);
  EXPECT_EQ((*listed)[0].lease, seconds(30));
  ASSERT_TRUE(store->plan_backfill("users", {{std::nullopt, std::nullopt}}, 1).ok());
  auto claim = store->claim_backfill_range("users", "w", seconds(60), nullptr);
  ASSERT_TRUE(claim.ok() && claim->has_value()) << claim.status().to_string();
  auto ranges = store->backfill_ranges("users");
  ASSERT_TRUE(ranges.ok()) << ranges.status().to_string();
  EXPECT_EQ((*ranges)[0].claimed_at, (*claim)->claimed_at);
}

// A refresh's step read and its heartbeat are one statement on the servers:
// a move in progress (the step row locked for update) is waited for, so the
// refresh returns the step that move commits, never the one before it with a
// heartbeat that lands after the move (the instance would then route two
// moves behind). Without the shared lock the read returned version 1.
TEST_P(ControlStoreServer, ARefreshWaitsForAMoveInProgress) {
  ControlDatabase db(GetParam());
  auto store = open_or_fail(db.url());
  ASSERT_NE(store, nullptr);
  ASSERT_TRUE(store->initialize("fp", 3).ok());
  const std::string move =
      GetParam() == Engine::kPostgres
          ? "BEGIN; SELECT version FROM tandem_step_state WHERE id = 1 FOR UPDATE; SELECT pg_sleep(1.5); "
            "UPDATE tandem_step_state SET version = 2, step_index = 1 WHERE id = 1; COMMIT"
          : "BEGIN NOT ATOMIC START TRANSACTION; SELECT version INTO @v FROM tandem_step_state WHERE id = 1 "
            "FOR UPDATE; DO SLEEP(1.5); UPDATE tandem_step_state SET version = 2, step_index = 1 WHERE id = "
            "1; "
            "COMMIT; END";
  std::thread mover([&] {
    if (GetParam() == Engine::kPostgres) {
      psql(db.url(), move);
    } else {
      mariadb_sql(db.url(), move);
    }
  });
  std::this_thread::sleep_for(milliseconds(500));  // the mover holds the row
  auto start = std::chrono::steady_clock::now();
  auto read = store->heartbeat_and_read_step({"i-1", "h", 1, WallTime{}, WallTime{}, 1, 0, seconds(30)});
  auto took = std::chrono::steady_clock::now() - start;
  mover.join();
  ASSERT_TRUE(read.ok()) << read.status().to_string();
  EXPECT_EQ(read->version, 2);
  EXPECT_EQ(read->step_index, 1u);
  EXPECT_GT(took, milliseconds(300));
  auto listed = store->instances();
  ASSERT_TRUE(listed.ok());
  EXPECT_EQ(listed->size(), 1u);
}

INSTANTIATE_TEST_SUITE_P(Servers, ControlStoreServer, ::testing::Values(Engine::kPostgres, Engine::kMariaDb),
                         [](const ::testing::TestParamInfo<Engine>& info) {
                           return engine_name(info.param);
                         });

}  // namespace
}  // namespace tandem::testing
