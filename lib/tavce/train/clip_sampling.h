// Seeded sampling shared by the lite trainers: one splitmix64 state draws
// every random choice, so a checkpoint that stores the state resumes the
// exact sequence of samples.
//
// Clips are drawn in two groups: the one large single-speaker set (GRID
// speaker 1, 50 minutes) gets a fixed share of the draws, all other clips the
// rest, so that one voice does not drown the ~40 others; within a group a
// clip is drawn in proportion to its length.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace tavce::train {

uint64_t splitmix(uint64_t& state);
double uniform(uint64_t& state);  // [0, 1)

// "grid_s1/bbaf2n" -> "grid_s1"; "" without a slash.
std::string set_of(const std::string& clip_name);

class BalancedClipPicker {
 public:
  // frames[i] and set[i] describe clip i; big_set names the large set.
  BalancedClipPicker(const std::vector<int64_t>& frames, const std::vector<std::string>& sets,
                     const std::string& big_set, double big_set_share);
  size_t pick(uint64_t& rng) const;

 private:
  size_t pick_in(const std::vector<size_t>& group, uint64_t& rng) const;
  std::vector<int64_t> frames_;
  std::vector<size_t> big_, other_;
  double share_;
};

}  // namespace tavce::train
