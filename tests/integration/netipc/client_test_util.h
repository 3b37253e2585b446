// The fixture shared by the blocking Level-2 client tests (client_*_test.cc):
// a private run directory and service name, INCREMENT client configs, and
// scripted servers (client_test_server.h) on that endpoint. Header-only;
// every test file includes it once.
#pragma once

#include <gtest/gtest.h>

#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "client_test_server.h"
#include "netipc/client.h"
#include "test_support.h"

namespace netipc::test {

inline constexpr uint16_t kInc = static_cast<uint16_t>(wire::Method::kIncrement);

inline std::vector<uint8_t> u64_bytes(uint64_t v) {
  std::vector<uint8_t> b(8);
  store_u64(b.data(), v);
  return b;
}

class ClientTest : public ::testing::Test {
 protected:
  ClientConfig config(uint64_t token = 0) const {
    ClientConfig c;
    c.run_dir = dir_.path();
    c.service = service_;
    c.method = kInc;
    c.auth_token = token;
    return c;
  }
  Client make(const ClientConfig& c) {
    auto r = Client::create(c);
    EXPECT_TRUE(r.ok()) << r.error().message();
    return std::move(*r);
  }
  std::unique_ptr<TestServer> serve(ServerPolicy p = basic_policy(),
                                    TestServer::Handler h = nullptr,
                                    TestServer::PolicyHook hook = nullptr) {
    auto s = std::make_unique<TestServer>(dir_.path(), service_, p, std::move(h), std::move(hook));
    EXPECT_TRUE(s->ok()) << s->error();
    return s;
  }
  // One INCREMENT call: v + 1, or 0 on failure (*err says why).
  static uint64_t increment(Client& c, uint64_t v, Errc* err = nullptr) {
    auto b = u64_bytes(v);
    auto r = c.call(ByteSpan(b));
    if (err != nullptr) *err = r.code();
    if (!r.ok() || r->payload.size != 8) return 0;
    return load_u64(r->payload.data);
  }

  TempDir dir_;
  std::string service_ = unique_service("cl");
};

}  // namespace netipc::test
