#include "tandem/store.h"

#include <gtest/gtest.h>

namespace tandem {
namespace {

TEST(RedactUrl, HidesPasswordsInUserInfoAndParameters) {
  EXPECT_EQ(redact_url("postgres://app:s3cr@t@db:5432/x"), "postgres://app:***@db:5432/x");
  EXPECT_EQ(redact_url("postgres://app:hunter2@db/x?sslmode=require"),
            "postgres://app:***@db/x?sslmode=require");
  EXPECT_EQ(redact_url("mysql://db/x?user=a&password=hunter2&ssl=1"),
            "mysql://db/x?user=a&password=***&ssl=1");
  EXPECT_EQ(redact_url("host=db password=hunter2 dbname=x"), "host=db password=*** dbname=x");
  EXPECT_EQ(redact_url("sqlite:/var/lib/app.db"), "sqlite:/var/lib/app.db");
  EXPECT_EQ(redact_url("postgres://app@db/x"), "postgres://app@db/x");
}

}  // namespace
}  // namespace tandem
