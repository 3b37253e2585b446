// Forgeries, both directions: forged HELLO_ACKs and responses from the
// spec server to the project client (docs/wire.md §5.8, §2.2, §6.1, §7.2), and
// forged chunk sequences (docs/wire.md §4.3, §9.5) that the spec peer, the project
// client and both project servers must each reject.
#include <gtest/gtest.h>
#include <sys/socket.h>

#include <functional>
#include <ostream>
#include <string>
#include <tuple>
#include <vector>

#include "interop_project_server.h"

namespace netipc {
namespace {

using namespace interop;  // NOLINT(google-build-using-namespace): test helpers

// Forged HELLO_ACKs (docs/wire.md §5.8): each is refused with its own error.
struct ForgedAck {
  const char* name;
  std::function<void(sp::Bytes*)> edit;
  Errc expected;
};
void PrintTo(const ForgedAck& p, std::ostream* os) {
  *os << p.name;
}

class ForgedAckTest : public SpecServerTest, public ::testing::WithParamInterface<ForgedAck> {};

TEST_P(ForgedAckTest, ProjectClientRefusesForgedAck) {
  sp::ServerConfig config = spec_config();
  config.mutate_ack = GetParam().edit;
  start(config);
  EXPECT_EQ(connect(proposal()).code(), GetParam().expected);
}

INSTANTIATE_TEST_SUITE_P(
    Interop, ForgedAckTest,
    ::testing::Values(
        ForgedAck{"HeaderVersion2", [](sp::Bytes* b) { sp::wr16(b->data() + 4, 2); },
                  Errc::kIncompatible},
        ForgedAck{"LayoutVersion2", [](sp::Bytes* b) { sp::wr16(b->data() + 32, 2); },
                  Errc::kIncompatible},
        ForgedAck{"NonZeroFlags", [](sp::Bytes* b) { sp::wr16(b->data() + 34, 1); },
                  Errc::kProtocol},
        ForgedAck{"PacketSize32", [](sp::Bytes* b) { sp::wr32(b->data() + 64, 32); },
                  Errc::kProtocol},
        ForgedAck{"UnknownStatus", [](sp::Bytes* b) { sp::wr16(b->data() + 14, 77); },
                  Errc::kProtocol},
        ForgedAck{"InternalErrorStatus", [](sp::Bytes* b) { sp::wr16(b->data() + 14, 6); },
                  Errc::kInternalError},
        ForgedAck{"KindResponse", [](sp::Bytes* b) { sp::wr16(b->data() + 8, 2); },
                  Errc::kProtocol},
        ForgedAck{"UnofferedProfile", [](sp::Bytes* b) { sp::wr32(b->data() + 44, 0x02); },
                  Errc::kProtocol},
        ForgedAck{"TruncatedBody", [](sp::Bytes* b) { b->resize(60); }, Errc::kProtocol},
        ForgedAck{"BadMagic", [](sp::Bytes* b) { (*b)[0] ^= 0xFF; }, Errc::kProtocol},
        // Not checked by upstream clients (docs/wire.md §5.8 rule 4): accepted.
        ForgedAck{"NonZeroReservedIsIgnored", [](sp::Bytes* b) { sp::wr32(b->data() + 68, 9); },
                  Errc::kOk}),
    [](const ::testing::TestParamInfo<ForgedAck>& p) { return std::string(p.param.name); });

// Forged responses (docs/wire.md §2.2, §6.1, §7.2): what the project client makes of them.
struct ForgedResponse {
  const char* name;
  std::function<void(sp::Message*)> edit;
  Errc expected;  // kOk: accepted
};
void PrintTo(const ForgedResponse& p, std::ostream* os) {
  *os << p.name;
}

class ForgedResponseTest : public SpecServerTest,
                           public ::testing::WithParamInterface<ForgedResponse> {};

TEST_P(ForgedResponseTest, ProjectClientJudgesForgedResponse) {
  sp::ServerConfig config = spec_config();
  config.policy.max_response_payload = 1024;
  config.mutate_response = GetParam().edit;
  start(config);
  auto c = connect(proposal());
  ASSERT_TRUE(c.ok()) << c.error().message();
  ASSERT_EQ(c->agreed().agreed_max_response_payload_bytes, 1024u);
  ASSERT_TRUE(c->send_request(1, 1, ByteSpan(u64_bytes(5))).ok());
  auto m = c->receive_response(in_ms(5000));
  EXPECT_EQ(m.code(), GetParam().expected);
  if (m.ok()) {
    EXPECT_EQ(load_u64(m->payload.data), 6u);
  }
}

INSTANTIATE_TEST_SUITE_P(
    Interop, ForgedResponseTest,
    ::testing::Values(
        ForgedResponse{"UnknownFlagBitsAreIgnored",
                       [](sp::Message* m) { m->header.flags = 0x8000; }, Errc::kOk},
        ForgedResponse{"PayloadOverAgreedCeiling", [](sp::Message* m) { m->payload.resize(1025); },
                       Errc::kLimitExceeded},
        ForgedResponse{"ItemCountOverAgreedCeiling",
                       [](sp::Message* m) { m->header.item_count = 2; }, Errc::kLimitExceeded},
        ForgedResponse{"KindRequest", [](sp::Message* m) { m->header.kind = sp::kKindRequest; },
                       Errc::kProtocol},
        ForgedResponse{"KindControl", [](sp::Message* m) { m->header.kind = sp::kKindControl; },
                       Errc::kProtocol}),
    [](const ::testing::TestParamInfo<ForgedResponse>& p) { return std::string(p.param.name); });

// ---- Forged chunk sequences, both directions (docs/wire.md §4.3, §9.5) ----
//
// A 62-item INCREMENT batch is 992 bytes: at P = 256 that is five packets
// (224 + 224 + 224 + 224 + 96 payload bytes). Each forgery edits them.
struct ChunkForgery {
  const char* name;
  std::function<void(std::vector<sp::Bytes>*)> edit;
};
void PrintTo(const ChunkForgery& p, std::ostream* os) {
  *os << p.name;
}

constexpr uint32_t kForgeryItems = 62;

std::vector<ChunkForgery> chunk_forgeries() {
  using P = std::vector<sp::Bytes>;
  return {
      {"ChunkWithOtherMessageId", [](P* p) { sp::wr64((*p)[1].data() + 8, 999); }},
      {"SkippedChunkIndex", [](P* p) { p->erase(p->begin() + 1); }},
      {"DuplicatedChunkIndex", [](P* p) { p->insert(p->begin() + 1, (*p)[1]); }},
      {"WrongChunkCount", [](P* p) { sp::wr32((*p)[1].data() + 24, 6); }},
      {"WrongTotalMessageLen",
       [](P* p) { sp::wr32((*p)[1].data() + 16, sp::rd32((*p)[1].data() + 16) + 8); }},
      {"BadChunkMagic", [](P* p) { (*p)[1][0] ^= 0xFF; }},
      {"ChunkVersion2", [](P* p) { sp::wr16((*p)[1].data() + 4, 2); }},
      {"ChunkFlagsNonZero", [](P* p) { sp::wr16((*p)[1].data() + 6, 1); }},
      {"ZeroChunkPayloadLen",
       [](P* p) {
         (*p)[1].resize(32);
         sp::wr32((*p)[1].data() + 28, 0);
       }},
      {"ShortNonFinalChunk",
       [](P* p) {
         (*p)[1].resize(32 + 100);
         sp::wr32((*p)[1].data() + 28, 100);
       }},
      {"OverlongChunk",
       [](P* p) {
         (*p)[1].resize((*p)[1].size() + 50, 0);
         sp::wr32((*p)[1].data() + 28, static_cast<uint32_t>((*p)[1].size() - 32));
       }},
      {"ChunksPastPayloadLen",
       [](P* p) {
         p->back().resize(p->back().size() + 8, 0);
         sp::wr32(p->back().data() + 28, static_cast<uint32_t>(p->back().size() - 32));
       }},
      {"FirstPacketLongerThanDeclared", [](P* p) { sp::wr32((*p)[0].data() + 16, 100); }},
      {"LastChunkWithWrongChunkCount", [](P* p) { sp::wr32((*p)[4].data() + 24, 4); }},
  };
}

class ChunkForgeryTest : public ::testing::TestWithParam<ChunkForgery> {
 protected:
  TempDir dir_;
  std::string service_ = test::unique_service("forge");
};

// The oracle is at least as strict as the project: it rejects every forgery.
TEST_P(ChunkForgeryTest, SpecPeerRejectsForgedChunkSequence) {
  int sv[2];
  ASSERT_EQ(::socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv), 0);
  sp::UdsLink a(sv[0]);
  sp::UdsLink b(sv[1]);
  b.set_packet_size(256);
  std::vector<sp::Bytes> items;
  for (uint64_t v : iota_values(kForgeryItems, 1))
    items.push_back(sp::u64_payload(v));
  sp::Header h;
  h.kind = sp::kKindResponse;
  h.code = sp::kMethodIncrement;
  h.flags = sp::kFlagBatch;
  h.item_count = kForgeryItems;
  h.message_id = 1;
  auto packets = sp::packetize(h, sp::make_batch(items), 256);
  ASSERT_EQ(packets.size(), 5u);
  GetParam().edit(&packets);
  ASSERT_EQ(a.send_packets(packets), "");
  sp::Message m;
  const std::string problem = b.receive(&m, 1000);
  EXPECT_NE(problem, "");
  EXPECT_NE(problem, sp::kTimedOut);
}

TEST_P(ChunkForgeryTest, ProjectClientRejectsForgedChunkedResponse) {
  sp::ServerConfig config = spec_config(256);
  config.policy.max_request_payload = 16000;
  config.mutate_packets = [edit = GetParam().edit](std::vector<sp::Bytes>* p) {
    if (p->size() == 5) edit(p);
  };
  std::string problem;
  auto server = sp::SpecServer::start(dir_.path(), service_, config, &problem);
  ASSERT_NE(server, nullptr) << problem;
  auto c = ClientSession::connect(dir_.path(), service_, proposal(16000, 1000), in_ms(5000));
  ASSERT_TRUE(c.ok()) << c.error().message();
  const auto payload = project_batch(iota_values(kForgeryItems, 1));
  ASSERT_TRUE(c->send_request(1, 1, ByteSpan(payload), kForgeryItems).ok());
  auto m = c->receive_response(in_ms(2000));
  ASSERT_FALSE(m.ok());
  EXPECT_EQ(m.error().action(), Action::kMalformedPeer) << m.error().message();
  EXPECT_EQ(c->in_flight(), 0u);
}

INSTANTIATE_TEST_SUITE_P(Interop, ChunkForgeryTest, ::testing::ValuesIn(chunk_forgeries()),
                         [](const ::testing::TestParamInfo<ChunkForgery>& p) {
                           return std::string(p.param.name);
                         });

class ProjectServerChunkForgeryTest
    : public ProjectServerFixture,
      public ::testing::WithParamInterface<std::tuple<ChunkForgery, ServerKind>> {
 protected:
  ServerKind kind() const override { return std::get<1>(GetParam()); }
};

TEST_P(ProjectServerChunkForgeryTest, ProjectServerDropsSessionOnForgedChunkedRequest) {
  start(project_policy());
  auto c = client();
  ASSERT_NE(c, nullptr);
  sp::Hello h = c->default_hello();
  h.auth_token = kToken;
  h.max_request_payload = 16000;
  h.max_request_items = h.max_response_items = 1000;
  h.packet_size = 256;
  ASSERT_EQ(c->handshake(h), "");
  std::vector<sp::Bytes> items;
  for (uint64_t v : iota_values(kForgeryItems, 1))
    items.push_back(sp::u64_payload(v));
  sp::Header req;
  req.kind = sp::kKindRequest;
  req.code = sp::kMethodIncrement;
  req.flags = sp::kFlagBatch;
  req.item_count = kForgeryItems;
  req.message_id = 1;
  auto packets = sp::packetize(req, sp::make_batch(items), 256);
  ASSERT_EQ(packets.size(), 5u);
  std::get<0>(GetParam()).edit(&packets);
  // The server may hang up before the last packets: their send result is moot.
  (void)c->link().send_packets(packets);
  // No response: the session ends (docs/wire.md §4.3 rule 5, §7.6).
  EXPECT_EQ(c->link().wait_closed(5000), sp::kPeerClosed);
  EXPECT_EQ(server_->stop_and_count_dropped(), 1u);
}

INSTANTIATE_TEST_SUITE_P(
    Interop, ProjectServerChunkForgeryTest,
    ::testing::Combine(::testing::ValuesIn(chunk_forgeries()),
                       ::testing::Values(ServerKind::kLevel1, ServerKind::kUv)),
    [](const ::testing::TestParamInfo<std::tuple<ChunkForgery, ServerKind>>& p) {
      return std::string(std::get<0>(p.param).name) + "_" + kind_name(std::get<1>(p.param));
    });

}  // namespace
}  // namespace netipc
