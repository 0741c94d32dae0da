#include "tavce/metrics/lip_closure.h"

#include <algorithm>
#include <cmath>
#include <fstream>
#include <limits>
#include <sstream>

#include "tavce/error.h"

namespace tavce::metrics {

std::vector<AlignedWord> read_align(const std::string& path) {
  std::ifstream in(path);
  if (!in) throw Error("cannot read word timings '" + path + "'");
  std::vector<AlignedWord> words;
  std::string line;
  int number = 0;
  while (std::getline(in, line)) {
    ++number;
    if (line.find_first_not_of(" \t\r") == std::string::npos) continue;
    std::istringstream fields(line);
    double start = 0, end = 0;
    std::string word;
    if (!(fields >> start >> end >> word) || start < 0 || end < start)
      throw Error(path + ":" + std::to_string(number) + ": expected 'START END WORD' (1/25000 s, START <= END), got '" +
                  line + "'");
    words.push_back({start / 25000.0, end / 25000.0, word});
  }
  return words;
}

bool starts_bilabial(const std::string& word) {
  if (word.empty() || word == "m" || word == "sil" || word == "sp") return false;
  const char c = static_cast<char>(std::tolower(static_cast<unsigned char>(word[0])));
  return c == 'p' || c == 'b' || c == 'm';
}

std::vector<ClosureResult> bilabial_closures(const std::vector<AlignedWord>& words, const std::vector<double>& opening,
                                             double fps, double threshold) {
  std::vector<ClosureResult> out;
  const int frames = static_cast<int>(opening.size());
  for (const auto& w : words) {
    if (!starts_bilabial(w.word)) continue;
    ClosureResult r;
    r.word = w.word;
    r.first_frame = std::max(0, static_cast<int>(std::floor(w.start * fps)) - 2);
    r.last_frame = std::min(frames - 1, static_cast<int>(std::floor((w.start + kFirstPhonemeSeconds) * fps)));
    if (r.first_frame > r.last_frame) continue;  // past the end of the series
    r.min_opening = std::numeric_limits<double>::quiet_NaN();
    for (int t = r.first_frame; t <= r.last_frame; ++t)
      if (std::isfinite(opening[t]) && !(opening[t] >= r.min_opening)) r.min_opening = opening[t];
    r.closed = std::isfinite(r.min_opening) && r.min_opening < threshold;
    out.push_back(r);
  }
  return out;
}

}  // namespace tavce::metrics
