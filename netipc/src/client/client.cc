#include "netipc/client.h"

#include <cstring>
#include <optional>
#include <utility>

#include "base/abort.h"
#include "client/client_policy.h"
#include "netipc/session.h"
#include "sys_linux.h"

namespace netipc {

namespace {

using Step = ClientPolicy::Step;

int64_t deadline_after_ms(int ms) {
  return detail::monotonic_ns() + int64_t{ms} * 1000000;
}

}  // namespace

struct Client::Impl {
  ClientPolicy policy;
  AbortHandle abort;
  // Open exactly while policy.state() == kReady. (std::optional: the
  // default constructor of ClientSession is not usable outside its .cc.)
  std::optional<ClientSession> session;
  std::vector<uint8_t> batch;   // outgoing batch payload, reused
  std::vector<uint8_t> single;  // a one-item batch answer, re-framed as a batch

  Impl(ClientPolicy p, AbortHandle a) : policy(std::move(p)), abort(std::move(a)) {}

  void drop_session() { session.reset(); }

  // Performs the I/O the policy asks for until it settles. `out` receives
  // the response of the successful attempt (calls only).
  Step run(Step step, ByteSpan payload, uint32_t item_count, int timeout_ms, Message* out,
           int abort_fd) {
    const ClientConfig& c = policy.config();
    for (;;) {
      switch (step) {
        case Step::kConnect: {
          drop_session();
          auto s = ClientSession::connect(c.run_dir, c.service, policy.proposal(),
                                          deadline_after_ms(c.connect_timeout_ms), abort_fd);
          if (s.ok()) {
            session.emplace(std::move(*s));
            step = policy.on_connected(session->agreed());
          } else {
            step = policy.on_connect_failed(s.error());
          }
          break;
        }
        case Step::kAttempt: {
          const int64_t deadline = deadline_after_ms(timeout_ms);
          Status sent = session->send_request(c.method, policy.message_id(), payload, item_count,
                                              deadline, abort_fd);
          if (!sent.ok()) {
            step = policy.on_attempt_error(sent.error());
            break;
          }
          auto m = session->receive_response(deadline, abort_fd);
          if (!m.ok()) {
            step = policy.on_attempt_error(m.error());
            break;
          }
          if (out != nullptr) *out = *m;
          step = policy.on_response(*m);
          break;
        }
        case Step::kSucceed:
          return step;
        case Step::kFail:
          if (policy.state() != ClientState::kReady) drop_session();
          return step;
      }
    }
  }
};

Result<Client> Client::create(const ClientConfig& config) {
  auto policy = ClientPolicy::create(config);
  if (!policy.ok()) return policy.error();
  auto abort = AbortHandle::create();
  if (!abort.ok()) return abort.error();
  return Client(std::make_unique<Impl>(std::move(*policy), std::move(*abort)));
}

Client::Client(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
Client::Client(Client&&) noexcept = default;
Client& Client::operator=(Client&&) noexcept = default;
Client::~Client() = default;

ClientState Client::state() const {
  return impl_->policy.state();
}
ClientStatus Client::status() const {
  return impl_->policy.status();
}
const ClientConfig& Client::config() const {
  return impl_->policy.config();
}

bool Client::refresh() {
  Impl& d = *impl_;
  const ClientState before = d.policy.state();
  const Step step = d.policy.start_refresh();
  if (step == Step::kConnect) {
    // docs/levels.md §1.8.3: refresh does not look at a pending abort; an abort
    // raised while it waits still interrupts it.
    const int abort_fd = d.abort.aborted() ? -1 : d.abort.fd();
    (void)d.run(step, ByteSpan(), 1, 0, nullptr, abort_fd);
  }
  return d.policy.state() != before;
}

Result<Message> Client::call(ByteSpan request_payload, uint32_t item_count, int timeout_ms) {
  Impl& d = *impl_;
  if (item_count == 0) item_count = 1;
  Step step = d.policy.start_call(request_payload.size, item_count, d.abort.aborted());
  Message response;
  step = d.run(step, request_payload, item_count, d.policy.timeout_ms(timeout_ms), &response,
               d.abort.fd());
  if (step == Step::kSucceed) return response;
  return d.policy.error();
}

Result<wire::BatchView> Client::call_batch(const std::vector<ByteSpan>& items, int timeout_ms) {
  Impl& d = *impl_;
  if (items.empty()) return make_error(Errc::kInvalidArgument, "call_batch: no items");
  if (items.size() > UINT32_MAX) return make_error(Errc::kLimitExceeded, "call_batch: items");
  const auto n = static_cast<uint32_t>(items.size());
  if (n == 1) {
    // docs/wire.md §3.1: a one-item call travels as a plain message. Its answer is
    // re-framed as a one-entry batch so callers see one shape.
    auto r = call(items[0], 1, timeout_ms);
    if (!r.ok()) return r.error();
    const ByteSpan p = r->payload;
    d.single.assign(8 + align8(p.size), 0);
    store_u32(d.single.data(), 0);
    store_u32(d.single.data() + 4, static_cast<uint32_t>(p.size));
    if (p.size != 0) std::memcpy(d.single.data() + 8, p.data, p.size);
    return wire::BatchView::parse(ByteSpan(d.single), 1);
  }
  wire::BatchWriter writer(&d.batch, n);
  for (const ByteSpan& item : items)
    writer.add(item);
  const ByteSpan payload = writer.finish();
  auto r = call(payload, n, timeout_ms);
  if (!r.ok()) return r.error();
  return wire::BatchView::parse(r->payload, n);  // validated by the policy already
}

void Client::abort() noexcept {
  impl_->abort.abort();
}

void Client::clear_abort() noexcept {
  impl_->abort.clear();
}

bool Client::abort_pending() const noexcept {
  return impl_->abort.aborted();
}

void Client::release_receive_buffer(size_t keep_bytes) {
  if (impl_->session) impl_->session->release_receive_buffer(keep_bytes);
}

void Client::reset() {
  impl_->drop_session();
  impl_->policy.reset();
}

}  // namespace netipc
