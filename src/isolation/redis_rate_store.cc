// RedisRateStore: LeasedCells leased from a GCRA script on Redis, on the store's own thread.
#include "infergate/isolation/redis_rate_store.h"

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/redirect_error.hpp>
#include <boost/asio/use_awaitable.hpp>

#include "infergate/core/log.h"
#include "infergate/shared/redis_script.h"

namespace infergate::isolation {
namespace {

namespace asio = boost::asio;
using shared::RedisReply;

// GCRA for the whole fleet on one key holding the TAT in microseconds of Redis's clock (TIME, so
// every instance reads one clock). ARGV: emission interval T (us), burst tau (us), units wanted,
// correction (units to count, or to give back when negative). Grants min(wanted, room) and
// returns {granted, room left, us until one more unit when short}. The key expires once the TAT
// is in the past (a full cell needs no key).
constexpr const char* kLeaseSource = R"lua(
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
local interval = tonumber(ARGV[1])
local tau = tonumber(ARGV[2])
local want = tonumber(ARGV[3])
local correction = tonumber(ARGV[4])
local tat = tonumber(redis.call('GET', KEYS[1]) or now)
if tat < now then tat = now end
if correction > 0 then
  tat = tat + correction * interval
elseif correction < 0 then
  tat = math.max(now, tat + correction * interval)
end
local room = math.floor((now + tau - tat) / interval)
if room < 0 then room = 0 end
local granted = math.min(want, room)
tat = tat + granted * interval
local retry = 0
if granted < want then
  retry = math.max(0, tat + interval - tau - now)
end
redis.call('SET', KEYS[1], string.format('%d', tat), 'PX', math.ceil((tat - now) / 1000) + 1000)
return {granted, room - granted, retry}
)lua";

const shared::RedisScript& LeaseScript() {
  static const shared::RedisScript script(kLeaseSource);
  return script;
}

constexpr char kAvailableHelp[] =
    "1 while rate limits are shared through Redis, 0 while they fall back to local shares";
constexpr char kLateHelp[] =
    "Leases in flight longer than the Redis timeout (their cells were decided by the local "
    "shares meanwhile)";

}  // namespace

RedisRateStore::RedisRateStore(RedisRateStoreOptions options, observability::Registry* registry,
                               const Clock& clock)
    : options_(std::move(options)), clock_(clock), work_(asio::make_work_guard(io_)) {
  if (registry != nullptr) {
    available_gauge_ = registry->GetGauge("infergate_shared_state_available", kAvailableHelp);
    late_counter_ = registry->GetCounter("infergate_shared_state_late_leases_total", kLateHelp);
  }
  client_ = shared::RedisClient::Create(io_.get_executor(), options_.redis);
  asio::post(io_, [this] {
    client_->Start();
    asio::co_spawn(io_, Watch(), asio::detached);
  });
  target_->store = this;
  thread_ = std::thread([this] { io_.run(); });
}

RedisRateStore::~RedisRateStore() {
  {
    std::lock_guard lock(target_->mu);
    target_->store = nullptr;
  }
  asio::post(io_, [this] {
    client_->Close();
    io_.stop();
  });
  thread_.join();
}

std::string RedisRateStore::RedisKey(const std::string& key) const {
  std::string out = options_.prefix + key;
  for (size_t i = options_.prefix.size(); i < out.size(); ++i) {
    if (out[i] == '/') out[i] = ':';
  }
  return out;
}

std::shared_ptr<RateCell> RedisRateStore::Cell(const std::string& key, const Rate& rate) {
  std::lock_guard lock(mu_);
  std::shared_ptr<LeasedCell> live = cells_[key].lock();
  if (live) {
    if (!(live->rate() == rate)) live->SetRate(rate);
    return live;
  }
  for (auto it = cells_.begin(); it != cells_.end();) {
    it = it->second.expired() && it->first != key ? cells_.erase(it) : std::next(it);
  }
  // Wakes are rare (one per half batch): the target's mutex is held only to post.
  // A lease in flight longer than the Redis timeout is late: its cell's local share decides.
  live = std::make_shared<LeasedCell>(
      key, rate, options_.local_share,
      [target = target_](std::weak_ptr<LeasedCell> c) {
        std::lock_guard lock(target->mu);
        if (target->store != nullptr) target->store->Wake(std::move(c));
      },
      options_.redis.timeout);
  cells_[key] = live;
  return live;
}

void RedisRateStore::Wake(std::weak_ptr<LeasedCell> cell) {
  asio::co_spawn(io_, Refill(std::move(cell)), asio::detached);
}

asio::awaitable<void> RedisRateStore::Refill(std::weak_ptr<LeasedCell> weak) {
  std::shared_ptr<LeasedCell> cell = weak.lock();
  if (!cell) co_return;
  const LeaseRequest asked = cell->BeginLease();
  if (!client_->available()) {
    cell->OnLeaseFailed(clock_.Now(), options_.retry_in);
    NoteDown("not connected");
    co_return;
  }
  const Rate rate = cell->rate();
  const int64_t period_us =
      std::chrono::duration_cast<std::chrono::microseconds>(rate.period).count();
  const int64_t interval = std::max<int64_t>(1, period_us / static_cast<int64_t>(rate.amount));
  std::vector<std::string> keys;
  keys.push_back(RedisKey(cell->key()));
  std::vector<std::string> args;
  args.push_back(std::to_string(interval));
  args.push_back(std::to_string(interval * static_cast<int64_t>(rate.amount)));
  args.push_back(std::to_string(asked.want));
  args.push_back(std::to_string(asked.correction));
  const TimePoint deadline = std::chrono::steady_clock::now() + options_.redis.timeout;
  shared::RedisResult result = co_await shared::EvalScript(*client_, LeaseScript(), std::move(keys),
                                                           std::move(args), deadline);
  const RedisReply* reply = result.ok() ? &*result : nullptr;
  const bool shaped =
      reply != nullptr && reply->type == RedisReply::Type::kArray && reply->elements.size() == 3;
  if (!shaped) {
    cell->OnLeaseFailed(clock_.Now(), options_.retry_in);
    NoteDown(result.ok() ? "unexpected reply to the lease script"
                         : std::string(shared::RedisErrorKindName(result.error().kind)) + ": " +
                               result.error().message);
    co_return;
  }
  Lease lease;
  lease.granted = static_cast<uint64_t>(std::max<long long>(0, reply->elements[0].integer));
  lease.room = static_cast<uint64_t>(std::max<long long>(0, reply->elements[1].integer));
  lease.retry_after = std::chrono::microseconds(reply->elements[2].integer);
  const TimePoint now = clock_.Now();
  const Duration took = now - cell->lease_began();
  cell->OnLease(asked, lease, now);
  NoteUp();
  if (took >= options_.redis.timeout) NoteLate(took);
}

void RedisRateStore::NoteLate(Duration took) {
  if (late_counter_ != nullptr) late_counter_->Inc();
  const TimePoint now = clock_.Now();
  if (last_late_warning_ && now - *last_late_warning_ < options_.warn_interval) return;
  last_late_warning_ = now;
  IG_WARN(
      "shared_state: a lease took %s (Redis timeout %s): requests past its cell's allowance "
      "were decided by this instance's local share (%.0f%%) meanwhile",
      FormatDuration(took).c_str(), FormatDuration(options_.redis.timeout).c_str(),
      options_.local_share * 100);
}

// The metric follows the connection too while no cell leases (an idle gateway). A first connect
// still in progress is not a failure (no warning at every start).
asio::awaitable<void> RedisRateStore::Watch() {
  asio::steady_timer timer(io_);
  while (!io_.stopped()) {
    if (client_->state() == shared::RedisState::kBroken) {
      NoteDown(client_->last_error().message.empty() ? "not connected"
                                                     : client_->last_error().message);
    } else if (client_->available() && !available()) {
      NoteUp();
    }
    timer.expires_after(std::chrono::seconds(1));
    boost::system::error_code ec;
    co_await timer.async_wait(asio::redirect_error(asio::use_awaitable, ec));
    if (ec) co_return;
  }
}

void RedisRateStore::NoteUp() {
  if (up_.exchange(true, std::memory_order_acq_rel)) return;
  // Cells on the fallback lease now, before the metric says Redis is back.
  std::vector<std::shared_ptr<LeasedCell>> cells;
  {
    std::lock_guard lock(mu_);
    for (auto& [key, weak] : cells_) {
      if (std::shared_ptr<LeasedCell> cell = weak.lock()) cells.push_back(std::move(cell));
    }
  }
  for (const auto& cell : cells) cell->Rejoin(clock_.Now());
  if (available_gauge_ != nullptr) available_gauge_->Add(1);
  if (last_warning_) IG_INFO("shared_state: Redis reachable again: rate limits are shared");
}

void RedisRateStore::NoteDown(const std::string& why) {
  if (up_.exchange(false, std::memory_order_acq_rel) && available_gauge_ != nullptr) {
    available_gauge_->Add(-1);
  }
  const TimePoint now = clock_.Now();
  if (last_warning_ && now - *last_warning_ < options_.warn_interval) return;
  last_warning_ = now;
  IG_WARN("shared_state: Redis unreachable (%s): rate limits enforced locally, %.0f%% of each",
          why.c_str(), options_.local_share * 100);
}

}  // namespace infergate::isolation
