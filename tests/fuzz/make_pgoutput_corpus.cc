// Writes the libFuzzer seed corpus for pgoutput_decoder_fuzz from the golden
// files: each message as its own seed, and each golden file as one sequence of
// messages joined by "\n--\n" (the separator the fuzz target splits on).
//   make_pgoutput_corpus <tests/testdata/pgoutput> <corpus dir>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <string>

namespace fs = std::filesystem;

int main(int argc, char** argv) {
  if (argc != 3) {
    std::cerr << "usage: make_pgoutput_corpus <golden dir> <corpus dir>\n";
    return 2;
  }
  fs::create_directories(argv[2]);
  for (const auto& entry : fs::directory_iterator(argv[1])) {
    if (entry.path().extension() != ".hex") continue;
    const std::string name = entry.path().stem().string();
    std::ifstream in(entry.path());
    std::string line, sequence;
    int index = 0;
    while (std::getline(in, line)) {
      line = line.substr(0, line.find('#'));
      while (!line.empty() && line.back() == ' ') line.pop_back();
      if (line.empty()) continue;
      std::string bytes;
      for (size_t i = 0; i + 1 < line.size(); i += 2) {
        bytes.push_back(static_cast<char>(std::stoi(line.substr(i, 2), nullptr, 16)));
      }
      std::ofstream(fs::path(argv[2]) / (name + "_" + std::to_string(index++)), std::ios::binary)
          << bytes;
      if (!sequence.empty()) sequence += "\n--\n";
      sequence += bytes;
    }
    std::ofstream(fs::path(argv[2]) / (name + "_sequence"), std::ios::binary) << sequence;
  }
  return 0;
}
