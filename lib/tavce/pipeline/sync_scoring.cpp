#include "tavce/pipeline/sync_scoring.h"

#include <algorithm>
#include <vector>

#include <ATen/ATen.h>
#include <c10/core/InferenceMode.h>

#include "tavce/audio/mfcc.h"
#include "tavce/error.h"
#include "tavce/nn/syncnet.h"

namespace tavce::pipeline {

at::Tensor sync_lip_embeddings(nn::SyncNetImpl& net, const at::Tensor& crops, int64_t count, int batch,
                               c10::Device device) {
  constexpr int64_t kWindow = nn::SyncNetImpl::kFrames;
  if (crops.dim() != 4 || crops.size(3) != 3 || crops.scalar_type() != at::kByte || crops.size(0) < count + kWindow - 1)
    throw Error("sync scoring: expected (T >= count + 4, H, W, 3) uint8 crops");
  // (3 B/G/R, n, 224, 224) float, raw 0..255, as the reference's imtv.
  const at::Tensor video = crops.slice(0, 0, count + kWindow - 1).permute({3, 0, 1, 2}).to(at::kFloat).contiguous();
  std::vector<at::Tensor> out;
  const int64_t step = std::max(1, batch);
  for (int64_t i = 0; i < count; i += step) {
    std::vector<at::Tensor> items;
    for (int64_t v = i; v < std::min(count, i + step); ++v) items.push_back(video.slice(1, v, v + kWindow));
    out.push_back(net.forward_lip(at::stack(items).to(device)).to(at::kCPU));
  }
  return at::cat(out).to(at::kFloat).contiguous();
}

at::Tensor sync_audio_embeddings(nn::SyncNetImpl& net, const float* audio, size_t samples, int64_t count, int batch,
                                 c10::Device device) {
  const std::vector<double> wave(audio, audio + samples);
  const audio::MfccResult mfcc = audio::compute_mfcc(wave.data(), wave.size());
  const std::vector<float> windows = audio::syncnet_mfcc_windows(mfcc, static_cast<int>(nn::SyncNetImpl::kMfcc), count);
  const at::Tensor all = at::from_blob(const_cast<float*>(windows.data()),
                                       {count, 1, nn::SyncNetImpl::kMfcc, nn::SyncNetImpl::kMfccSteps}, at::kFloat);
  std::vector<at::Tensor> out;
  const int64_t step = std::max(1, batch);
  for (int64_t i = 0; i < count; i += step)
    out.push_back(net.forward_aud(all.slice(0, i, std::min(count, i + step)).to(device)).to(at::kCPU));
  return at::cat(out).to(at::kFloat).contiguous();
}

SyncScore score_sync(nn::SyncNetImpl& net, const at::Tensor& crops, const float* audio, size_t samples, int vshift,
                     int batch, c10::Device device) {
  SyncScore r;
  constexpr int64_t kSamplesPerFrame = 640;  // 16 kHz / 25 fps, hard-coded by the reference
  const int64_t count = audio::syncnet_window_count(crops.size(0), static_cast<int64_t>(samples));
  if (count < 1) return r;
  const int64_t usable = std::min<int64_t>(crops.size(0), static_cast<int64_t>(samples) / kSamplesPerFrame);
  c10::InferenceMode guard;
  const at::Tensor im = sync_lip_embeddings(net, crops, count, batch, device);
  const at::Tensor cc = sync_audio_embeddings(net, audio, static_cast<size_t>(usable * kSamplesPerFrame), count, batch, device);
  r.embeddings = count;
  r.lse = metrics::evaluate_lse(im.data_ptr<float>(), cc.data_ptr<float>(), count, im.size(1), vshift);
  return r;
}

}  // namespace tavce::pipeline
