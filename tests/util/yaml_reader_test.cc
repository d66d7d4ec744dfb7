#include "util/yaml_reader.h"

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/testing/status_matchers.h"

namespace rotor {
namespace {

using ::rotor::testing::IsOk;
using ::rotor::testing::StatusIs;
using ::testing::ElementsAre;
using ::testing::HasSubstr;

constexpr absl::StatusCode kInvalid = absl::StatusCode::kInvalidArgument;

TEST(YamlReaderTest, ReadsTypedValues) {
  const YAML::Node doc = YAML::Load(
      "name: web\nttl: 15m\ncount: 7\nrate: 2.5\nnames: [a, b]\n");
  const YamlReader r("test.yaml");
  std::string name;
  absl::Duration ttl;
  int64_t count = 0;
  double rate = 0;
  std::vector<std::string> names;
  EXPECT_OK(r.Map(doc, "",
                  {{"name", [&](const YAML::Node& n) { return r.NonEmptyString(n, "name", &name); }},
                   {"ttl", [&](const YAML::Node& n) { return r.PositiveDuration(n, "ttl", &ttl); }},
                   {"count", [&](const YAML::Node& n) { return r.Int(n, "count", &count); }},
                   {"rate", [&](const YAML::Node& n) { return r.Double(n, "rate", &rate); }},
                   {"names", [&](const YAML::Node& n) {
                      return r.StringList(n, "names", "[a, b]", &names);
                    }}}));
  EXPECT_EQ(name, "web");
  EXPECT_EQ(ttl, absl::Minutes(15));
  EXPECT_EQ(count, 7);
  EXPECT_EQ(rate, 2.5);
  EXPECT_THAT(names, ElementsAre("a", "b"));
}

TEST(YamlReaderTest, UnknownKeyNamesItsLineWhereAndTheKnownKeys) {
  const YAML::Node doc = YAML::Load("limits:\n  burst: 1\n  brust: 2\n");
  const YamlReader r("ca.yaml");
  int64_t burst = 0;
  const YamlReader::Handler limits = [&](const YAML::Node& n) {
    return r.Map(n, "limits",
                 {{"burst", [&](const YAML::Node& v) { return r.Int(v, "limits.burst", &burst); }},
                  {"rate", [&](const YAML::Node&) { return absl::OkStatus(); }}});
  };
  EXPECT_THAT(r.Map(doc, "", {{"limits", limits}}),
              StatusIs(kInvalid, "ca.yaml line 3: unknown key \"brust\" in "
                                 "limits; known keys: burst, rate"));
}

TEST(YamlReaderTest, AKeyGivenTwiceIsRefusedNamingBothLines) {
  const YamlReader r("agent.yaml");
  int calls = 0;
  const YamlReader::Handler count = [&](const YAML::Node&) {
    ++calls;
    return absl::OkStatus();
  };
  EXPECT_THAT(r.Map(YAML::Load("a: 1\nb: 2\na: 3\n"), "", {{"a", count}, {"b", count}}),
              StatusIs(kInvalid, "agent.yaml line 3: key \"a\" is given twice "
                                 "(first on line 1); keep one"));
  const YamlReader::Handler limits = [&](const YAML::Node& n) {
    return r.Map(n, "limits", {{"burst", count}});
  };
  EXPECT_THAT(r.Map(YAML::Load("limits:\n  burst: 1\n  burst: 2\n"), "",
                    {{"limits", limits}}),
              StatusIs(kInvalid, "agent.yaml line 3: key \"burst\" in limits is "
                                 "given twice (first on line 2); keep one"));
}

TEST(YamlReaderTest, RefusesBadValuesNamingLineAndKeyAndKeepsTheOldValue) {
  const YamlReader r("agent.yaml");
  absl::Duration ttl = absl::Hours(1);
  EXPECT_THAT(r.PositiveDuration(YAML::Load("0s"), "ttl", &ttl),
              StatusIs(kInvalid, "agent.yaml line 1: ttl: must be longer than 0s"));
  EXPECT_THAT(r.Duration(YAML::Load("soon"), "ttl", &ttl),
              StatusIs(kInvalid, HasSubstr("agent.yaml line 1: ttl: ")));
  EXPECT_EQ(ttl, absl::Hours(1));
  EXPECT_THAT(r.Duration(YAML::Load("0s"), "ttl", &ttl), IsOk());

  int64_t n = 5;
  EXPECT_THAT(r.Int(YAML::Load("-1"), "n", &n),
              StatusIs(kInvalid, "agent.yaml line 1: n: \"-1\" is not a whole number >= 0"));
  EXPECT_THAT(r.Int(YAML::Load("[1]"), "n", &n),
              StatusIs(kInvalid, "agent.yaml line 1: n: expected a single value"));
  EXPECT_EQ(n, 5);
  double d = 1;
  EXPECT_THAT(r.Double(YAML::Load("x"), "d", &d),
              StatusIs(kInvalid, "agent.yaml line 1: d: \"x\" is not a number >= 0"));
  std::string s = "kept";
  EXPECT_THAT(r.NonEmptyString(YAML::Load("\"\""), "s", &s),
              StatusIs(kInvalid, "agent.yaml line 1: s: must not be empty"));
  EXPECT_EQ(s, "kept");
}

TEST(YamlReaderTest, ListsRefuseScalarsAndEmptyItems) {
  const YamlReader r("x.yaml");
  std::vector<std::string> out;
  EXPECT_THAT(r.StringList(YAML::Load("a"), "dns", "[web.internal]", &out),
              StatusIs(kInvalid, "x.yaml line 1: dns: expected a list, e.g. [web.internal]"));
  EXPECT_THAT(r.StringList(YAML::Load("[a, \"\"]"), "dns", "[web.internal]", &out),
              StatusIs(kInvalid, "x.yaml line 1: dns: must not be empty"));
}

TEST(YamlReaderTest, RefusesANonMappingAndComplexKeys) {
  const YamlReader r("x.yaml");
  EXPECT_THAT(r.Map(YAML::Load("[1, 2]"), "", {}),
              StatusIs(kInvalid, "x.yaml line 1: config: expected a mapping of key: value"));
  EXPECT_THAT(r.Map(YAML::Load("? [a]\n: 1\n"), "store", {}),
              StatusIs(kInvalid, HasSubstr("store: keys must be plain names")));
}

}  // namespace
}  // namespace rotor
