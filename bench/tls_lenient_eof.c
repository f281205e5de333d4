// bench/tls_lenient_eof.c: an LD_PRELOAD shim for the tls scenario (bench/tls.sh). It sets
// SSL_OP_IGNORE_UNEXPECTED_EOF on every SSL_CTX the program makes, so `openssl s_time` treats a
// server's close without a TLS close_notify alert as the end of the response (what browsers and
// most HTTP clients do, and what `openssl s_client -ignore_unexpected_eof` does) instead of a
// fatal error; OpenSSL drops a session after a fatal error, so without the shim a server that
// does not send close_notify is never resumed by s_time -reuse. bench/tls.sh builds it with cc
// into its scratch directory and also reports what a client without it gets.
#define _GNU_SOURCE
#include <dlfcn.h>
#include <openssl/ssl.h>

SSL_CTX* SSL_CTX_new(const SSL_METHOD* method) {
  static SSL_CTX* (*real)(const SSL_METHOD*) = NULL;
  if (real == NULL) real = (SSL_CTX * (*)(const SSL_METHOD*)) dlsym(RTLD_NEXT, "SSL_CTX_new");
  SSL_CTX* ctx = real(method);
  if (ctx != NULL) SSL_CTX_set_options(ctx, SSL_OP_IGNORE_UNEXPECTED_EOF);
  return ctx;
}
