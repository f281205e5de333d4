// Throwaway certificates for TLS integration tests, made with the openssl command: a CA per
// Pki object, a "localhost" server certificate signed by it, and more leaves on demand.
// Nothing is committed; everything lives in a temp directory removed with the object.
#pragma once

#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "support/process.h"
#include "support/test_env.h"

namespace infergate::testing {

// Runs a program to its end: its exit status and output, or nullopt when it is not installed.
inline std::optional<std::pair<int, std::string>> RunTool(const std::vector<std::string>& argv) {
  auto p = Process::Start(argv);
  if (!p) return std::nullopt;
  const int rc = p->Wait(std::chrono::seconds(60)).value_or(-1);
  return std::make_pair(rc, p->Output());
}

class Pki {
 public:
  struct Leaf {
    std::string cert, key;
  };

  // A CA and a certificate for "localhost" signed by it, EC P-256, valid for a day.
  Pki() {
    const std::string d = dir_.path();
    ca = d + "/ca.crt";
    ok_ =
        Ok({"openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256",
            "-nodes", "-keyout", d + "/ca.key", "-out", ca, "-subj", "/CN=test-ca", "-days", "1"});
    std::optional<Leaf> srv = ok_ ? Issue("srv", "localhost", "DNS:localhost") : std::nullopt;
    ok_ = srv.has_value();
    if (srv) {
      cert = srv->cert;
      key = srv->key;
    }
  }
  bool ok() const { return ok_; }

  // Another leaf signed by this CA: subject CN `cn`, subjectAltName `san` (e.g.
  // "DNS:a.test,URI:spiffe://x"), files named after `name`.
  std::optional<Leaf> Issue(const std::string& name, const std::string& cn,
                            const std::string& san) {
    const std::string d = dir_.path();
    Leaf out{d + "/" + name + ".crt", d + "/" + name + ".key"};
    const std::string ext = dir_.WriteFile(name + ".cnf", "subjectAltName=" + san + "\n");
    const bool made =
        Ok({"openssl", "req", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
            "-keyout", out.key, "-out", d + "/" + name + ".csr", "-subj", "/CN=" + cn}) &&
        Ok({"openssl", "x509", "-req", "-in", d + "/" + name + ".csr", "-CA", ca, "-CAkey",
            d + "/ca.key", "-CAcreateserial", "-out", out.cert, "-days", "1", "-extfile", ext});
    if (!made) return std::nullopt;
    return out;
  }

  std::string ca, cert, key;
  TempDir dir_;

 private:
  static bool Ok(const std::vector<std::string>& argv) {
    auto r = RunTool(argv);
    return r && r->first == 0;
  }
  bool ok_ = false;
};

}  // namespace infergate::testing
