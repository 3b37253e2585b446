// The spec peer checked against the documented protocol: it reproduces every
// byte vector of docs/wire.md §8, docs/codecs.md and docs/shm.md B.2, selects
// profiles by the rule, chunks like the docs/wire.md §4.2 example, and its
// client and server agree over UDS and over SHM. Agreeing with it then means
// agreeing with the documented protocol.
// See docs/interop.md.
#include <gtest/gtest.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdio>
#include <string>
#include <thread>
#include <vector>

#include "interop_test_util.h"

namespace netipc {
namespace {

using namespace interop;  // NOLINT(google-build-using-namespace): test helpers

TEST(SpecPeerSelfCheck, EncodersReproduceSpecVectors) {
  sp::Hello h;
  h.supported = 0x03;
  h.preferred = 0x02;
  h.max_response_payload = 65536;
  h.auth_token = 0x1122334455667788ull;
  h.packet_size = 212992;
  EXPECT_EQ(sp::to_hex(sp::hello_packet(h)),
            sp::to_hex(sp::from_hex(
                "4350494e 01002000 03000000 01000000 2c000000 01000000 00000000 00000000"
                "01000000 03000000 02000000 00040000 01000000 00000100 01000000 00000000"
                "88776655 44332211 00400300")));
  sp::Policy policy;
  policy.supported = 0x03;
  policy.preferred = 0x02;
  policy.packet_size = 212992;
  policy.auth_token = h.auth_token;
  sp::HelloAck ack;
  ASSERT_EQ(sp::negotiate(policy, h, 1, &ack), sp::kStatusOk);
  EXPECT_EQ(sp::to_hex(sp::ack_packet(ack, sp::kStatusOk)),
            sp::to_hex(sp::from_hex(
                "4350494e 01002000 03000000 02000000 30000000 01000000 00000000 00000000"
                "01000000 03000000 03000000 02000000 00040000 01000000 00000100 01000000"
                "00400300 00000000 01000000 00000000")));
  sp::Bytes reject = sp::ack_packet(sp::rejection_ack(), sp::kStatusAuthFailed);
  EXPECT_EQ(sp::rd32(reject.data() + 12), 0x00020002u);
  EXPECT_EQ(sp::to_hex(sp::Bytes(reject.begin() + 32, reject.end())), sp::to_hex([] {
              sp::Bytes b(48, 0);
              b[0] = 1;
              return b;
            }()));
  EXPECT_EQ(
      sp::to_hex(sp::make_batch({sp::u64_payload(1), sp::u64_payload(2), sp::u64_payload(3)})),
      sp::to_hex(sp::from_hex("00000000 08000000 08000000 08000000 10000000 08000000"
                              "01000000 00000000 02000000 00000000 03000000 00000000")));
  EXPECT_EQ(sp::to_hex(sp::make_batch({{'a', 'b', 'c'}, {'d', 'e'}})),
            sp::to_hex(sp::from_hex("00000000 03000000 08000000 02000000 61626300 00000000"
                                    "64650000 00000000")));
  EXPECT_EQ(sp::to_hex(sp::reverse_payload("hello")),
            sp::to_hex(sp::from_hex("08000000 05000000 68656c6c 6f00")));
  sp::Snapshot s = sample_snapshot();
  s.items.pop_back();
  EXPECT_EQ(sp::to_hex(sp::snapshot_payload(s)), sp::to_hex(sp::from_hex(kSnapshotVector)));
  sp::Snapshot back;
  ASSERT_EQ(sp::read_snapshot(sp::from_hex(kSnapshotVector), &back), "");
  EXPECT_TRUE(back.items == s.items);
  EXPECT_EQ(sp::to_hex(sp::snapshot_payload(sp::Snapshot{0, 42, {}})),
            sp::to_hex(sp::from_hex("01000000 00000000 00000000 00000000 2a000000 00000000")));
}

TEST(SpecPeerSelfCheck, NegotiationFollowsTheSelectionRule) {
  auto select = [](uint32_t cs, uint32_t cp, uint32_t ss, uint32_t spref) {
    sp::Policy p;
    p.supported = ss;
    p.preferred = spref;
    sp::Hello h;
    h.supported = cs;
    h.preferred = cp;
    h.packet_size = 4096;
    sp::HelloAck a;
    return sp::negotiate(p, h, 1, &a) == sp::kStatusOk ? a.selected : 0;
  };
  EXPECT_EQ(select(0x03, 0x02, 0x03, 0x00), 0x02u);
  EXPECT_EQ(select(0x03, 0x01, 0x03, 0x01), 0x01u);
  EXPECT_EQ(select(0x07, 0x00, 0x07, 0x00), 0x04u);
  EXPECT_EQ(select(0x03, 0x03, 0x03, 0x03), 0x02u);
}

TEST(SpecPeerSelfCheck, LinkChunksLikeTheWireSpecExample) {
  int sv[2];
  ASSERT_EQ(::socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv), 0);
  sp::UdsLink a(sv[0]);
  sp::UdsLink b(sv[1]);
  a.set_packet_size(256);
  b.set_packet_size(256);
  sp::Header h;
  h.kind = sp::kKindRequest;
  h.code = sp::kMethodStringReverse;
  h.message_id = 7;
  sp::Bytes payload(1000);
  for (size_t i = 0; i < payload.size(); ++i)
    payload[i] = static_cast<uint8_t>(i * 7);
  ASSERT_EQ(a.send(h, payload), "");  // P = 256, L = 1000 (docs/wire.md §4.2 example)
  std::vector<size_t> sizes;
  sp::Bytes second;
  for (int k = 0; k < 5; ++k) {
    sp::Bytes pkt;
    ASSERT_EQ(b.receive_packet(&pkt, 1000), "");
    sizes.push_back(pkt.size());
    if (k == 1) second.assign(pkt.begin(), pkt.begin() + 32);
  }
  EXPECT_EQ(sizes, (std::vector<size_t>{256, 256, 256, 256, 136}));
  EXPECT_EQ(sp::to_hex(second),
            sp::to_hex(sp::from_hex("4b48434e 01000000 07000000 00000000 08040000 01000000"
                                    "05000000 e0000000")));
  for (size_t len : {0, 223, 224, 225, 1000, 10000}) {
    SCOPED_TRACE(len);
    ASSERT_EQ(a.send(h, sp::Bytes(len, 0x5A)), "");
    sp::Message m;
    ASSERT_EQ(b.receive(&m, 1000), "");
    EXPECT_EQ(m.payload, sp::Bytes(len, 0x5A));
    EXPECT_EQ(b.last_packet_sizes().size(), len <= 224 ? 1u : 1 + (len - 224 + 223) / 224);
  }
}

TEST(SpecPeerSelfCheck, SpecClientAndSpecServerAgree) {
  TempDir dir;
  const std::string service = test::unique_service("self");
  sp::ServerConfig config;
  config.policy.max_request_payload = 16000;
  config.policy.packet_size = 256;
  config.snapshot = sample_snapshot();
  std::string problem;
  auto server = sp::SpecServer::start(dir.path(), service, config, &problem);
  ASSERT_NE(server, nullptr) << problem;
  auto c = sp::SpecClient::connect(dir.path(), service, &problem);
  ASSERT_NE(c, nullptr) << problem;
  sp::Hello h = c->default_hello();
  h.max_request_payload = 16000;
  h.max_request_items = h.max_response_items = 1000;
  ASSERT_EQ(c->handshake(h), "");
  uint64_t v = 0;
  ASSERT_EQ(c->increment(1, &v), "");
  EXPECT_EQ(v, 2u);
  std::vector<uint64_t> got;
  ASSERT_EQ(c->increment_batch(iota_values(625, 1), &got), "");
  EXPECT_EQ(got[624], 1 + 624 * 3 + 1u);
  std::string text(10000, 'x');
  for (size_t i = 0; i < text.size(); ++i)
    text[i] = static_cast<char>('a' + i % 26);
  std::string reversed;
  ASSERT_EQ(c->reverse(text, &reversed), "");
  EXPECT_EQ(reversed, std::string(text.rbegin(), text.rend()));
  sp::Snapshot snap;
  ASSERT_EQ(c->snapshot(&snap), "");
  EXPECT_TRUE(snap.items == sample_snapshot().items);
  EXPECT_TRUE(server->log().violations.empty());
}

// docs/transport.md A.4 rule 3: with the raw SO_SNDBUF that upstream advertises on both
// ends, a message that needs chunking cannot be sent at all. This is why the
// project advertises SO_SNDBUF - 32.
TEST(SpecPeerSelfCheck, RawSndbufPacketSizeCannotCarryLargeMessages) {
  int sv[2];
  ASSERT_EQ(::socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv), 0);
  sp::UdsLink a(sv[0]);
  sp::UdsLink b(sv[1]);
  ASSERT_EQ(a.sndbuf(), default_sndbuf());
  sp::Header h;
  h.kind = sp::kKindRequest;
  h.code = sp::kMethodIncrement;
  h.message_id = 1;
  a.set_packet_size(a.sndbuf());
  const std::string raw = a.send(h, sp::Bytes(300000, 1));
  EXPECT_NE(raw.find("Message too long"), std::string::npos) << raw;
  a.set_packet_size(a.sndbuf() - 32);
  b.set_packet_size(a.sndbuf() - 32);
  std::thread sender([&] { EXPECT_EQ(a.send(h, sp::Bytes(300000, 1)), ""); });
  sp::Message m;
  EXPECT_EQ(b.receive(&m, 10000), "");
  sender.join();
  EXPECT_EQ(m.payload.size(), 300000u);
}

// ---- SHM (docs/shm.md) ----

TEST(SpecPeerSelfCheck, ShmNamesLayoutAndHeaderReproduceTheSpecExample) {
  EXPECT_EQ(sp::shm_region_name("cgroups-snapshot", 1), "cgroups-snapshot-0000000000000001.ipcshm");
  EXPECT_EQ(sp::shm_region_name("s", 0xABCDEF), "s-0000000000abcdef.ipcshm");
  const sp::ShmLayout l = sp::shm_layout(32 + 1024, 32 + 65536);  // B.2 example
  EXPECT_EQ(l.request_offset, 64u);
  EXPECT_EQ(l.request_capacity, 1088u);
  EXPECT_EQ(l.response_offset, 1152u);
  EXPECT_EQ(l.response_capacity, 65600u);
  EXPECT_EQ(l.file_size, 66752u);
  EXPECT_EQ(sp::to_hex(sp::shm_header_bytes(l, 1234, 0x01020304)),
            sp::to_hex(sp::from_hex("4d48534e 03004000 d2040000 04030201 40000000 40040000"
                                    "80040000 40000100 00000000 00000000 00000000 00000000"
                                    "00000000 00000000 00000000 00000000")));
  const sp::ShmLayout odd = sp::shm_layout(1, 65);  // capacities rounded up to 64
  EXPECT_EQ(odd.request_capacity, 64u);
  EXPECT_EQ(odd.response_offset, 128u);
  EXPECT_EQ(odd.response_capacity, 128u);
}

TEST(SpecPeerSelfCheck, ShmRegionIsCreatedBySpecAndUnlinkedOnlyByItsOwner) {
  TempDir dir;
  const sp::ShmLayout l = sp::shm_layout(32 + 1024, 32 + 65536);
  const std::string name = sp::shm_region_name("svc", 7);
  std::string problem;
  auto owner = sp::ShmRegion::create(dir.path(), name, l, &problem);
  ASSERT_NE(owner, nullptr) << problem;
  EXPECT_EQ(owner->file_mode() & 07777, 0600u);
  EXPECT_EQ(owner->file_size(), l.file_size);
  const uint32_t generation = sp::rd32(owner->initial_header().data() + 12);
  EXPECT_NE(generation, 0u);
  EXPECT_EQ(sp::to_hex(owner->initial_header()),
            sp::to_hex(sp::shm_header_bytes(l, ::getpid(), generation)));
  auto again = sp::ShmRegion::create(dir.path(), name, l, &problem);
  EXPECT_EQ(again, nullptr);  // O_EXCL
  {
    auto client = sp::ShmRegion::attach(dir.path(), name, 0, &problem);
    ASSERT_NE(client, nullptr) << problem;
    EXPECT_FALSE(client->owner());
    EXPECT_EQ(client->initial_header(), owner->initial_header());
    EXPECT_EQ(client->layout().response_capacity, 65600u);
  }
  struct stat st;
  EXPECT_EQ(::stat(dir.file(name).c_str(), &st), 0);  // an attacher never unlinks
  owner.reset();
  EXPECT_NE(::stat(dir.file(name).c_str(), &st), 0);
}

TEST(SpecPeerSelfCheck, ShmAttachRejectsWhatTheSpecRejects) {
  TempDir dir;
  const sp::ShmLayout l = sp::shm_layout(64, 64);
  auto attach_problem = [&](const sp::Bytes& file) {
    const std::string path = dir.file("svc-0000000000000001.ipcshm");
    ::unlink(path.c_str());
    FILE* f = std::fopen(path.c_str(), "wb");
    std::fwrite(file.data(), 1, file.size(), f);
    std::fclose(f);
    std::string problem;
    auto r = sp::ShmRegion::attach(dir.path(), "svc-0000000000000001.ipcshm", 0, &problem);
    return r == nullptr ? problem.substr(0, problem.find(':')) : std::string("attached");
  };
  sp::Bytes good = sp::shm_header_bytes(l, 1, 1);
  good.resize(l.file_size, 0);
  EXPECT_EQ(attach_problem(good), "attached");
  EXPECT_EQ(attach_problem(sp::Bytes(good.begin(), good.begin() + 63)), "NOT_READY");
  sp::Bytes b = good;
  b[0] ^= 1;
  EXPECT_EQ(attach_problem(b), "BAD_MAGIC");
  b = good;
  sp::wr16(b.data() + sp::kShmOffVersion, 2);
  EXPECT_EQ(attach_problem(b), "BAD_VERSION");
  b = good;
  sp::wr16(b.data() + sp::kShmOffHeaderLen, 32);
  EXPECT_EQ(attach_problem(b), "BAD_HEADER");
  b = good;
  sp::wr32(b.data() + sp::kShmOffResponseCapacity, 0);
  EXPECT_EQ(attach_problem(b), "NOT_READY");
  EXPECT_EQ(attach_problem(sp::Bytes(good.begin(), good.end() - 64)), "BAD_SIZE");
  b = good;
  sp::wr32(b.data() + sp::kShmOffResponseOffset, 96);
  EXPECT_EQ(attach_problem(b), "BAD_SIZE");
  std::string problem;
  EXPECT_EQ(sp::ShmRegion::attach(dir.path(), "missing.ipcshm", 20, &problem), nullptr);
  EXPECT_EQ(problem.rfind("OPEN", 0), 0u) << problem;
}

TEST(SpecPeerSelfCheck, ShmLinksCarryMessagesUpToTheCapacityAndNoMore) {
  TempDir dir;
  std::string problem;
  auto region = sp::ShmRegion::create(dir.path(), "svc-0000000000000001.ipcshm",
                                      sp::shm_layout(256, 512), &problem);
  ASSERT_NE(region, nullptr) << problem;
  sp::ShmLink client(region.get(), sp::ShmLink::Side::kClient);
  sp::ShmLink server(region.get(), sp::ShmLink::Side::kServer);
  sp::Message m;
  EXPECT_EQ(server.receive(&m, 50), sp::kTimedOut);  // nothing consumed
  sp::Header h;
  h.kind = sp::kKindRequest;
  h.code = sp::kMethodIncrement;
  for (uint64_t id = 1; id <= 3; ++id) {
    h.message_id = id;
    ASSERT_EQ(client.send(h, sp::Bytes(256 - 32, static_cast<uint8_t>(id))), "");
    EXPECT_NE(client.send(h, sp::Bytes(8, 0)), "");  // B.8: one in flight
    ASSERT_EQ(server.receive(&m, 1000), "");
    EXPECT_EQ(m.header.message_id, id);
    EXPECT_EQ(m.payload, sp::Bytes(224, static_cast<uint8_t>(id)));
    sp::Header r = m.header;
    r.kind = sp::kKindResponse;
    EXPECT_EQ(server.send(r, sp::Bytes(512 - 32 + 1, 0)), "SHM publish: MSG_TOO_LARGE");
    ASSERT_EQ(server.send(r, sp::Bytes(512 - 32, 0xEE)), "");
    ASSERT_EQ(client.receive(&m, 1000), "");
    EXPECT_EQ(m.payload.size(), 480u);
  }
  EXPECT_EQ(region->load64(sp::kShmOffReqSeq), 3u);  // B.8
  EXPECT_EQ(region->load64(sp::kShmOffRespSeq), 3u);
  EXPECT_EQ(region->load32(sp::kShmOffReqSignal), 3u);
  EXPECT_EQ(client.send(h, sp::Bytes(256 - 32 + 1, 0)), "SHM publish: MSG_TOO_LARGE");
  // Forged lengths (B.7 step 4) are consumed and rejected.
  ASSERT_EQ(client.send(h, sp::Bytes(8, 0)), "");
  __atomic_store_n(reinterpret_cast<uint32_t*>(region->base() + sp::kShmOffReqLen), 0u,
                   __ATOMIC_RELEASE);
  EXPECT_NE(server.receive(&m, 1000), "");
  EXPECT_EQ(server.consumed(), 4u);
}

class SpecShmSelfCheck : public ::testing::TestWithParam<uint32_t> {};

TEST_P(SpecShmSelfCheck, SpecClientAndSpecServerAgreeOverShm) {
  const uint32_t shm = GetParam();
  TempDir dir;
  const std::string service = test::unique_service("selfshm");
  sp::ServerConfig config;
  config.policy.supported = sp::kProfileUds | shm;
  config.policy.max_request_payload = 16000;
  config.snapshot = sample_snapshot();
  std::string problem;
  auto server = sp::SpecServer::start(dir.path(), service, config, &problem);
  ASSERT_NE(server, nullptr) << problem;
  auto c = sp::SpecClient::connect(dir.path(), service, &problem);
  ASSERT_NE(c, nullptr) << problem;
  sp::Hello h = c->default_hello();
  h.supported = sp::kProfileUds | shm;
  h.max_request_payload = 16000;
  h.max_request_items = h.max_response_items = 1000;
  sp::HelloAck ack;
  ASSERT_EQ(c->handshake(h, &ack), "");
  EXPECT_EQ(ack.selected, shm);
  ASSERT_NE(c->shm_link(), nullptr);
  uint64_t v = 0;
  ASSERT_EQ(c->increment(41, &v), "");
  EXPECT_EQ(v, 42u);
  std::vector<uint64_t> got;
  ASSERT_EQ(c->increment_batch(iota_values(1000, 1), &got), "");
  EXPECT_EQ(got[999], 1 + 999 * 3 + 1u);
  std::string reversed;
  ASSERT_EQ(c->reverse("hello", &reversed), "");
  EXPECT_EQ(reversed, "olleh");
  sp::Snapshot snap;
  ASSERT_EQ(c->snapshot(&snap), "");
  EXPECT_TRUE(snap.items == sample_snapshot().items);
  EXPECT_EQ(c->shm_region()->load64(sp::kShmOffReqSeq), 4u);
  EXPECT_EQ(c->shm_region()->load64(sp::kShmOffRespSeq), 4u);
  EXPECT_EQ(c->link().last_packet_sizes().size(), 0u);  // nothing went over the socket
  const std::string region = c->shm_region()->path();
  c.reset();  // the server notices the hang-up and unlinks (B.10, B.11)
  struct stat st;
  EXPECT_TRUE(test::wait_until([&] { return ::stat(region.c_str(), &st) != 0; }));
  const auto log = server->log();
  EXPECT_TRUE(log.violations.empty());
  EXPECT_EQ(log.region_headers.size(), 1u);
}

INSTANTIATE_TEST_SUITE_P(Interop, SpecShmSelfCheck,
                         ::testing::Values(sp::kProfileShmHybrid, sp::kProfileShmFutex),
                         [](const ::testing::TestParamInfo<uint32_t>& p) {
                           return p.param == sp::kProfileShmHybrid ? "ShmHybrid" : "ShmFutex";
                         });

}  // namespace
}  // namespace netipc
