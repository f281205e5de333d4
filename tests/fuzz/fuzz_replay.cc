// Runs the fuzz drivers without libFuzzer: over each seed corpus plus fixed mutations of every
// seed (cuts, byte edits), or over named files such as a crash input to reproduce.
//   fuzz_replay CORPUS_DIR             CORPUS_DIR/<driver>/* for every driver below
//   fuzz_replay DRIVER FILE...         one driver (h1_request, h1_response, body_fields, config,
//                                      h1_server, answer_relay)
#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <csignal>
#include <cstdint>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <string>
#include <string_view>
#include <vector>

extern "C" int FuzzH1Request(const uint8_t* data, size_t size);
extern "C" int FuzzH1Response(const uint8_t* data, size_t size);
extern "C" int FuzzBodyFields(const uint8_t* data, size_t size);
extern "C" int FuzzConfig(const uint8_t* data, size_t size);
extern "C" int FuzzH1Server(const uint8_t* data, size_t size);
extern "C" int FuzzAnswerRelay(const uint8_t* data, size_t size);

namespace {

using Driver = int (*)(const uint8_t*, size_t);

// A driver, the characters that matter to its input's syntax (inserted and substituted by the
// mutations), how many mutations each seed gets, and at most how many of its prefixes are run
// (evenly spaced; 0 = every prefix). The config loader and the whole server path are slower per
// input, so they get fewer.
struct NamedDriver {
  std::string_view name;
  Driver fn;
  std::string_view interesting;
  int mutations_per_seed;
  size_t max_prefixes;
};
using namespace std::string_view_literals;
constexpr std::string_view kHttpChars = "\r\n \t:,;0f-\"\0\x7f\xff"sv;
constexpr std::string_view kJsonChars = "{}[]\":,\\u0e.-+ \n\0\x7f\xc3\xff"sv;
constexpr std::string_view kYamlChars = "\n\r \t:-[]{},#&*!|>'\"?%@`0~\\\0\xff"sv;
constexpr NamedDriver kDrivers[] = {
    {"h1_request", FuzzH1Request, kHttpChars, 300, 0},
    {"h1_response", FuzzH1Response, kHttpChars, 300, 0},
    {"body_fields", FuzzBodyFields, kJsonChars, 300, 0},
    {"config", FuzzConfig, kYamlChars, 150, 64},
    {"h1_server", FuzzH1Server, kHttpChars, 40, 16},
    {"answer_relay", FuzzAnswerRelay, kJsonChars, 300, 0},
};

bool ReadFile(const std::filesystem::path& path, std::string* out) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return false;
  out->assign(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
  return true;
}

// The input being run, written to kCrashFile when a driver aborts or crashes (a mutation has no
// file of its own).
const std::string* g_current = nullptr;
constexpr char kCrashFile[] = "fuzz_replay-crash.bin";

void OnFatal(int sig) {
  if (g_current) {
    int fd = open(kCrashFile, O_WRONLY | O_CREAT | O_TRUNC, 0644);
    if (fd >= 0) {
      ssize_t ignored = write(fd, g_current->data(), g_current->size());
      (void)ignored;
      close(fd);
      constexpr char kMsg[] = "fuzz_replay: the input is in fuzz_replay-crash.bin\n";
      ignored = write(2, kMsg, sizeof(kMsg) - 1);
    }
  }
  std::signal(sig, SIG_DFL);
  std::raise(sig);
}

void Run(Driver fn, const std::string& input) {
  g_current = &input;
  fn(reinterpret_cast<const uint8_t*>(input.data()), input.size());
  g_current = nullptr;
}

// Deterministic mutations of `seed`: its prefixes, then single-byte edits, insertions of
// characters that matter to the driver's syntax, deletions and duplicated spans.
size_t RunMutations(const NamedDriver& driver, const std::string& seed) {
  const Driver fn = driver.fn;
  size_t runs = 0;
  const size_t step = driver.max_prefixes == 0 ? 1 : 1 + seed.size() / driver.max_prefixes;
  for (size_t n = 0; n < seed.size(); n += step, ++runs) Run(fn, seed.substr(0, n));
  const std::string_view interesting = driver.interesting;
  uint64_t state = 0x9e3779b97f4a7c15ull ^ seed.size();
  auto next = [&state] {
    state ^= state << 13;
    state ^= state >> 7;
    state ^= state << 17;
    return state;
  };
  for (int i = 0; i < driver.mutations_per_seed && !seed.empty(); ++i, ++runs) {
    std::string m = seed;
    size_t at = next() % m.size();
    char c = interesting[next() % interesting.size()];
    switch (next() % 5) {
      case 0:
        m[at] = c;
        break;
      case 1:
        m.insert(m.begin() + static_cast<std::ptrdiff_t>(at), c);
        break;
      case 2:
        m.erase(at, 1 + next() % 4);
        break;
      case 3:
        m[at] = static_cast<char>(next());
        break;
      default: {
        size_t len = 1 + next() % std::min<size_t>(64, m.size() - at);
        m.insert(at, m.substr(at, len));
        break;
      }
    }
    Run(fn, m);
  }
  return runs;
}

int ReplayCorpus(const std::filesystem::path& root) {
  for (const auto& driver : kDrivers) {
    std::filesystem::path dir = root / driver.name;
    std::vector<std::filesystem::path> files;
    std::error_code ec;
    for (const auto& entry : std::filesystem::directory_iterator(dir, ec)) {
      if (entry.is_regular_file()) files.push_back(entry.path());
    }
    if (ec || files.empty()) {
      std::fprintf(stderr, "fuzz_replay: no seed inputs in %s\n", dir.c_str());
      return 1;
    }
    std::sort(files.begin(), files.end());
    size_t runs = 0;
    for (const auto& file : files) {
      std::string seed;
      if (!ReadFile(file, &seed)) {
        std::fprintf(stderr, "fuzz_replay: cannot read %s\n", file.c_str());
        return 1;
      }
      Run(driver.fn, seed);
      runs += 1 + RunMutations(driver, seed);
    }
    std::printf("%.*s: %zu seeds, %zu runs, ok\n", static_cast<int>(driver.name.size()),
                driver.name.data(), files.size(), runs);
  }
  return 0;
}

int ReplayFiles(std::string_view name, int argc, char** argv) {
  for (const auto& driver : kDrivers) {
    if (driver.name != name) continue;
    for (int i = 0; i < argc; ++i) {
      std::string input;
      if (!ReadFile(argv[i], &input)) {
        std::fprintf(stderr, "fuzz_replay: cannot read %s\n", argv[i]);
        return 1;
      }
      Run(driver.fn, input);
      std::printf("%s: ok\n", argv[i]);
    }
    return 0;
  }
  std::fprintf(stderr, "fuzz_replay: unknown driver %.*s\n", static_cast<int>(name.size()),
               name.data());
  return 2;
}

}  // namespace

int main(int argc, char** argv) {
  for (int sig : {SIGABRT, SIGSEGV, SIGBUS, SIGFPE}) std::signal(sig, OnFatal);
  if (argc == 2) return ReplayCorpus(argv[1]);
  if (argc >= 3) return ReplayFiles(argv[1], argc - 2, argv + 2);
  std::fprintf(stderr,
               "usage: fuzz_replay CORPUS_DIR\n"
               "       fuzz_replay h1_request|h1_response|body_fields|config|h1_server FILE...\n");
  return 2;
}
