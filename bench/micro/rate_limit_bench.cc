// Microbenchmarks of the rate limiter on the request path: one GCRA take (admitted, one thread
// and one cell shared by 2 and 4 threads), a refused take (the cost of a 429's decision), a
// Redis-backed store's take from its leased allowance, and a request's head check through
// RateTicket (the key's and the tenant's cells).
#include <benchmark/benchmark.h>

#include <chrono>
#include <memory>

#include "infergate/core/clock.h"
#include "infergate/isolation/leased_cell.h"
#include "infergate/isolation/rate_limiter.h"
#include "infergate/isolation/rate_store.h"

namespace infergate::isolation {
namespace {

// A limit no benchmark reaches: every take is admitted.
constexpr Rate kHuge{1'000'000'000'000, std::chrono::minutes(1)};

void BM_GcraTakeAdmitted(benchmark::State& state) {
  GcraCell cell(kHuge);
  const TimePoint now = SteadyClock::Instance().Now();
  for (auto _ : state) benchmark::DoNotOptimize(cell.Take(1, now));
}
BENCHMARK(BM_GcraTakeAdmitted);

// One cell shared by every thread (one tenant's requests on several workers).
void BM_GcraTakeShared(benchmark::State& state) {
  static std::unique_ptr<GcraCell> shared;
  if (state.thread_index() == 0) shared = std::make_unique<GcraCell>(kHuge);
  for (auto _ : state) {
    benchmark::DoNotOptimize(shared->Take(1, SteadyClock::Instance().Now()));
  }
}
BENCHMARK(BM_GcraTakeShared)->Threads(2)->Threads(4);

// An exhausted cell: the decision of a refused request (no write).
void BM_GcraTakeRefused(benchmark::State& state) {
  GcraCell cell(Rate{1, std::chrono::minutes(1)});
  const TimePoint now = SteadyClock::Instance().Now();
  cell.Take(1, now);
  for (auto _ : state) benchmark::DoNotOptimize(cell.Take(1, now));
}
BENCHMARK(BM_GcraTakeRefused);

// A Redis-backed store's take (shared_state.redis): spends a leased allowance; the lease source
// here grants every batch at once (the real one runs a script on the store's thread), so this
// is the take plus one lease bookkeeping per half batch.
void BM_LeasedTakeAdmitted(benchmark::State& state) {
  auto cell = std::make_shared<LeasedCell>(
      "tenant/acme/requests", Rate{1'000'000, std::chrono::minutes(1)}, 1.0,
      [](std::weak_ptr<LeasedCell> weak) {
        std::shared_ptr<LeasedCell> c = weak.lock();
        const LeaseRequest asked = c->BeginLease();
        c->OnLease(asked, Lease{asked.want, 1'000'000, {}}, SteadyClock::Instance().Now());
      });
  const TimePoint now = SteadyClock::Instance().Now();
  for (auto _ : state) benchmark::DoNotOptimize(cell->Take(1, now));
}
BENCHMARK(BM_LeasedTakeAdmitted);

// The head check of one request: a key's and a tenant's request cells, and the header values'
// state, through RateTicket (what LimitHead does besides identifying the tenant).
void BM_TicketHeadCheck(benchmark::State& state) {
  LocalRateStore store;
  ScopeLimits key, tenant;
  key.scope = LimitScope::kKey;
  key.name = tenant.name = "acme";
  key.cells[0] = store.Cell("key/k/requests", kHuge);
  tenant.cells[0] = store.Cell("tenant/acme/requests", kHuge);
  const ScopeLimits* scopes[] = {&key, &tenant};
  TenantLimitMetrics metrics;
  RateTicket ticket;
  for (auto _ : state) {
    ticket.Reset();
    benchmark::DoNotOptimize(
        ticket.Take(scopes, LimitKind::kRequests, 1, SteadyClock::Instance().Now(), metrics));
  }
}
BENCHMARK(BM_TicketHeadCheck);

}  // namespace
}  // namespace infergate::isolation
