// GoogleTest matchers for absl::Status and absl::StatusOr, which Debian's
// Abseil does not ship:
//   EXPECT_THAT(status, IsOk());
//   EXPECT_THAT(result, StatusIs(absl::StatusCode::kInvalidArgument,
//                                HasSubstr("signature")));
//   ASSERT_OK_AND_ASSIGN(Certificate cert, Certificate::FromDer(der));
#ifndef ROTOR_TESTS_TESTING_STATUS_MATCHERS_H_
#define ROTOR_TESTS_TESTING_STATUS_MATCHERS_H_

#include <ostream>
#include <string>
#include <utility>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace rotor::testing {

inline const absl::Status& GetStatus(const absl::Status& status) {
  return status;
}
template <typename T>
const absl::Status& GetStatus(const absl::StatusOr<T>& status_or) {
  return status_or.status();
}

MATCHER(IsOk, negation ? "is not OK" : "is OK") {
  const absl::Status& status = GetStatus(arg);
  if (!status.ok()) *result_listener << "status is " << status;
  return status.ok();
}

MATCHER_P2(StatusIs, code, message_matcher,
           absl::StrCat(negation ? "does not have" : "has", " code ",
                        absl::StatusCodeToString(code),
                        " and a message that ",
                        ::testing::DescribeMatcher<std::string>(
                            message_matcher, negation))) {
  const absl::Status& status = GetStatus(arg);
  *result_listener << "status is " << status;
  return status.code() == code &&
         ::testing::Matches(message_matcher)(std::string(status.message()));
}

}  // namespace rotor::testing

#define ROTOR_TESTING_CONCAT_INNER_(a, b) a##b
#define ROTOR_TESTING_CONCAT_(a, b) ROTOR_TESTING_CONCAT_INNER_(a, b)

// Asserts that a StatusOr is OK and moves its value into `lhs`.
#define ASSERT_OK_AND_ASSIGN(lhs, expr) \
  ASSERT_OK_AND_ASSIGN_IMPL_(           \
      ROTOR_TESTING_CONCAT_(rotor_statusor_, __LINE__), lhs, expr)
#define ASSERT_OK_AND_ASSIGN_IMPL_(statusor, lhs, expr)         \
  auto statusor = (expr);                                       \
  ASSERT_TRUE(statusor.ok()) << "status is " << statusor.status(); \
  lhs = *std::move(statusor)

#define ASSERT_OK(expr) ASSERT_THAT((expr), ::rotor::testing::IsOk())
#define EXPECT_OK(expr) EXPECT_THAT((expr), ::rotor::testing::IsOk())

#endif  // ROTOR_TESTS_TESTING_STATUS_MATCHERS_H_
