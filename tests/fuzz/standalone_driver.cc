// Runs a libFuzzer target without libFuzzer: every file of its seed corpus
// (tests/fuzz/corpus/<target>/, when present), then N pseudo-random inputs
// derived from the seeds by byte flips, truncation and extension. Makes every
// build, including the sanitizer ones, exercise every decoder.
// `--dump-seeds DIR` writes the code-built seeds as a libFuzzer corpus.
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <random>
#include <string>
#include <vector>

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size);
// Optional: a target may provide seeds built in code.
extern "C" __attribute__((weak)) void NetipcFuzzSeeds(std::vector<std::vector<uint8_t>>* out);

int main(int argc, char** argv) {
  std::vector<std::vector<uint8_t>> seeds;
  if (NetipcFuzzSeeds != nullptr) NetipcFuzzSeeds(&seeds);
  if (argc == 3 && std::string(argv[1]) == "--dump-seeds") {
    // Writes the code-built seeds as a libFuzzer corpus directory.
    std::filesystem::create_directories(argv[2]);
    for (size_t i = 0; i < seeds.size(); ++i) {
      std::ofstream f(std::string(argv[2]) + "/seed-" + std::to_string(i), std::ios::binary);
      f.write(reinterpret_cast<const char*>(seeds[i].data()),
              static_cast<std::streamsize>(seeds[i].size()));
    }
    std::printf("wrote %zu seeds to %s\n", seeds.size(), argv[2]);
    return 0;
  }
  long iterations = argc > 1 ? std::strtol(argv[1], nullptr, 10) : 10000;
  for (int i = 2; i < argc; ++i) {
    std::error_code ec;
    for (const auto& e : std::filesystem::directory_iterator(argv[i], ec)) {
      std::ifstream f(e.path(), std::ios::binary);
      seeds.emplace_back(std::istreambuf_iterator<char>(f), std::istreambuf_iterator<char>());
    }
  }
  if (seeds.empty()) seeds.emplace_back();
  for (const auto& s : seeds) LLVMFuzzerTestOneInput(s.data(), s.size());

  std::mt19937_64 rng(12345);
  std::vector<uint8_t> buf;
  for (long it = 0; it < iterations; ++it) {
    buf = seeds[rng() % seeds.size()];
    int edits = 1 + static_cast<int>(rng() % 8);
    for (int e = 0; e < edits; ++e) {
      switch (rng() % 5) {
        case 0:
          if (!buf.empty()) buf[rng() % buf.size()] ^= static_cast<uint8_t>(1u << (rng() % 8));
          break;
        case 1:
          if (!buf.empty()) buf[rng() % buf.size()] = static_cast<uint8_t>(rng());
          break;
        case 2:
          if (!buf.empty()) buf.resize(rng() % buf.size());
          break;
        case 3:
          buf.push_back(static_cast<uint8_t>(rng()));
          break;
        case 4:
          if (buf.size() >= 4) {
            size_t at = rng() % (buf.size() - 3);
            uint32_t v = (rng() % 2) ? 0xFFFFFFFFu : static_cast<uint32_t>(rng() % 4096);
            for (int k = 0; k < 4; ++k) buf[at + k] = static_cast<uint8_t>(v >> (8 * k));
          }
          break;
      }
    }
    LLVMFuzzerTestOneInput(buf.data(), buf.size());
  }
  std::printf("ran %zu seeds and %ld mutations\n", seeds.size(), iterations);
  return 0;
}
