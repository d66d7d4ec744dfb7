#include "util/sd_notify.h"

#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <cstdlib>
#include <cstring>
#include <string>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/testing/status_matchers.h"
#include "tests/testing/temp_dir.h"

namespace rotor {
namespace {

using ::rotor::testing::StatusIs;
using ::rotor::testing::TempDir;
using ::testing::HasSubstr;

// A datagram socket standing in for systemd's; `name` as NOTIFY_SOCKET
// spells it.
class NotifySocket {
 public:
  explicit NotifySocket(const std::string& name) {
    fd_ = ::socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    sockaddr_un address{};
    address.sun_family = AF_UNIX;
    std::memcpy(address.sun_path, name.data(), name.size());
    socklen_t length = offsetof(sockaddr_un, sun_path) + name.size();
    if (name[0] == '@') {
      address.sun_path[0] = '\0';
    } else {
      ++length;
    }
    EXPECT_EQ(::bind(fd_, reinterpret_cast<sockaddr*>(&address), length), 0)
        << std::strerror(errno);
    setenv("NOTIFY_SOCKET", name.c_str(), 1);
  }
  ~NotifySocket() {
    unsetenv("NOTIFY_SOCKET");
    ::close(fd_);
  }

  std::string Receive() {
    char buffer[256];
    const ssize_t n = ::recv(fd_, buffer, sizeof(buffer), MSG_DONTWAIT);
    return n < 0 ? "" : std::string(buffer, n);
  }

 private:
  int fd_ = -1;
};

TEST(SdNotifyTest, SendsTheStateToASocketPath) {
  TempDir tmp;
  NotifySocket socket(tmp.Path("notify.sock"));
  ASSERT_OK(SdNotify("READY=1"));
  EXPECT_EQ(socket.Receive(), "READY=1");
  ASSERT_OK(SdNotify("STOPPING=1"));
  EXPECT_EQ(socket.Receive(), "STOPPING=1");
}

TEST(SdNotifyTest, SendsToAnAbstractSocket) {
  NotifySocket socket(absl::StrCat("@rotor-sd-notify-test-", getpid()));
  ASSERT_OK(SdNotify("READY=1"));
  EXPECT_EQ(socket.Receive(), "READY=1");
}

TEST(SdNotifyTest, DoesNothingOutsideSystemd) {
  unsetenv("NOTIFY_SOCKET");
  EXPECT_OK(SdNotify("READY=1"));
  setenv("NOTIFY_SOCKET", "", 1);
  EXPECT_OK(SdNotify("READY=1"));
  unsetenv("NOTIFY_SOCKET");
}

TEST(SdNotifyTest, RefusesARelativeSocketName) {
  setenv("NOTIFY_SOCKET", "notify.sock", 1);
  EXPECT_THAT(SdNotify("READY=1"),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("NOTIFY_SOCKET=notify.sock is neither an "
                                 "absolute socket path")));
  unsetenv("NOTIFY_SOCKET");
}

TEST(SdNotifyTest, ReportsASocketNobodyListensOn) {
  TempDir tmp;
  setenv("NOTIFY_SOCKET", tmp.Path("gone.sock").c_str(), 1);
  EXPECT_THAT(SdNotify("READY=1"),
              StatusIs(absl::StatusCode::kNotFound,
                       HasSubstr("cannot notify systemd at")));
  unsetenv("NOTIFY_SOCKET");
}

}  // namespace
}  // namespace rotor
