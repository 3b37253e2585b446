#include "client/client_policy.h"

#include <algorithm>

#include "netipc/batch.h"
#include "netipc/uds.h"

namespace netipc {

uint32_t client_grow(uint64_t n) noexcept {
  if (n < 16) return 16;
  if (n > (uint64_t{1} << 31)) return 0;
  uint64_t p = 16;
  while (p < n)
    p <<= 1;
  return static_cast<uint32_t>(p);
}

AttemptFailure classify_attempt_error(Errc code) noexcept {
  switch (code) {
    case Errc::kTimeout:
      return AttemptFailure::kTimeout;
    case Errc::kAborted:
      return AttemptFailure::kAborted;
    case Errc::kLimitExceeded:
      return AttemptFailure::kOverCeiling;
    default:
      return AttemptFailure::kOrdinary;
  }
}

bool is_shm_attach_failure(const Error& e) noexcept {
  // ClientSession::connect reports every failure after an OK HELLO_ACK that
  // selected SHM (region missing, unreadable, malformed, not backed) with
  // this one code, keeping the cause in `what` and `sys_errno`.
  return e.code == Errc::kShmUnavailable;
}

namespace {

ClientState state_after_connect_error(Errc code) {
  switch (code) {
    case Errc::kNotFound:
      return ClientState::kNotFound;
    case Errc::kAuthFailed:
      return ClientState::kAuthFailed;
    case Errc::kIncompatible:
    case Errc::kUnsupported:
      return ClientState::kIncompatible;
    default:
      return ClientState::kDisconnected;
  }
}

// What a call returns for a failed connect: a handshake UNSUPPORTED (no
// common profile) is reported as kIncompatible, the state it leads to.
Error call_error_for_connect(const Error& e) {
  if (e.code == Errc::kUnsupported) return Error{Errc::kIncompatible, e.sys_errno, e.what};
  return e;
}

}  // namespace

Result<ClientPolicy> ClientPolicy::create(const ClientConfig& config) {
  if (config.run_dir.empty()) return make_error(Errc::kInvalidArgument, "client: run_dir");
  auto path = socket_path(config.run_dir, config.service);
  if (!path.ok()) return path.error();
  if (config.method == 0) return make_error(Errc::kInvalidArgument, "client: method");
  ClientPolicy p;
  p.config_ = config;
  ClientConfig& c = p.config_;
  if (c.supported_profiles == 0) c.supported_profiles = wire::kProfileUds;
  if (c.max_request_payload_bytes == 0) c.max_request_payload_bytes = kClientDefaultRequestPayload;
  if (c.max_request_batch_items == 0) c.max_request_batch_items = kClientDefaultBatchItems;
  if (c.max_response_payload_bytes == 0) {
    c.max_response_payload_bytes = kClientDefaultResponsePayload;
  }
  if (c.call_timeout_ms <= 0) c.call_timeout_ms = kClientDefaultCallTimeoutMs;
  if (c.connect_timeout_ms <= 0) c.connect_timeout_ms = kClientDefaultConnectTimeoutMs;
  p.supported_ = c.supported_profiles;
  p.preferred_ = c.preferred_profiles;
  p.learned_request_ = c.max_request_payload_bytes;
  p.learned_response_ = c.max_response_payload_bytes;
  return p;
}

ClientStatus ClientPolicy::status() const {
  ClientStatus s;
  s.state = state_;
  s.connect_count = connect_count_;
  s.reconnect_count = reconnect_count_;
  s.call_count = call_count_;
  s.error_count = error_count_;
  if (state_ == ClientState::kReady) {
    s.selected_profile = agreed_.selected_profile;
    s.agreed_max_request_payload_bytes = agreed_.agreed_max_request_payload_bytes;
    s.agreed_max_request_batch_items = agreed_.agreed_max_request_batch_items;
    s.agreed_max_response_payload_bytes = agreed_.agreed_max_response_payload_bytes;
    s.agreed_max_response_batch_items = agreed_.agreed_max_response_batch_items;
    s.agreed_packet_size = agreed_.agreed_packet_size;
    s.session_id = agreed_.session_id;
  }
  s.learned_request_payload_bytes = learned_request_;
  s.learned_response_payload_bytes = learned_response_;
  s.supported_profiles = supported_;
  s.preferred_profiles = preferred_;
  return s;
}

ClientProposal ClientPolicy::proposal() const {
  ClientProposal p;
  p.supported_profiles = supported_;
  p.preferred_profiles = preferred_;
  p.max_request_payload_bytes = learned_request_;
  p.max_request_batch_items = config_.max_request_batch_items;
  p.max_response_payload_bytes = learned_response_;
  p.auth_token = config_.auth_token;
  p.packet_size = 0;
  return p;
}

Status ClientPolicy::strip_shm() {
  const uint32_t left = supported_ & ~wire::kProfileShmMask;
  if (left == 0) return make_error(Errc::kInvalidArgument, "no profile left without SHM");
  supported_ = left;
  preferred_ &= ~wire::kProfileShmMask;
  return ok_status();
}

int ClientPolicy::timeout_ms(int requested) const {
  return requested > 0 ? requested : config_.call_timeout_ms;
}

void ClientPolicy::reset() {
  drop_session(ClientState::kDisconnected);
  phase_ = Phase::kIdle;
}

void ClientPolicy::drop_session(ClientState next) {
  state_ = next;
  agreed_ = wire::HelloAck{};
}

ClientPolicy::Sizes ClientPolicy::sizes() const {
  return Sizes{agreed_.agreed_max_request_payload_bytes, agreed_.agreed_max_response_payload_bytes,
               learned_request_, learned_response_};
}

// ---- connect ----

ClientPolicy::Step ClientPolicy::begin_connect(Phase phase) {
  phase_ = phase;
  connect_from_ = state_;
  drop_session(ClientState::kConnecting);
  return Step::kConnect;
}

ClientPolicy::Step ClientPolicy::start_refresh() {
  switch (state_) {
    case ClientState::kDisconnected:
    case ClientState::kNotFound:
    case ClientState::kBroken:
      return begin_connect(Phase::kRefresh);
    default:
      return Step::kSucceed;  // READY, CONNECTING and the sticky states: nothing to do
  }
}

ClientPolicy::Step ClientPolicy::on_connected(const wire::HelloAck& ack) {
  agreed_ = ack;
  state_ = ClientState::kReady;
  if (connect_from_ == ClientState::kBroken) {
    ++reconnect_count_;
  } else {
    ++connect_count_;
  }
  switch (phase_) {
    case Phase::kInitialConnect:
      phase_ = Phase::kFirstAttempt;
      return next_attempt();
    case Phase::kRetryConnect:
      phase_ = Phase::kRetriedAttempt;
      return next_attempt();
    case Phase::kOverflowConnect: {
      // §1.5 overflow loop: stop when nothing grew since the attempt that
      // overflowed, or after the 8th round.
      const Sizes now = sizes();
      const Sizes& was = before_attempt_;
      const bool grew =
          now.agreed_request > was.agreed_request || now.agreed_response > was.agreed_response ||
          now.learned_request > was.learned_request || now.learned_response > was.learned_response;
      if (!grew) return fail_broken(last_error_);
      if (++overflow_rounds_ >= kClientMaxOverflowAttempts) return fail_broken(last_error_);
      phase_ = Phase::kOverflowAttempt;
      return next_attempt();
    }
    default:
      phase_ = Phase::kIdle;
      return Step::kSucceed;  // refresh
  }
}

ClientPolicy::Step ClientPolicy::on_connect_failed(const Error& e) {
  // §1.3 step 4: an SHM attach failure strips SHM for good and reconnects
  // on the baseline at once, within the same connect.
  if (shm_offered() && is_shm_attach_failure(e)) {
    if (strip_shm().ok()) return Step::kConnect;
    drop_session(ClientState::kDisconnected);  // SHM-only config: nothing left to try
  } else {
    drop_session(state_after_connect_error(e.code));
  }
  if (phase_ == Phase::kRefresh) {
    phase_ = Phase::kIdle;
    error_ = e;
    return Step::kFail;
  }
  if (phase_ == Phase::kInitialConnect) return fail(call_error_for_connect(e));
  // An abort that interrupts a reconnect is what the caller asked for: it
  // is reported as such, not as the failure that led to the reconnect.
  if (e.code == Errc::kAborted) return fail(e);
  // §1.5: a failed retry reconnect returns the original error, a failed
  // overflow reconnect the overflow; the state is the connect's.
  return fail(phase_ == Phase::kRetryConnect ? original_error_ : last_error_);
}

// ---- calls ----

ClientPolicy::Step ClientPolicy::start_call(size_t payload_size, uint32_t item_count,
                                            bool abort_pending) {
  phase_ = Phase::kIdle;
  payload_size_ = payload_size;
  item_count_ = item_count == 0 ? 1 : item_count;
  overflow_rounds_ = 0;
  if (abort_pending) {
    // §1.8.3: every call fails while the flag is set and tears down the
    // session it finds.
    if (state_ == ClientState::kReady) drop_session(ClientState::kBroken);
    return fail(make_error(Errc::kAborted, "client: abort pending (clear_abort() re-enables)"));
  }
  if (state_ == ClientState::kAuthFailed) {
    return fail(make_error(Errc::kAuthFailed, "client: rejected token (sticky until reset())"));
  }
  if (state_ == ClientState::kIncompatible) {
    return fail(
        make_error(Errc::kIncompatible, "client: incompatible peer (sticky until reset())"));
  }
  if (payload_size > UINT32_MAX - wire::kHeaderLen) {
    return fail(make_error(Errc::kLimitExceeded, "client: request payload over 4 GiB"));
  }
  if (item_count_ > config_.max_request_batch_items) {
    return fail(make_error(Errc::kLimitExceeded,
                           "client: batch larger than config max_request_batch_items"));
  }
  if (state_ != ClientState::kReady) return begin_connect(Phase::kInitialConnect);
  phase_ = Phase::kFirstAttempt;
  return next_attempt();
}

ClientPolicy::Step ClientPolicy::next_attempt() {
  before_attempt_ = sizes();
  if (payload_size_ > agreed_.agreed_max_request_payload_bytes) {
    // §1.7.3: request growth, then the overflow path (nothing is sent).
    const uint32_t g = client_grow(payload_size_);
    learned_request_ = std::max(learned_request_, std::min(g, kClientGrowthCap));
    return attempt_failed(AttemptFailure::kOverCeiling,
                          make_error(Errc::kLimitExceeded, "request over the agreed ceiling"));
  }
  if (item_count_ > agreed_.agreed_max_request_batch_items) {
    return attempt_failed(AttemptFailure::kOverCeiling,
                          make_error(Errc::kLimitExceeded, "batch over the agreed item ceiling"));
  }
  return Step::kAttempt;
}

ClientPolicy::Step ClientPolicy::on_response(const Message& m) {
  const wire::Header& h = m.header;
  if (h.kind != static_cast<uint16_t>(wire::Kind::kResponse) || h.code != config_.method ||
      h.message_id != message_id()) {
    return attempt_failed(AttemptFailure::kOrdinary,
                          make_error(Errc::kProtocol, "response does not match the request"));
  }
  if (h.transport_status == static_cast<uint16_t>(wire::TransportStatus::kLimitExceeded)) {
    return attempt_failed(AttemptFailure::kResponseGrowth,
                          make_error(Errc::kLimitExceeded, "server: response over the ceiling"));
  }
  if (h.transport_status != static_cast<uint16_t>(wire::TransportStatus::kOk)) {
    return attempt_failed(AttemptFailure::kOrdinary,
                          make_error(wire::errc_from_status(h.transport_status), "server status"));
  }
  if (item_count_ >= 2) {
    if (!h.is_batch() || h.item_count != item_count_) {
      return attempt_failed(AttemptFailure::kOrdinary,
                            make_error(Errc::kBadItemCount, "batch response item count"));
    }
    auto view = wire::BatchView::parse(m.payload, item_count_);
    if (!view.ok()) return attempt_failed(AttemptFailure::kOrdinary, view.error());
  }
  ++call_count_;
  phase_ = Phase::kIdle;
  return Step::kSucceed;
}

ClientPolicy::Step ClientPolicy::on_attempt_error(const Error& e) {
  return attempt_failed(classify_attempt_error(e.code), e);
}

ClientPolicy::Step ClientPolicy::attempt_failed(AttemptFailure kind, const Error& e) {
  last_error_ = e;
  if (kind == AttemptFailure::kResponseGrowth) {
    // §1.7.4: a hint of twice the agreed response, capped.
    const uint32_t g = client_grow(uint64_t{2} * agreed_.agreed_max_response_payload_bytes);
    learned_response_ = std::max(learned_response_, std::min(g, kClientGrowthCap));
  }
  const bool overflow =
      kind == AttemptFailure::kResponseGrowth || kind == AttemptFailure::kOverCeiling;
  const bool fatal = kind == AttemptFailure::kTimeout || kind == AttemptFailure::kAborted;
  switch (phase_) {
    case Phase::kFirstAttempt:
      if (fatal) return fail_broken(e);
      if (overflow) return begin_connect_after_teardown(Phase::kOverflowConnect);
      original_error_ = e;
      return begin_connect_after_teardown(Phase::kRetryConnect);
    case Phase::kOverflowAttempt:
      if (overflow) return begin_connect_after_teardown(Phase::kOverflowConnect);
      return fail_broken(e);
    default:
      return fail_broken(e);  // the retried attempt: the second failure is final
  }
}

ClientPolicy::Step ClientPolicy::begin_connect_after_teardown(Phase phase) {
  drop_session(ClientState::kBroken);
  return begin_connect(phase);
}

ClientPolicy::Step ClientPolicy::fail(const Error& e) {
  phase_ = Phase::kIdle;
  ++error_count_;
  error_ = e;
  return Step::kFail;
}

ClientPolicy::Step ClientPolicy::fail_broken(const Error& e) {
  drop_session(ClientState::kBroken);
  return fail(e);
}

}  // namespace netipc
