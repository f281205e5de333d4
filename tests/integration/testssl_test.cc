// Integration: testssl.sh (Debian's package installs it as `testssl`) scans a TLS listener of the
// real binary, once with an ECDSA P-256 certificate and once with an RSA 2048 one, and no finding
// may be rated HIGH or CRITICAL. The offending findings are printed with their ids.
//
// The certificate is shaped like one a public CA issues (valid 90 days, a SAN for the scanned
// name, key usage, serverAuth, a CRL distribution point) and its throwaway CA is given to
// testssl with --add-ca: testssl rates a certificate's own properties (a short life, no
// revocation URI, an untrusted issuer) HIGH or CRITICAL, and those belong to whoever brings the
// certificate. What is left measures infergate's TLS settings. The CRL address is never fetched
// (testssl goes to the network only with --phone-out).
//
// The scan is testssl's default run less its two informational parts: -e (each of ~370
// ciphers, listed as INFO; the cipher categories of -s and the forward-secrecy check of -f find
// the weak ones) and -c (client simulations, INFO only), which take some 40% of its time (the
// default run takes about 75 s on two idle cores, this one about 40 s; tests/CMakeLists.txt gives
// these two tests a longer timeout than the other integration tests). What runs: protocols (-p),
// cipher categories (-s), forward secrecy (-f), server cipher order (-P), server defaults and
// the certificate (-S), HTTP headers (-h) and every vulnerability check (-U: Heartbleed, CCS,
// Ticketbleed, ROBOT, renegotiation, CRIME, BREACH, POODLE, fallback SCSV, SWEET32, FREAK, DROWN,
// LOGJAM, BEAST, LUCKY13, RC4). testssl's own sockets are used (not --fast, which falls back to
// the local openssl and so cannot offer the old ciphers Debian's openssl lacks).
// The same command, with the listener's own name and port, is in README ("testssl.sh").
#include <gtest/gtest.h>
#include <unistd.h>

#include <cstdlib>
#include <fstream>
#include <iostream>
#include <map>
#include <memory>
#include <optional>
#include <sstream>
#include <string>
#include <vector>

#include "support/gateway.h"
#include "support/json.h"
#include "support/process.h"
#include "support/test_env.h"

namespace infergate::testing {
namespace {

using namespace std::chrono_literals;

// The testssl script on PATH ("testssl" from Debian's package, "testssl.sh" upstream), or "".
std::string FindTestssl() {
  const char* path = std::getenv("PATH");
  std::stringstream dirs(path != nullptr ? path : "/usr/bin:/bin");
  std::string dir;
  while (std::getline(dirs, dir, ':')) {
    for (const char* name : {"testssl", "testssl.sh"}) {
      const std::string candidate = (dir.empty() ? "." : dir) + "/" + name;
      if (::access(candidate.c_str(), X_OK) == 0) return candidate;
    }
  }
  return "";
}

bool Run(const std::vector<std::string>& argv) {
  auto p = Process::Start(argv);
  if (!p) return false;
  const bool ok = p->Wait(60s).value_or(-1) == 0;
  if (!ok) std::cerr << argv[0] << " failed:\n" << p->Output() << "\n";
  return ok;
}

// A throwaway CA and a "localhost" server certificate it signed, both of one key type.
struct Certificate {
  std::string ca, cert, key;
  TempDir dir;

  // `key_args` are openssl req's -newkey arguments, e.g. {"ec", "-pkeyopt", "..."}.
  bool Make(const std::vector<std::string>& key_args, const std::string& key_usage) {
    const std::string d = dir.path();
    ca = d + "/ca.crt";
    cert = d + "/srv.crt";
    key = d + "/srv.key";
    const std::string ext =
        dir.WriteFile("ext.cnf",
                      "basicConstraints=critical,CA:FALSE\n"
                      "subjectAltName=DNS:localhost\n"
                      "keyUsage=critical," +
                          key_usage + "\n" +
                          "extendedKeyUsage=serverAuth\n"
                          "crlDistributionPoints=URI:http://localhost/test-ca.crl\n");
    std::vector<std::string> ca_req = {"openssl", "req", "-x509", "-newkey"};
    ca_req.insert(ca_req.end(), key_args.begin(), key_args.end());
    ca_req.insert(ca_req.end(), {"-nodes", "-keyout", d + "/ca.key", "-out", ca, "-subj",
                                 "/CN=infergate test CA", "-days", "365"});
    std::vector<std::string> srv_req = {"openssl", "req", "-newkey"};
    srv_req.insert(srv_req.end(), key_args.begin(), key_args.end());
    srv_req.insert(srv_req.end(),
                   {"-nodes", "-keyout", key, "-out", d + "/srv.csr", "-subj", "/CN=localhost"});
    return Run(ca_req) && Run(srv_req) &&
           Run({"openssl", "x509", "-req", "-in", d + "/srv.csr", "-CA", ca, "-CAkey",
                d + "/ca.key", "-CAcreateserial", "-sha256", "-out", cert, "-days", "90",
                "-extfile", ext});
  }
};

std::string Yaml(const Certificate& c) {
  return "listeners:\n  - name: public\n    listen: 127.0.0.1:0\n"
         "    tls:\n      certificates: [{certificate: " +
         c.cert + ", private_key: " + c.key +
         "}]\n"
         "pools:\n  - name: main\n    backends: [http://127.0.0.1:" +
         std::to_string(RefusingPort()) +
         "]\n    health_check: {enabled: false}\n"
         "routes:\n  - {name: chat, match: {path_prefix: /v1/}, to: main}\n";
}

std::string ReadFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

// The scan (see the top of this file); README gives the same command.
constexpr const char* kOptions =
    "--quiet --color 0 --warnings batch --nodns none --ip 127.0.0.1 -p -s -f -P -S -h -U";

struct Finding {
  std::string id, severity, text;
};

void Scan(const std::vector<std::string>& key_args, const std::string& key_usage) {
  const std::string testssl = FindTestssl();
  if (testssl.empty()) GTEST_SKIP() << "testssl.sh is not installed (Debian package testssl.sh)";
  Certificate c;
  if (!c.Make(key_args, key_usage)) GTEST_SKIP() << "the openssl command is not installed";
  std::string why;
  auto gw = Gateway::Start(Yaml(c), {}, &why);
  ASSERT_TRUE(gw) << why;

  TempDir out;
  const std::string json = out.path() + "/testssl.json";
  // Scanned by name, so the SNI and the certificate's name agree; --ip and --nodns none keep
  // it off DNS and on loopback; --warnings batch never waits for an answer.
  std::vector<std::string> argv = {testssl};
  std::istringstream options(kOptions);
  for (std::string o; options >> o;) argv.push_back(o);
  argv.insert(argv.end(),
              {"--add-ca", c.ca, "--jsonfile", json, "localhost:" + std::to_string(gw->port())});
  auto scan = Process::Start(argv);
  ASSERT_TRUE(scan);
  const std::optional<int> rc = scan->Wait(240s);
  ASSERT_TRUE(rc) << "testssl did not finish within 240 s:\n" << scan->Output();
  // 240 and above: testssl itself failed (command line, openssl, connect); below, the count of
  // checks that could not complete, which the findings below say more about.
  ASSERT_LT(*rc, 240) << scan->Output();
  EXPECT_TRUE(gw->process().Running()) << gw->process().Output();

  const std::string doc = ReadFile(json);
  const std::optional<size_t> n = JsonSize(doc, "");
  ASSERT_TRUE(n) << "no JSON from testssl in " << json << ":\n" << scan->Output();
  std::map<std::string, Finding> by_id;
  std::string bad, notable;
  for (size_t i = 0; i < *n; ++i) {
    const std::string at = "/" + std::to_string(i);
    Finding f{JsonString(doc, at + "/id").value_or("?"),
              JsonString(doc, at + "/severity").value_or("?"),
              JsonString(doc, at + "/finding").value_or("")};
    const std::string line = "  " + f.severity + " " + f.id + ": " + f.text + "\n";
    if (f.severity == "HIGH" || f.severity == "CRITICAL" || f.severity == "FATAL") {
      bad += line;
    } else if (f.severity == "MEDIUM" || f.severity == "LOW" || f.severity == "WARN") {
      notable += line;
    }
    by_id.emplace(f.id, std::move(f));
  }
  EXPECT_EQ(bad, "") << "testssl findings rated HIGH or CRITICAL:\n"
                     << bad << "full report:\n"
                     << scan->Output();
  std::cout << "testssl: " << *n << " findings; rated MEDIUM or LOW, and warnings:\n" << notable;
  // The scan did run the checks that matter (a scan that could not connect reports little).
  for (const char* id :
       {"TLS1_2", "TLS1_3", "cipherlist_NULL", "cipher_order", "cert_chain_of_trust", "heartbleed",
        "ROBOT", "secure_client_renego", "CRIME_TLS", "LUCKY13"}) {
    EXPECT_TRUE(by_id.count(id)) << "testssl reported nothing for " << id << ":\n"
                                 << scan->Output();
  }
  // What README promises and testssl rates below HIGH (it calls TLS 1.0 and 1.1 or CBC suites
  // offered LOW): the old protocols and the non-AEAD suites are not offered.
  for (const char* id :
       {"SSLv2", "SSLv3", "TLS1", "TLS1_1", "cipherlist_3DES_IDEA", "cipherlist_AVERAGE"}) {
    auto it = by_id.find(id);
    EXPECT_TRUE(it != by_id.end() && it->second.text.rfind("not offered", 0) == 0)
        << id << ": " << (it == by_id.end() ? "not reported" : it->second.text);
  }
}

TEST(Testssl, EcdsaListenerHasNoHighOrCriticalFinding) {
  Scan({"ec", "-pkeyopt", "ec_paramgen_curve:P-256"}, "digitalSignature");
}

TEST(Testssl, RsaListenerHasNoHighOrCriticalFinding) {
  Scan({"rsa:2048"}, "digitalSignature,keyEncipherment");
}

}  // namespace
}  // namespace infergate::testing
