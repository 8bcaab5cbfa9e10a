#include "tandem/plan.h"

#include <gtest/gtest.h>

namespace tandem {
namespace {

TEST(Plan, DefaultPlanIsTheBriefsSevenSteps) {
  Plan p = Plan::default_plan();
  ASSERT_TRUE(p.validate().ok());
  ASSERT_EQ(p.size(), 7u);
  std::vector<std::string> roles;
  for (const Step& s : p.steps) roles.push_back(s.name + " " + s.roles_display());
  EXPECT_EQ(roles, (std::vector<std::string>{
                       "old-only RP=old RS=- WP=old WS=-",
                       "dual-write RP=old RS=- WP=old WS=new",
                       "shadow-read RP=old RS=new(shadow) WP=old WS=new",
                       "read-new RP=new RS=old(fallback) WP=old WS=new",
                       "write-new RP=new RS=old(fallback) WP=new WS=old",
                       "old-read-only RP=new RS=old(fallback) WP=new WS=-",
                       "new-only RP=new RS=- WP=new WS=-",
                   }));
}

TEST(Plan, ValidationNamesTheBadStep) {
  Plan p = Plan::default_plan();
  p.steps[2].write_secondary = Side::kOld;
  Status s = p.validate();
  EXPECT_EQ(s.code(), Code::kConfig);
  EXPECT_NE(s.message().find("plan step 3 ('shadow-read')"), std::string::npos) << s.message();
  EXPECT_NE(s.message().find("write_secondary"), std::string::npos) << s.message();

  p = Plan::default_plan();
  p.steps[1].name = "old-only";
  EXPECT_NE(p.validate().message().find("plan step 2"), std::string::npos);

  p = Plan::default_plan();
  p.steps[0].write_secondary = Side::kNew;
  EXPECT_NE(p.validate().message().find("first step must read and write only old"), std::string::npos);

  p = Plan::default_plan();
  p.steps.pop_back();
  EXPECT_NE(p.validate().message().find("last step must read and write only new"), std::string::npos);

  EXPECT_FALSE(Plan{}.validate().ok());
}

}  // namespace
}  // namespace tandem
