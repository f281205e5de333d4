// State that outlives a config snapshot is kept by identity, not by position: a backend's state
// by pool name and backend name, a pool's retry budget by pool name (while its settings stay).
#include <gtest/gtest.h>

#include <boost/asio/io_context.hpp>

#include <string>

#include "infergate/upstream/health_controller.h"
#include "infergate/upstream/pool.h"

namespace infergate::upstream {
namespace {

std::shared_ptr<const config::Config> Load(const std::string& pools) {
  auto loaded = config::LoadConfigString(
      "listeners:\n  - {name: public, listen: \"127.0.0.1:0\"}\npools:\n" + pools +
          "routes:\n  - {name: r, match: {path_prefix: /}, to: a}\n",
      "t.yaml");
  EXPECT_TRUE(loaded.ok());
  return *loaded;
}

TEST(BackendRegistry, KeepsEachBackendsStateByPoolAndBackendName) {
  auto one = Load(
      "  - {name: a, backends: [http://127.0.0.1:9001, http://127.0.0.1:9002]}\n"
      "  - {name: b, backends: [http://127.0.0.1:9003]}\n");
  // Pools and backends reordered, one backend added, one removed.
  auto two = Load(
      "  - {name: b, backends: [http://127.0.0.1:9004, http://127.0.0.1:9003]}\n"
      "  - {name: a, backends: [http://127.0.0.1:9002]}\n");
  BackendRegistry first(*one, 1);
  BackendRegistry second(*two, 1, &first);
  EXPECT_EQ(&second.state(0, 1), &first.state(1, 0));  // b / 127.0.0.1:9003
  EXPECT_EQ(&second.state(1, 0), &first.state(0, 1));  // a / 127.0.0.1:9002
  EXPECT_NE(&second.state(0, 0), &first.state(0, 0));  // new backend: new state
  BackendRegistry fresh(*two, 1);
  EXPECT_NE(&fresh.state(0, 1), &first.state(1, 0));
}

TEST(PoolStateRegistry, KeepsTheRetryBudgetByPoolNameWhileItsSettingsStay) {
  auto one = Load("  - {name: a, backends: [http://127.0.0.1:9001]}\n");
  auto same = Load("  - {name: a, backends: [http://127.0.0.1:9002]}\n");
  auto changed = Load(
      "  - name: a\n    backends: [http://127.0.0.1:9001]\n"
      "    retry_budget: {budget_percent: 50}\n");
  boost::asio::io_context io;
  PoolStateRegistry states;
  UpstreamSet first(*one, io.get_executor(), nullptr, nullptr, &states);
  UpstreamSet second(*same, io.get_executor(), nullptr, nullptr, &states);
  UpstreamSet third(*changed, io.get_executor(), nullptr, nullptr, &states);
  first.pool(0).retry_budget().RequestStarted();
  EXPECT_EQ(&first.pool(0).retry_budget(), &second.pool(0).retry_budget());
  EXPECT_NE(&first.pool(0).retry_budget(), &third.pool(0).retry_budget());
  first.pool(0).retry_budget().RequestEnded();
}

}  // namespace
}  // namespace infergate::upstream
