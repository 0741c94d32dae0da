#include "serve_latency/soak_report.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <fstream>
#include <optional>
#include <stdexcept>
#include <vector>

#include <opencv2/imgcodecs.hpp>
#include <opencv2/imgproc.hpp>

#include "serve_latency/stats.h"

namespace serve_latency {

namespace {

std::vector<nlohmann::json> read_lines(const std::string& path) {
  std::ifstream f(path);
  if (!f) throw std::runtime_error("soak-report: cannot read " + path);
  std::vector<nlohmann::json> out;
  std::string line;
  int n = 0;
  while (std::getline(f, line)) {
    ++n;
    if (line.empty()) continue;
    try {
      out.push_back(nlohmann::json::parse(line));
    } catch (const std::exception& e) {
      throw std::runtime_error("soak-report: " + path + " line " + std::to_string(n) + " is not JSON: " + e.what());
    }
  }
  return out;
}

struct Series {
  std::string name;
  cv::Scalar colour;
  std::vector<std::pair<double, double>> points;  // (minutes, value)
};

// One panel: linear axes from 0 (or the data's minimum if negative) to the
// data's maximum, ticks as text, a legend.
void draw_panel(cv::Mat& img, cv::Rect area, const std::string& title, const std::string& unit,
                const std::vector<Series>& series, double t_max) {
  double y_min = 0, y_max = 1e-9;
  for (const Series& s : series)
    for (auto [t, v] : s.points) y_min = std::min(y_min, v), y_max = std::max(y_max, v);
  y_max *= 1.1;
  const int left = area.x + 70, right = area.x + area.width - 20, top = area.y + 30, bottom = area.y + area.height - 35;
  cv::rectangle(img, {left, top}, {right, bottom}, cv::Scalar(0, 0, 0), 1);
  cv::putText(img, title, {left, area.y + 20}, cv::FONT_HERSHEY_SIMPLEX, 0.55, cv::Scalar(0, 0, 0), 1, cv::LINE_AA);
  auto X = [&](double t) { return left + static_cast<int>((right - left) * t / std::max(t_max, 1e-9)); };
  auto Y = [&](double v) { return bottom - static_cast<int>((bottom - top) * (v - y_min) / (y_max - y_min)); };
  for (int k = 0; k <= 4; ++k) {
    const double v = y_min + (y_max - y_min) * k / 4;
    char label[32];
    std::snprintf(label, sizeof label, "%.0f", v);
    cv::line(img, {left, Y(v)}, {right, Y(v)}, cv::Scalar(220, 220, 220), 1);
    cv::putText(img, label, {area.x + 5, Y(v) + 4}, cv::FONT_HERSHEY_SIMPLEX, 0.4, cv::Scalar(0, 0, 0), 1, cv::LINE_AA);
    const double t = t_max * k / 4;
    std::snprintf(label, sizeof label, "%.1f min", t);
    cv::putText(img, label, {X(t) - (k == 4 ? 55 : 20), bottom + 15}, cv::FONT_HERSHEY_SIMPLEX, 0.4, cv::Scalar(0, 0, 0), 1, cv::LINE_AA);
  }
  cv::putText(img, unit, {area.x + 5, top - 14}, cv::FONT_HERSHEY_SIMPLEX, 0.4, cv::Scalar(0, 0, 0), 1, cv::LINE_AA);
  int legend_y = top + 15;
  for (const Series& s : series) {
    for (size_t i = 1; i < s.points.size(); ++i)
      cv::line(img, {X(s.points[i - 1].first), Y(s.points[i - 1].second)}, {X(s.points[i].first), Y(s.points[i].second)},
               s.colour, 1, cv::LINE_AA);
    for (auto [t, v] : s.points) cv::circle(img, {X(t), Y(v)}, 2, s.colour, cv::FILLED, cv::LINE_AA);
    cv::putText(img, s.name, {right - 230, legend_y}, cv::FONT_HERSHEY_SIMPLEX, 0.45, s.colour, 1, cv::LINE_AA);
    legend_y += 16;
  }
}

}  // namespace

nlohmann::json write_soak_report(const std::string& samples_path, const std::string& latency_path,
                                 const std::string& out_dir, const nlohmann::json& extra) {
  const std::vector<nlohmann::json> samples = read_lines(samples_path);
  const std::vector<nlohmann::json> lat = read_lines(latency_path);
  if (samples.empty()) throw std::runtime_error("soak-report: no samples in " + samples_path);

  Series rss{"server RSS (MiB)", cv::Scalar(200, 60, 0), {}};
  std::vector<double> rss_mib, threads, fds;
  double t_max = 0;
  std::optional<nlohmann::json> final_sample;  // taken once every viewer had left
  std::vector<double> times_s;
  for (const auto& s : samples) {
    if (s.value("after_viewers_left", false)) {
      final_sample = s;
      continue;
    }
    times_s.push_back(s.at("t_s").get<double>());
    const double t = s.at("t_s").get<double>() / 60;
    t_max = std::max(t_max, t);
    rss_mib.push_back(s.at("rss_kib").get<double>() / 1024);
    threads.push_back(s.value("threads", 0.0));
    fds.push_back(s.value("fds", 0.0));
    rss.points.emplace_back(t, rss_mib.back());
  }
  if (rss_mib.empty()) throw std::runtime_error("soak-report: no periodic samples in " + samples_path);
  Series video{"video onset, play-out (ms)", cv::Scalar(0, 0, 200), {}};
  Series video_arrival{"video onset, arrival (ms)", cv::Scalar(0, 150, 0), {}};
  Series audio{"audio onset, play-out (ms)", cv::Scalar(150, 0, 150), {}};
  std::vector<double> v_play, v_arr, a_play, av;
  for (const auto& u : lat) {
    const double t = u.value("t_s", 0.0) / 60;
    t_max = std::max(t_max, t);
    if (u.contains("video_playout_ms")) v_play.push_back(u["video_playout_ms"]), video.points.emplace_back(t, v_play.back());
    if (u.contains("video_ms")) v_arr.push_back(u["video_ms"]), video_arrival.points.emplace_back(t, v_arr.back());
    if (u.contains("audio_playout_ms")) a_play.push_back(u["audio_playout_ms"]), audio.points.emplace_back(t, a_play.back());
    if (u.contains("av_offset_frames")) av.push_back(u["av_offset_frames"]);
  }

  cv::Mat img(760, 1000, CV_8UC3, cv::Scalar(255, 255, 255));
  draw_panel(img, {0, 0, 1000, 380}, "tavce-serve resident memory", "MiB", {rss}, t_max);
  draw_panel(img, {0, 380, 1000, 380}, "speech to mouth latency at the RTSP client", "ms", {video, video_arrival, audio},
             t_max);
  const std::string png = out_dir + "/soak.png";
  if (!cv::imwrite(png, img)) throw std::runtime_error("soak-report: cannot write " + png);

  nlohmann::json r = extra;
  r["samples"] = samples.size();
  r["rss_mib"] = {{"first", rss_mib.front()}, {"last", rss_mib.back()}, {"max", *std::max_element(rss_mib.begin(), rss_mib.end())}};
  // Growth after the first minute (start-up, model loading, first viewers).
  std::vector<double> after;
  for (size_t i = 0; i < rss_mib.size(); ++i)
    if (times_s[i] >= 60) after.push_back(rss_mib[i]);
  if (after.size() >= 2) {
    r["rss_mib"]["after_1min_first"] = after.front();
    r["rss_mib"]["after_1min_growth_percent"] = 100.0 * (after.back() - after.front()) / after.front();
  }
  r["threads"] = {{"first", threads.front()}, {"last", threads.back()}, {"max", *std::max_element(threads.begin(), threads.end())}};
  r["fds"] = {{"first", fds.front()}, {"last", fds.back()}, {"max", *std::max_element(fds.begin(), fds.end())}};
  if (final_sample) {
    const nlohmann::json& f = *final_sample;
    r["after_viewers_left"] = {{"rss_mib", f.at("rss_kib").get<double>() / 1024},
                               {"threads", f.value("threads", 0.0)}, {"fds", f.value("fds", 0.0)},
                               {"threads_growth", f.value("threads", 0.0) - threads.front()},
                               {"fds_growth", f.value("fds", 0.0) - fds.front()}};
  }
  r["utterances"] = lat.size();
  r["video_playout_latency_ms"] = summarize(v_play);
  r["video_latency_ms"] = summarize(v_arr);
  r["audio_playout_latency_ms"] = summarize(a_play);
  r["av_offset_frames"] = summarize(av);
  double worst = 0;
  for (double f : av) worst = std::max(worst, std::fabs(f));
  r["av_offset_abs_max_frames"] = av.empty() ? nlohmann::json() : nlohmann::json(worst);
  r["plot"] = png;
  std::ofstream(out_dir + "/report.json") << r.dump(2) << "\n";
  return r;
}

}  // namespace serve_latency
