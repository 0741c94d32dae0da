// Lip closure on bilabial words (/p b m/), for the render evaluation.
//
// GRID's .align files give word timings only (one "START END WORD" line per
// word, START and END in 1/25000 s; "sil" and "sp" are silence). A bilabial
// stop or nasal at a word's start means the lips meet at the start of the
// word, so the *closure window* of such a word is its first phoneme span,
// approximated as the frames from two before the word's start frame to the
// frame holding start + kFirstPhonemeSeconds (a stop's closure and release
// last about 60-120 ms; the frames before absorb alignment jitter). The
// word's *closure* is the smallest mouth opening (metrics/mouth_landmarks.h,
// inner-lip gap / IOD) in its window, and it *passes* when that is below the
// threshold. Words that start with p, b or m in spelling do, except the
// letter "m" (said "em"). Torch-free.
#pragma once

#include <string>
#include <vector>

namespace tavce::metrics {

inline constexpr double kFirstPhonemeSeconds = 0.12;
// Inner-lip gap below which lips count as closed (IOD). dlib's inner-lip
// points rarely meet on real video: GRID speaker 1 reads about 0.02 at rest
// and 0.04-0.06 on the closure of "bin" and "blue" (motion blur at 25 fps),
// so the threshold sits above that; docs/evaluation.md gives the real
// videos' pass rate at it.
inline constexpr double kClosedLipsIod = 0.06;

struct AlignedWord {
  double start = 0, end = 0;  // seconds
  std::string word;
};

// Reads a GRID .align file. Throws tavce::Error naming the file when it
// cannot be read or a line is not "START END WORD" with START <= END.
std::vector<AlignedWord> read_align(const std::string& path);

// The word starts with a bilabial (/p/, /b/ or /m/), by the rule above.
bool starts_bilabial(const std::string& word);

struct ClosureResult {
  std::string word;
  int first_frame = 0, last_frame = 0;  // the closure window, inclusive, at `fps`
  double min_opening = 0;               // NaN when no frame of the window has a face
  bool closed = false;
};

// One result per bilabial word whose window overlaps the series
// (opening[t] = mouth opening of frame t, NaN without a face).
std::vector<ClosureResult> bilabial_closures(const std::vector<AlignedWord>& words, const std::vector<double>& opening,
                                             double fps = 25.0, double threshold = kClosedLipsIod);

}  // namespace tavce::metrics
