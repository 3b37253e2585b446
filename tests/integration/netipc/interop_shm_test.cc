// Interoperability over the Linux SHM data plane (docs/shm.md), both
// directions, for SHM_HYBRID (offered 0x01|0x02) and SHM_FUTEX (offered
// 0x01|0x04):
//   - the spec client attaches to regions created by the project's
//     uv::Server, whose header must match the B.2 table byte for byte with
//     capacities from the session's agreed limits;
//   - the project's ClientSession attaches to regions created by the spec
//     server (sized like upstream, from its maxima).
// Real sockets and regions; one test per direction runs the peer in a
// forked process.
#include <fcntl.h>
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <chrono>
#include <string>
#include <vector>

#include "interop_project_server.h"

namespace netipc {
namespace {

using namespace interop;  // NOLINT(google-build-using-namespace): test helpers
using Clock = std::chrono::steady_clock;

std::string profile_case_name(const ::testing::TestParamInfo<uint32_t>& p) {
  return p.param == sp::kProfileShmHybrid ? "ShmHybrid" : "ShmFutex";
}

// u64 at `off` of a region file, read through the page cache (coherent
// with the peer's shared mapping on Linux).
uint64_t file_u64(const std::string& path, off_t off) {
  uint64_t v = 0;
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd >= 0) {
    if (::pread(fd, &v, 8, off) != 8) v = UINT64_MAX;
    ::close(fd);
  }
  return v;
}

bool exists(const std::string& path) {
  struct stat st;
  return ::lstat(path.c_str(), &st) == 0;
}

// ---- Spec client -> project uv::Server ----

class SpecClientToProjectShm : public ProjectServerFixture,
                               public ::testing::WithParamInterface<uint32_t> {
 protected:
  ServerKind kind() const override { return ServerKind::kUv; }  // Level 1 has no SHM
  uint32_t shm() const { return GetParam(); }
  ServerPolicy shm_policy() const {
    ServerPolicy p = project_policy();  // maxima 300000 / 300000
    p.supported_profiles = sp::kProfileUds | shm();
    p.preferred_profiles = shm();
    return p;
  }
  sp::Hello shm_hello(const sp::SpecClient& c, uint32_t max_request, uint32_t items) {
    sp::Hello h = hello(c, max_request, items);
    h.supported = sp::kProfileUds | shm();
    h.preferred = shm();
    return h;
  }
  std::string region_path(uint64_t session_id) const {
    return dir_.file(sp::shm_region_name(service_, session_id));
  }
};

TEST_P(SpecClientToProjectShm, ProjectServerRegionHeaderMatchesTheSpecTable) {
  start(shm_policy());
  auto c = client();
  ASSERT_NE(c, nullptr);
  sp::Hello h = shm_hello(*c, 4000, 1);
  h.max_response_payload = 1;  // a hint: the server answers with its own ceiling
  sp::HelloAck ack;
  ASSERT_EQ(c->handshake(h, &ack), "");
  EXPECT_EQ(ack.selected, shm());
  EXPECT_EQ(ack.intersection, sp::kProfileUds | shm());
  EXPECT_EQ(ack.max_request_payload, 4000u);
  EXPECT_EQ(ack.max_response_payload, 300000u);
  const sp::ShmRegion* region = c->shm_region();
  ASSERT_NE(region, nullptr);
  EXPECT_EQ(region->path(), region_path(ack.session_id));
  // B.2/B.3: capacities from this session's agreed limits; the request
  // ceiling was 4000, far below the server's maximum of 300000.
  const sp::ShmLayout expected = sp::shm_layout(32 + 4000, 32 + uint64_t{ack.max_response_payload});
  ASSERT_EQ(expected.request_capacity, 4032u);
  ASSERT_NE(expected.request_capacity, sp::align64(32 + 300000));
  const uint32_t generation = sp::rd32(region->initial_header().data() + 12);
  EXPECT_NE(generation, 0u);
  // Bit 31 of the server's receive word (req_signal, offset 56) is our
  // wake-skipping extension (docs/shm.md): the server's waiter sets it while
  // it spins, which may already be the case when this peer attaches. The
  // spec bits of both signal words must match.
  sp::Bytes header = region->initial_header();
  for (size_t off : {size_t{56}, size_t{60}})
    header[off + 3] &= 0x7F;  // little-endian u32: bit 31 is in the last byte
  EXPECT_EQ(sp::to_hex(header), sp::to_hex(sp::shm_header_bytes(expected, ::getpid(), generation)));
  EXPECT_EQ(region->file_size(), expected.file_size);
  EXPECT_EQ(region->file_mode() & 07777, 0600u);
  EXPECT_TRUE(S_ISREG(region->file_mode()));
  EXPECT_EQ(region->file_uid(), ::geteuid());
  uint64_t v = 0;
  ASSERT_EQ(c->increment(1, &v), "");
  EXPECT_EQ(v, 2u);
}

TEST_P(SpecClientToProjectShm, ProjectServerAnswersSingleAndBatchIncrementsOverShm) {
  start(shm_policy());
  auto c = client();
  ASSERT_NE(c, nullptr);
  ASSERT_EQ(c->handshake(shm_hello(*c, 16000, 1000)), "");
  ASSERT_NE(c->shm_link(), nullptr);
  uint64_t v = 0;
  ASSERT_EQ(c->increment(41, &v), "");
  EXPECT_EQ(v, 42u);
  ASSERT_EQ(c->increment(UINT64_MAX, &v), "");
  EXPECT_EQ(v, 0u);
  uint64_t calls = 2;
  for (size_t n : {2, 3, 7, 64, 333, 999, 1000}) {
    SCOPED_TRACE(n);
    const auto values = iota_values(n, n);
    std::vector<uint64_t> got;
    ASSERT_EQ(c->increment_batch(values, &got), "");  // also checks canonical framing
    ASSERT_EQ(got.size(), n);
    for (size_t i = 0; i < n; ++i)
      EXPECT_EQ(got[i], values[i] + 1);
    ++calls;
  }
  // B.8: after n calls both sequence numbers equal n.
  EXPECT_EQ(c->shm_region()->load64(sp::kShmOffReqSeq), calls);
  EXPECT_EQ(c->shm_region()->load64(sp::kShmOffRespSeq), calls);
  EXPECT_TRUE(c->link().last_packet_sizes().empty());  // nothing came over the socket
  auto* uv = static_cast<UvEndpoint*>(server_.get());
  EXPECT_EQ(uv->stats().shm_sessions, 1u);
  c.reset();
  EXPECT_EQ(server_->stop_and_count_dropped(), 0u);
}

TEST_P(SpecClientToProjectShm, ProjectServerCarriesMessagesThatFillTheAreas) {
  ServerPolicy p = shm_policy();
  p.max_response_payload_bytes = 16352;  // 32 + 16352 = 16384, a multiple of 64
  start(p);
  auto c = client();
  ASSERT_NE(c, nullptr);
  ASSERT_EQ(c->handshake(shm_hello(*c, 16352, 1022)), "");
  const sp::ShmLayout& l = c->shm_region()->layout();
  ASSERT_EQ(l.request_capacity, 16384u);
  ASSERT_EQ(l.response_capacity, 16384u);
  const auto values = iota_values(1022, 9);  // 1022 × 16 = 16352-byte payload each way
  std::vector<uint64_t> got;
  ASSERT_EQ(c->increment_batch(values, &got), "");
  EXPECT_EQ(got.back(), values.back() + 1);
  EXPECT_EQ(c->shm_region()->load32(sp::kShmOffReqLen), 16384u);
  EXPECT_EQ(c->shm_region()->load32(sp::kShmOffRespLen), 16384u);
  uint64_t v = 0;  // the session goes on
  ASSERT_EQ(c->increment(5, &v), "");
  EXPECT_EQ(v, 6u);
}

TEST_P(SpecClientToProjectShm, ProjectServerAnswersOverCeilingShmRequestWithLimitExceeded) {
  start(shm_policy());
  auto c = client();
  ASSERT_NE(c, nullptr);
  sp::HelloAck ack;
  ASSERT_EQ(c->handshake(shm_hello(*c, 16000, 1), &ack), "");
  ASSERT_EQ(c->shm_region()->layout().request_capacity, 16064u);
  // B.9: fits the area (32 + 16032 = 16064) but exceeds the agreed 16000.
  sp::Header h;
  h.kind = sp::kKindRequest;
  h.code = sp::kMethodIncrement;
  h.message_id = 77;
  ASSERT_EQ(c->shm_link()->send(h, sp::Bytes(16032, 0)), "");
  sp::Message m;
  ASSERT_EQ(c->shm_link()->receive(&m, 5000), "");
  EXPECT_EQ(m.header.kind, sp::kKindResponse);
  EXPECT_EQ(m.header.message_id, 77u);
  EXPECT_EQ(m.header.status, sp::kStatusLimitExceeded);
  EXPECT_TRUE(m.payload.empty());
  // Then the session ends: socket closed, region unlinked (B.11).
  EXPECT_EQ(c->link().wait_closed(5000), sp::kPeerClosed);
  EXPECT_TRUE(test::wait_until([&] { return !exists(region_path(ack.session_id)); }));
}

TEST_P(SpecClientToProjectShm, ProjectServerServesShmSpecClientInAnotherProcess) {
  start(shm_policy());
  const std::string dir = dir_.path();
  const std::string service = service_;
  const uint32_t shm_bit = shm();
  test::Child child = test::Child::fork_fn([&]() -> int {
    std::string problem;
    auto c = sp::SpecClient::connect(dir, service, &problem);
    if (c == nullptr) return 2;
    sp::Hello h = c->default_hello();
    h.auth_token = kToken;
    h.supported = sp::kProfileUds | shm_bit;
    h.preferred = shm_bit;
    h.max_request_payload = 16000;
    h.max_request_items = h.max_response_items = 1000;
    sp::HelloAck ack;
    if (!c->handshake(h, &ack).empty() || ack.selected != shm_bit) return 3;
    uint64_t v = 0;
    for (uint64_t i = 0; i < 1000; ++i) {
      if (!c->increment(i, &v).empty() || v != i + 1) return 4;
    }
    std::vector<uint64_t> got;
    if (!c->increment_batch(iota_values(900, 1), &got).empty() || got[899] != 1 + 899 * 3 + 1) {
      return 5;
    }
    return c->shm_region()->load64(sp::kShmOffRespSeq) == 1001 ? 0 : 6;
  });
  ASSERT_TRUE(child.valid());
  EXPECT_EQ(child.wait(), 0);
  EXPECT_EQ(server_->stop_and_count_dropped(), 0u);
  EXPECT_FALSE(exists(region_path(1)));
}

INSTANTIATE_TEST_SUITE_P(Interop, SpecClientToProjectShm,
                         ::testing::Values(sp::kProfileShmHybrid, sp::kProfileShmFutex),
                         profile_case_name);

// ---- Project ClientSession -> spec server ----

class ProjectClientToSpecShm : public SpecServerTest,
                               public ::testing::WithParamInterface<uint32_t> {
 protected:
  uint32_t shm() const { return GetParam(); }
  sp::ServerConfig shm_config() const {
    sp::ServerConfig c = spec_config();  // maxima 65536 / 65536
    c.policy.supported = sp::kProfileUds | shm();
    return c;
  }
  ClientProposal shm_proposal(uint32_t max_request = 4096, uint32_t items = 1) const {
    ClientProposal p = proposal(max_request, items);
    p.supported_profiles = sp::kProfileUds | shm();
    p.preferred_profiles = shm();
    return p;
  }
  std::string region_path(uint64_t session_id) const {
    return dir_.file(sp::shm_region_name(service_, session_id));
  }
};

TEST_P(ProjectClientToSpecShm, HandshakeSelectsShmAndBothSidesAgree) {
  start(shm_config());
  auto c = connect(shm_proposal());
  ASSERT_TRUE(c.ok()) << c.error().message();
  EXPECT_TRUE(c->uses_shm());
  EXPECT_EQ(c->profile(), shm());
  const auto log = server_->log();
  ASSERT_EQ(log.hello_packets.size(), 1u);
  const sp::Hello hello = sp::read_hello(log.hello_packets[0].data() + sp::kHeaderSize);
  EXPECT_EQ(hello.supported, sp::kProfileUds | shm());
  EXPECT_EQ(hello.preferred, shm());
  ASSERT_EQ(log.ack_packets.size(), 1u);
  const sp::HelloAck ack = sp::read_ack(log.ack_packets[0].data() + sp::kHeaderSize);
  EXPECT_EQ(ack.selected, c->agreed().selected_profile);
  EXPECT_EQ(ack.session_id, c->agreed().session_id);
  // The spec server's region (B.3 upstream sizing from its maxima) is
  // what the project client attached to.
  ASSERT_EQ(log.region_headers.size(), 1u);
  const sp::ShmLayout l = sp::shm_layout(32 + 65536, 32 + 65536);
  const uint32_t generation = sp::rd32(log.region_headers[0].data() + 12);
  EXPECT_EQ(sp::to_hex(log.region_headers[0]),
            sp::to_hex(sp::shm_header_bytes(l, ::getpid(), generation)));
  EXPECT_TRUE(log.region_errors.empty());
  EXPECT_TRUE(exists(region_path(ack.session_id)));
}

TEST_P(ProjectClientToSpecShm, SingleAndBatchIncrementsOverShm) {
  start(shm_config());
  auto c = connect(shm_proposal(16000, 1000));
  ASSERT_TRUE(c.ok()) << c.error().message();
  ASSERT_TRUE(c->uses_shm());
  auto v = increment(*c, 1, 41);
  ASSERT_TRUE(v.ok()) << v.error().message();
  EXPECT_EQ(*v, 42u);
  uint64_t id = 2;
  for (size_t n : {2, 3, 7, 64, 333, 999, 1000}) {
    SCOPED_TRACE(n);
    const auto values = iota_values(n, n * 1000);
    const auto payload = project_batch(values);
    ASSERT_TRUE(c->send_request(1, id, ByteSpan(payload), static_cast<uint32_t>(n)).ok());
    auto m = c->receive_response(in_ms(5000));
    ASSERT_TRUE(m.ok()) << m.error().message();
    EXPECT_EQ(m->header.message_id, id++);
    EXPECT_EQ(m->header.flags, wire::kFlagBatch);
    ASSERT_EQ(m->header.item_count, n);
    auto view = wire::BatchView::parse(m->payload, m->header.item_count);
    ASSERT_TRUE(view.ok()) << view.error().message();
    for (uint32_t i = 0; i < n; ++i)
      EXPECT_EQ(load_u64(view->item(i).data), values[i] + 1);
  }
  const std::string path = region_path(c->agreed().session_id);
  EXPECT_EQ(file_u64(path, sp::kShmOffReqSeq), 8u);
  EXPECT_EQ(file_u64(path, sp::kShmOffRespSeq), 8u);
  EXPECT_EQ(server_->log().requests.size(), 8u);
  expect_no_violations();
}

TEST_P(ProjectClientToSpecShm, MessagesThatFillTheAreasRoundTripAndLargerOnesStayLocal) {
  sp::ServerConfig config = shm_config();
  config.policy.max_request_payload = 16352;  // areas of exactly 16384 bytes
  config.policy.max_response_payload = 16352;
  start(config);
  auto c = connect(shm_proposal(16352, 1023));
  ASSERT_TRUE(c.ok()) << c.error().message();
  ASSERT_TRUE(c->uses_shm());
  const auto values = iota_values(1022, 3);  // 16352-byte payload both ways
  const auto payload = project_batch(values);
  ASSERT_TRUE(c->send_request(1, 1, ByteSpan(payload), 1022).ok());
  auto m = c->receive_response(in_ms(5000));
  ASSERT_TRUE(m.ok()) << m.error().message();
  ASSERT_EQ(m->payload.size, 16352u);
  auto view = wire::BatchView::parse(m->payload, 1022);
  ASSERT_TRUE(view.ok());
  EXPECT_EQ(load_u64(view->item(1021).data), values[1021] + 1);
  // One more item is over the agreed ceiling (and the area): refused
  // locally, nothing published.
  const auto over = project_batch(iota_values(1023, 3));
  EXPECT_EQ(c->send_request(1, 2, ByteSpan(over), 1023).code(), Errc::kLimitExceeded);
  EXPECT_EQ(file_u64(region_path(c->agreed().session_id), sp::kShmOffReqSeq), 1u);
  auto v = increment(*c, 3, 10);
  ASSERT_TRUE(v.ok()) << v.error().message();
  EXPECT_EQ(*v, 11u);
  EXPECT_EQ(server_->log().requests.size(), 2u);
  expect_no_violations();
}

TEST_P(ProjectClientToSpecShm, TimesOutWithinTheDeadlineWhenTheServerNeverPublishes) {
  sp::ServerConfig config = shm_config();
  config.misbehaviour = sp::Misbehaviour::kNeverAnswer;
  start(config);
  auto c = connect(shm_proposal());
  ASSERT_TRUE(c.ok()) << c.error().message();
  ASSERT_TRUE(c->uses_shm());
  ASSERT_TRUE(c->send_request(1, 1, ByteSpan(u64_bytes(1))).ok());
  const auto t0 = Clock::now();
  auto m = c->receive_response(in_ms(200));
  const auto took = Clock::now() - t0;
  EXPECT_EQ(m.code(), Errc::kTimeout);
  EXPECT_GE(took, std::chrono::milliseconds(195));
  EXPECT_LT(took, std::chrono::seconds(3));
  EXPECT_EQ(server_->log().requests.size(), 1u);
}

TEST_P(ProjectClientToSpecShm, WrongMessageIdAndGarbageOverShmAreRejected) {
  for (auto misbehaviour : {sp::Misbehaviour::kWrongMessageId, sp::Misbehaviour::kGarbage}) {
    SCOPED_TRACE(static_cast<int>(misbehaviour));
    sp::ServerConfig config = shm_config();
    config.misbehaviour = misbehaviour;
    server_.reset();
    start(config);
    auto c = connect(shm_proposal());
    ASSERT_TRUE(c.ok()) << c.error().message();
    ASSERT_TRUE(c->uses_shm());
    ASSERT_TRUE(c->send_request(1, 3, ByteSpan(u64_bytes(1))).ok());
    auto m = c->receive_response(in_ms(5000));
    ASSERT_FALSE(m.ok());
    if (misbehaviour == sp::Misbehaviour::kWrongMessageId) {
      EXPECT_EQ(m.code(), Errc::kProtocol);
    } else {
      EXPECT_EQ(m.error().action(), Action::kMalformedPeer) << m.error().message();
    }
  }
}

TEST_P(ProjectClientToSpecShm, ResponseOverTheAgreedCeilingInsideTheAreaIsLimitExceeded) {
  sp::ServerConfig config = shm_config();
  // Area align64(32 + 1000) = 1088 and a 1056-byte receive buffer: a
  // 1001-byte payload fits both and is caught by the ceiling check alone.
  config.policy.max_response_payload = 1000;
  config.mutate_response = [](sp::Message* m) { m->payload.resize(1001); };
  start(config);
  auto c = connect(shm_proposal());
  ASSERT_TRUE(c.ok()) << c.error().message();
  ASSERT_TRUE(c->uses_shm());
  ASSERT_TRUE(c->send_request(1, 1, ByteSpan(u64_bytes(5))).ok());
  EXPECT_EQ(c->receive_response(in_ms(5000)).code(), Errc::kLimitExceeded);
}

TEST_P(ProjectClientToSpecShm, MissingOrUnsupportedRegionIsShmUnavailable) {
  for (const char* how : {"missing", "version 4"}) {
    SCOPED_TRACE(how);
    sp::ServerConfig config = shm_config();
    config.mutate_region = [missing = std::string(how) == "missing"](const std::string& path) {
      if (missing) {
        ::unlink(path.c_str());
        return;
      }
      const uint16_t version = 4;
      const int fd = ::open(path.c_str(), O_WRONLY | O_CLOEXEC);
      (void)!::pwrite(fd, &version, 2, sp::kShmOffVersion);
      ::close(fd);
    };
    server_.reset();
    start(config);
    auto c = ClientSession::connect(dir_.path(), service_, shm_proposal(), in_ms(300));
    EXPECT_EQ(c.code(), Errc::kShmUnavailable);
  }
}

TEST_P(ProjectClientToSpecShm, ProjectClientTalksToShmSpecServerInAnotherProcess) {
  const std::string dir = dir_.path();
  const std::string service = service_;
  const sp::ServerConfig config = shm_config();
  test::Child child = test::Child::fork_fn([&] {
    std::string problem;
    auto server = sp::SpecServer::start(dir, service, config, &problem);
    if (server == nullptr) return 1;
    (void)!::write(STDOUT_FILENO, "ready\n", 6);
    for (;;)
      ::pause();  // killed by the parent
  });
  ASSERT_TRUE(child.valid());
  ASSERT_TRUE(child.wait_for_line("ready"));
  auto c = connect(shm_proposal(16000, 1000));
  ASSERT_TRUE(c.ok()) << c.error().message();
  ASSERT_TRUE(c->uses_shm());
  for (uint64_t i = 1; i <= 1000; ++i) {
    auto v = increment(*c, i, i * 7);
    ASSERT_TRUE(v.ok()) << v.error().message();
    ASSERT_EQ(*v, i * 7 + 1);
  }
  const std::string path = region_path(c->agreed().session_id);
  EXPECT_EQ(file_u64(path, sp::kShmOffRespSeq), 1000u);
  EXPECT_EQ(file_u64(path, sp::kShmOffOwnerPid) & 0xFFFFFFFFu, static_cast<uint32_t>(child.pid()));
}

INSTANTIATE_TEST_SUITE_P(Interop, ProjectClientToSpecShm,
                         ::testing::Values(sp::kProfileShmHybrid, sp::kProfileShmFutex),
                         profile_case_name);

}  // namespace
}  // namespace netipc
