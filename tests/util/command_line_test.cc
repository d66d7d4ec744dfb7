#include "util/command_line.h"

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/testing/status_matchers.h"

namespace rotor {
namespace {

using ::rotor::testing::StatusIs;
using ::testing::ElementsAre;
using ::testing::HasSubstr;

struct Flags {
  std::string dir;
  std::vector<std::string> dns;
  bool json = false;
  absl::Duration ttl = absl::Hours(1);
  int64_t limit = 0;
};

FlagSet MakeFlags(Flags* f) {
  FlagSet set("rotorctl entry create", "--dir DIR", "Creates an entry.");
  set.AddString("dir", &f->dir, "a folder", "DIR");
  set.AddStringList("dns", &f->dns, "a DNS name", "NAME");
  set.AddBool("json", &f->json, "JSON output");
  set.AddDuration("ttl", &f->ttl, "lifetime");
  set.AddInt("limit", &f->limit, "how many");
  set.Require("dir");
  return set;
}

TEST(CommandLineTest, ParsesEveryForm) {
  Flags f;
  FlagSet set = MakeFlags(&f);
  ASSERT_OK_AND_ASSIGN(
      std::vector<std::string> rest,
      set.Parse({"pos1", "--dir", "/x", "--dns=a", "--dns", "b", "--json",
                 "--ttl=90s", "--limit", "7", "--", "--not-a-flag"}));
  EXPECT_EQ(f.dir, "/x");
  EXPECT_THAT(f.dns, ElementsAre("a", "b"));
  EXPECT_TRUE(f.json);
  EXPECT_EQ(f.ttl, absl::Seconds(90));
  EXPECT_EQ(f.limit, 7);
  EXPECT_THAT(rest, ElementsAre("pos1", "--not-a-flag"));
}

TEST(CommandLineTest, UnknownFlagNamesCommandAndHelp) {
  Flags f;
  FlagSet set = MakeFlags(&f);
  EXPECT_THAT(set.Parse({"--dir", "x", "--colour"}),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("rotorctl entry create: unknown flag "
                                 "--colour; see 'rotorctl entry create "
                                 "--help'")));
}

TEST(CommandLineTest, MissingRequiredFlag) {
  Flags f;
  FlagSet set = MakeFlags(&f);
  EXPECT_THAT(set.Parse({"--json"}),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("missing required flag --dir DIR")));
}

TEST(CommandLineTest, MissingValueAndBadValues) {
  Flags f;
  FlagSet set = MakeFlags(&f);
  EXPECT_THAT(set.Parse({"--dir"}),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("flag --dir needs a value")));
  Flags g;
  FlagSet set2 = MakeFlags(&g);
  EXPECT_THAT(set2.Parse({"--dir", "x", "--ttl", "soon"}),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("bad value for --ttl: \"soon\" is not a "
                                 "duration")));
  Flags h;
  FlagSet set3 = MakeFlags(&h);
  EXPECT_THAT(set3.Parse({"--dir", "x", "--limit", "many"}),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("\"many\" is not a whole number")));
}

TEST(CommandLineTest, RepeatedSingleFlagIsRefused) {
  Flags f;
  FlagSet set = MakeFlags(&f);
  EXPECT_THAT(set.Parse({"--dir", "a", "--dir", "b"}),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("--dir is given more than once")));
}

TEST(CommandLineTest, HelpSkipsRequiredAndListsFlags) {
  Flags f;
  FlagSet set = MakeFlags(&f);
  ASSERT_OK(set.Parse({"--help"}));
  EXPECT_TRUE(set.help_requested());
  std::string help = set.Help();
  EXPECT_THAT(help, HasSubstr("usage: rotorctl entry create --dir DIR"));
  EXPECT_THAT(help, HasSubstr("--dir DIR"));
  EXPECT_THAT(help, HasSubstr("(required)"));
  EXPECT_THAT(help, HasSubstr("(default 1h)"));
  EXPECT_THAT(help, HasSubstr("(repeatable)"));
}

TEST(CommandLineTest, ParsesDurations) {
  EXPECT_EQ(*ParseDurationFlag("90s"), absl::Seconds(90));
  EXPECT_EQ(*ParseDurationFlag("15m"), absl::Minutes(15));
  EXPECT_EQ(*ParseDurationFlag("24h"), absl::Hours(24));
  EXPECT_EQ(*ParseDurationFlag("1h30m"), absl::Minutes(90));
  EXPECT_EQ(*ParseDurationFlag("7d"), absl::Hours(24 * 7));
  EXPECT_THAT(ParseDurationFlag("-5s"),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("negative")));
  EXPECT_THAT(ParseDurationFlag("5"),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("write it like 90s, 15m, 24h")));
  EXPECT_THAT(ParseDurationFlag("inf"),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("not a duration")));
}

}  // namespace
}  // namespace rotor
