// A loss curve as a PNG (OpenCV drawing; no plotting library needed): one
// polyline per series over the steps, log-scaled y, with axis labels.
#pragma once

#include <string>
#include <utility>
#include <vector>

namespace tavce::tools {

struct LossSeries {
  std::string name;
  std::vector<std::pair<double, double>> points;  // (step, value > 0)
};

void write_loss_plot(const std::string& path, const std::string& title, const std::vector<LossSeries>& series);

}  // namespace tavce::tools
