#include "tavce/train/clip_sampling.h"

#include "tavce/error.h"

namespace tavce::train {

uint64_t splitmix(uint64_t& s) {
  uint64_t z = (s += 0x9E3779B97F4A7C15ull);
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
  return z ^ (z >> 31);
}

double uniform(uint64_t& s) { return static_cast<double>(splitmix(s) >> 11) * (1.0 / 9007199254740992.0); }

std::string set_of(const std::string& name) {
  const auto slash = name.find('/');
  return slash == std::string::npos ? std::string() : name.substr(0, slash);
}

BalancedClipPicker::BalancedClipPicker(const std::vector<int64_t>& frames, const std::vector<std::string>& sets,
                                       const std::string& big_set, double big_set_share)
    : frames_(frames), share_(big_set_share) {
  if (frames.empty() || frames.size() != sets.size()) throw Error("clip sampling: no clips to draw from");
  for (size_t i = 0; i < sets.size(); ++i) (sets[i] == big_set ? big_ : other_).push_back(i);
}

size_t BalancedClipPicker::pick(uint64_t& rng) const {
  const bool from_big = !big_.empty() && (other_.empty() || uniform(rng) < share_);
  return pick_in(from_big ? big_ : other_, rng);
}

size_t BalancedClipPicker::pick_in(const std::vector<size_t>& group, uint64_t& rng) const {
  int64_t total = 0;
  for (size_t i : group) total += frames_[i];
  int64_t r = static_cast<int64_t>(uniform(rng) * static_cast<double>(total));
  for (size_t i : group) {
    if (r < frames_[i]) return i;
    r -= frames_[i];
  }
  return group.back();
}

}  // namespace tavce::train
