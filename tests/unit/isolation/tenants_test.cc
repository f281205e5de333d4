// Tenant identification: the SHA-256 test vectors, bearer parsing (scheme case, spaces, other
// schemes), key lookup, the trusted header as a fallback, and precedence of the key.
#include "infergate/isolation/tenants.h"

#include <gtest/gtest.h>

#include <atomic>
#include <cctype>
#include <string>
#include <thread>
#include <vector>

namespace infergate::isolation {
namespace {

TEST(Sha256Hex, KnownVectors) {
  EXPECT_EQ(Sha256Hex("abc"), "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
  EXPECT_EQ(Sha256Hex(""), "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
  EXPECT_EQ(Sha256Hex("abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq"),
            "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1");
}

TEST(Sha256Hex, SameResultFromManyThreads) {
  std::vector<std::thread> threads;
  std::atomic<int> wrong{0};
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&] {
      for (int i = 0; i < 500; ++i) {
        if (Sha256Hex("abc") !=
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad") {
          wrong.fetch_add(1);
        }
      }
    });
  }
  for (auto& th : threads) th.join();
  EXPECT_EQ(wrong.load(), 0);
}

config::Config TwoTenants() {
  config::Config c;
  config::TenantConfig acme;
  acme.name = "acme";
  acme.api_key_sha256 = {Sha256Hex("key-acme-1"), Sha256Hex("key-acme-2")};
  acme.tier = 0;
  config::TenantConfig globex;
  globex.name = "globex";
  std::string upper = Sha256Hex("key-globex");
  for (char& ch : upper) ch = static_cast<char>(std::toupper(static_cast<unsigned char>(ch)));
  globex.api_key_sha256 = {upper};  // tolerated, though the config writes lower case
  globex.tier = 1;
  config::TenantConfig initech;  // named by the header only
  initech.name = "initech";
  c.tenants = {acme, globex, initech};
  return c;
}

TEST(TenantTable, IdentifiesByBearerKey) {
  const TenantTable table(TwoTenants());
  EXPECT_FALSE(table.empty());
  TenantLookup r = table.Identify("Bearer key-acme-1", "");
  EXPECT_EQ(r.tenant, 0u);
  EXPECT_TRUE(r.key_presented);
  EXPECT_EQ(table.Identify("Bearer key-acme-2", "").tenant, 0u);
  EXPECT_EQ(table.Identify("Bearer key-globex", "").tenant, 1u);
}

TEST(TenantTable, SchemeIsCaseInsensitiveAndSpacesAreTrimmed) {
  const TenantTable table(TwoTenants());
  EXPECT_EQ(table.Identify("bearer key-acme-1", "").tenant, 0u);
  EXPECT_EQ(table.Identify("BEARER key-acme-1", "").tenant, 0u);
  EXPECT_EQ(table.Identify("  Bearer   key-acme-1  ", "").tenant, 0u);
  EXPECT_EQ(table.Identify("Bearer\tkey-acme-1", "").tenant, 0u);
}

TEST(TenantTable, KeyIsCaseSensitive) {
  const TenantTable table(TwoTenants());
  TenantLookup r = table.Identify("Bearer KEY-ACME-1", "");
  EXPECT_FALSE(r.tenant.has_value());
  EXPECT_TRUE(r.key_presented);
}

TEST(TenantTable, OtherSchemesAreNotKeys) {
  const TenantTable table(TwoTenants());
  for (const char* header : {"", "Basic a2V5LWFjbWUtMQ==", "Bearerkey-acme-1", "key-acme-1"}) {
    TenantLookup r = table.Identify(header, "");
    EXPECT_FALSE(r.tenant.has_value()) << header;
    EXPECT_FALSE(r.key_presented) << header;
  }
}

TEST(TenantTable, UnknownOrEmptyKeyIsPresentedButUnmatched) {
  const TenantTable table(TwoTenants());
  for (const char* header : {"Bearer nope", "Bearer", "Bearer   "}) {
    TenantLookup r = table.Identify(header, "");
    EXPECT_FALSE(r.tenant.has_value()) << header;
    EXPECT_TRUE(r.key_presented) << header;
  }
}

TEST(TenantTable, HeaderNamesTheTenantWhenNoKeyMatched) {
  const TenantTable table(TwoTenants());
  EXPECT_EQ(table.Identify("", "initech").tenant, 2u);
  EXPECT_EQ(table.Identify("", "globex").tenant, 1u);
  EXPECT_FALSE(table.Identify("", "nobody").tenant.has_value());
  EXPECT_FALSE(table.Identify("", "Initech").tenant.has_value());  // names are exact
  TenantLookup r = table.Identify("Bearer nope", "initech");
  EXPECT_EQ(r.tenant, 2u);
  EXPECT_TRUE(r.key_presented);
}

TEST(TenantTable, KnownKeyWinsOverTheHeader) {
  const TenantTable table(TwoTenants());
  EXPECT_EQ(table.Identify("Bearer key-acme-1", "globex").tenant, 0u);
}

TEST(TenantTable, CertificateNamesIdentifyAfterAKnownKeyAndBeforeTheHeader) {
  config::Config c = TwoTenants();
  c.tenants[1].certificate_names = {"globex.clients.test", "spiffe://clients.test/globex"};
  c.tenants[2].certificate_names = {"initech-gw"};
  const TenantTable table(c);
  const std::vector<std::string> globex = {"globex-gateway", "spiffe://clients.test/globex"};
  const std::vector<std::string> initech = {"initech-gw", "globex.clients.test"};
  const std::vector<std::string> unknown = {"nobody.test"};
  EXPECT_EQ(table.Identify("", "", globex).tenant, 1u);
  EXPECT_EQ(table.Identify("", "", initech).tenant, 2u);  // the first name that is listed
  EXPECT_FALSE(table.Identify("", "", unknown).tenant.has_value());
  EXPECT_EQ(table.Identify("Bearer key-acme-1", "", globex).tenant, 0u);  // a known key wins
  EXPECT_EQ(table.Identify("Bearer nope", "acme", globex).tenant, 1u);    // over the header
  EXPECT_EQ(table.Identify("", "acme", unknown).tenant, 0u);
}

TEST(TenantTable, EmptyConfigIdentifiesNobody) {
  const TenantTable table(config::Config{});
  EXPECT_TRUE(table.empty());
  TenantLookup r = table.Identify("Bearer key-acme-1", "acme");
  EXPECT_FALSE(r.tenant.has_value());
  EXPECT_TRUE(r.key_presented);
}

}  // namespace
}  // namespace infergate::isolation
