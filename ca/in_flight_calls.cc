#include "ca/in_flight_calls.h"

namespace rotor::ca {

// Made when gRPC hands a call to the server, destroyed with the call: the
// count is the number alive. It passes every step of the call on unchanged.
class InFlightCalls::Counted final : public grpc::experimental::Interceptor {
 public:
  explicit Counted(InFlightCalls* calls) : calls_(calls) { calls_->Add(1); }
  ~Counted() override { calls_->Add(-1); }

  void Intercept(grpc::experimental::InterceptorBatchMethods* methods) override {
    methods->Proceed();
  }

 private:
  InFlightCalls* const calls_;
};

class InFlightCalls::CountingFactory final
    : public grpc::experimental::ServerInterceptorFactoryInterface {
 public:
  explicit CountingFactory(InFlightCalls* calls) : calls_(calls) {}

  grpc::experimental::Interceptor* CreateServerInterceptor(
      grpc::experimental::ServerRpcInfo*) override {
    return new Counted(calls_);  // gRPC owns it from here
  }

 private:
  InFlightCalls* const calls_;
};

std::unique_ptr<grpc::experimental::ServerInterceptorFactoryInterface>
InFlightCalls::Factory() {
  return std::make_unique<CountingFactory>(this);
}

void InFlightCalls::Add(int64_t delta) {
  absl::MutexLock lock(&mu_);
  count_ += delta;
}

int64_t InFlightCalls::count() const {
  absl::MutexLock lock(&mu_);
  return count_;
}

bool InFlightCalls::AwaitNone(absl::Duration timeout) const {
  auto none = [](const int64_t* count) { return *count == 0; };
  absl::MutexLock lock(&mu_);
  return mu_.AwaitWithTimeout(absl::Condition(+none, &count_), timeout);
}

}  // namespace rotor::ca
