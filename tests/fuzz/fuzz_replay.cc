// Runs the HTTP/1.1 fuzz drivers without libFuzzer: over each seed corpus plus fixed mutations of
// every seed (cuts, byte edits), or over named files such as a crash input to reproduce.
//   fuzz_replay CORPUS_DIR             CORPUS_DIR/h1_request/*, CORPUS_DIR/h1_response/*
//   fuzz_replay DRIVER FILE...         one driver (h1_request or h1_response) over FILEs
#include <algorithm>
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

namespace {

using Driver = int (*)(const uint8_t*, size_t);

struct NamedDriver {
  std::string_view name;
  Driver fn;
};
constexpr NamedDriver kDrivers[] = {{"h1_request", FuzzH1Request}, {"h1_response", FuzzH1Response}};

constexpr int kMutationsPerSeed = 300;

bool ReadFile(const std::filesystem::path& path, std::string* out) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return false;
  out->assign(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
  return true;
}

void Run(Driver fn, const std::string& input) {
  fn(reinterpret_cast<const uint8_t*>(input.data()), input.size());
}

// Deterministic mutations of `seed`: every prefix, then single-byte edits, insertions of
// characters that matter to HTTP framing, deletions and duplicated spans.
size_t RunMutations(Driver fn, const std::string& seed) {
  size_t runs = 0;
  for (size_t n = 0; n < seed.size(); ++n, ++runs) Run(fn, seed.substr(0, n));
  static constexpr char kInteresting[] = {'\r', '\n', ' ', '\t', ':',  ',',    ';',
                                          '0',  'f',  '-', '"',  '\0', '\x7f', '\xff'};
  uint64_t state = 0x9e3779b97f4a7c15ull ^ seed.size();
  auto next = [&state] {
    state ^= state << 13;
    state ^= state >> 7;
    state ^= state << 17;
    return state;
  };
  for (int i = 0; i < kMutationsPerSeed && !seed.empty(); ++i, ++runs) {
    std::string m = seed;
    size_t at = next() % m.size();
    char c = kInteresting[next() % sizeof(kInteresting)];
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
      runs += 1 + RunMutations(driver.fn, seed);
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
  if (argc == 2) return ReplayCorpus(argv[1]);
  if (argc >= 3) return ReplayFiles(argv[1], argc - 2, argv + 2);
  std::fprintf(stderr,
               "usage: fuzz_replay CORPUS_DIR\n"
               "       fuzz_replay h1_request|h1_response FILE...\n");
  return 2;
}
