// The TLS byte stream: Asio's SSL stream behind the ByteStream interface.
#include "infergate/tls/stream.h"

#include <openssl/x509v3.h>

#include "infergate/http/asio_byte_stream.h"

namespace infergate::tls {

std::unique_ptr<http::ByteStream> MakeTlsByteStream(TlsSocket stream,
                                                    std::vector<std::string> peer_names) {
  return std::make_unique<http::AsioByteStream<TlsSocket>>(std::move(stream),
                                                           std::move(peer_names));
}

namespace {

void Keep(std::vector<std::string>& out, const unsigned char* data, int length) {
  if (data == nullptr || length <= 0 || static_cast<size_t>(length) > kMaxPeerNameLength) return;
  if (out.size() >= kMaxPeerNames) return;
  out.emplace_back(reinterpret_cast<const char*>(data), static_cast<size_t>(length));
}

}  // namespace

std::vector<std::string> PeerCertificateNames(const SSL* ssl) {
  std::vector<std::string> out;
  X509* cert = SSL_get0_peer_certificate(ssl);
  if (cert == nullptr) return out;
  X509_NAME* subject = X509_get_subject_name(cert);
  for (int i = X509_NAME_get_index_by_NID(subject, NID_commonName, -1); i >= 0;
       i = X509_NAME_get_index_by_NID(subject, NID_commonName, i)) {
    ASN1_STRING* cn = X509_NAME_ENTRY_get_data(X509_NAME_get_entry(subject, i));
    unsigned char* utf8 = nullptr;
    const int n = ASN1_STRING_to_UTF8(&utf8, cn);
    Keep(out, utf8, n);
    OPENSSL_free(utf8);
  }
  auto* sans =
      static_cast<GENERAL_NAMES*>(X509_get_ext_d2i(cert, NID_subject_alt_name, nullptr, nullptr));
  for (int type : {GEN_DNS, GEN_URI, GEN_EMAIL}) {
    for (int i = 0; i < sk_GENERAL_NAME_num(sans); ++i) {
      const GENERAL_NAME* g = sk_GENERAL_NAME_value(sans, i);
      if (g->type != type) continue;
      const ASN1_IA5STRING* s = g->d.ia5;  // dNSName, uniformResourceIdentifier, rfc822Name
      Keep(out, ASN1_STRING_get0_data(s), ASN1_STRING_length(s));
    }
  }
  GENERAL_NAMES_free(sans);
  return out;
}

}  // namespace infergate::tls
