// Unit tests of the audio front end against independent truths: the golden
// librosa filterbank, a naive DFT, the whole-signal path (chunk invariance) and
// the reference's window formula.
#include <cmath>
#include <complex>
#include <cstdlib>
#include <cstring>
#include <random>
#include <string>
#include <vector>

#include "tavce/audio/mel_spectrogram.h"
#include "tavce/audio/mel_windows.h"
#include "tavce/audio/real_fft.h"
#include "tavce/io/safetensors.h"

// check.h defines a `fail` macro that breaks <ios>: include it last.
#include <check.h>

using namespace tavce::audio;

namespace {

std::string golden_dir() {
  const char* env = std::getenv("TAVCE_GOLDEN_DIR");
  return env ? env : "../shared/golden";
}

std::vector<float> noise(size_t n, unsigned seed, float amplitude = 0.3f) {
  std::mt19937 rng(seed);
  std::uniform_real_distribution<float> dist(-amplitude, amplitude);
  std::vector<float> x(n);
  for (float& v : x) v = dist(rng);
  return x;
}

std::vector<float> stream_in_chunks(const std::vector<float>& x, std::mt19937& rng, size_t max_chunk) {
  MelSpectrogram mel;
  std::vector<float> out;
  std::uniform_int_distribution<size_t> size(0, max_chunk);
  size_t at = 0;
  while (at < x.size()) {
    const size_t n = std::min(size(rng), x.size() - at);
    mel.push(x.data() + at, n, out);
    at += n;
  }
  mel.finish(out);
  return out;
}

}  // namespace

START_TEST(filterbank_matches_librosa) {
  const auto io = tavce::io::SafeTensors::open(golden_dir() + "/mel/io.safetensors");
  const auto& ref = io.at("mel_basis");
  ck_assert_int_eq(ref.numel(), 80 * 401);
  const float* expected = reinterpret_cast<const float*>(ref.data);
  const std::vector<float> basis = slaney_mel_basis(MelConfig{});
  double max_err = 0;
  for (size_t i = 0; i < basis.size(); ++i) max_err = std::max(max_err, double(std::fabs(basis[i] - expected[i])));
  ck_assert_msg(max_err <= 1e-9, "mel basis differs from librosa by %g", max_err);
}
END_TEST

START_TEST(hann_is_periodic) {
  const auto w = periodic_hann(800);
  ck_assert(w[0] == 0.0);
  ck_assert(std::fabs(w[400] - 1.0) < 1e-15);
  for (int i = 1; i < 400; ++i) ck_assert(std::fabs(w[i] - w[800 - i]) < 1e-15);  // periodic symmetry
}
END_TEST

START_TEST(fft_matches_naive_dft) {
  // Sizes with factors 2, 4, 3, 5 and a large prime half-length.
  for (int n : {2, 6, 10, 30, 200, 256, 800, 802, 1000}) {
    std::vector<float> xf = noise(n, unsigned(n));
    std::vector<double> x(xf.begin(), xf.end());
    RealFft fft(n);
    std::vector<std::complex<double>> got(n / 2 + 1);
    fft.forward(x.data(), got.data());
    for (int k = 0; k <= n / 2; ++k) {
      std::complex<long double> acc = 0;
      for (int j = 0; j < n; ++j) {
        const long double phase = -2.0L * M_PIl * (long double)((int64_t(k) * j) % n) / n;
        acc += (long double)x[j] * std::complex<long double>(cosl(phase), sinl(phase));
      }
      const double err = std::abs(std::complex<double>(double(acc.real()), double(acc.imag())) - got[k]);
      ck_assert_msg(err < 1e-11 * n, "n=%d k=%d err=%g", n, k, err);
    }
  }
}
END_TEST

START_TEST(stft_magnitude_matches_naive_dft) {
  const std::vector<float> x = noise(3000, 7);
  const MelStages st = compute_mel_stages(x.data(), x.size());
  const std::vector<double> w = periodic_hann(800);
  // Frame 5 covers pre-emphasised samples [5*200-400, 5*200+400).
  const int m = 5;
  for (int k = 0; k <= 400; k += 7) {
    std::complex<long double> acc = 0;
    for (int j = 0; j < 800; ++j) {
      const long double phase = -2.0L * M_PIl * (long double)((k * j) % 800) / 800;
      acc += (long double)(st.preemphasised[m * 200 - 400 + j] * w[j]) *
             std::complex<long double>(cosl(phase), sinl(phase));
    }
    const double expected = double(std::abs(acc));
    ck_assert(std::fabs(st.stft_magnitude[size_t(k) * st.frames + m] - expected) < 1e-10);
  }
}
END_TEST

START_TEST(chunking_does_not_change_output) {
  const std::vector<float> x = noise(24011, 3);
  const std::vector<float> whole = melspectrogram(x.data(), x.size());
  ck_assert_int_eq(whole.size(), (1 + 24011 / 200) * 80);
  std::mt19937 rng(11);
  for (int trial = 0; trial < 40; ++trial) {
    const size_t max_chunk = trial < 20 ? 5 + trial * 37 : 4000;
    const std::vector<float> chunked = stream_in_chunks(x, rng, max_chunk);
    ck_assert_int_eq(chunked.size(), whole.size());
    ck_assert_msg(std::memcmp(chunked.data(), whole.data(), whole.size() * sizeof(float)) == 0,
                  "trial %d differs", trial);
  }
}
END_TEST

START_TEST(streaming_equals_whole_signal_stages) {
  for (size_t n : {1u, 199u, 200u, 201u, 799u, 1000u, 6400u}) {
    const std::vector<float> x = noise(n, unsigned(n));
    const std::vector<float> streamed = melspectrogram(x.data(), x.size());
    const MelStages st = compute_mel_stages(x.data(), x.size());
    ck_assert_int_eq(st.frames, int64_t(1 + n / 200));
    ck_assert_int_eq(streamed.size(), st.mel.size());
    ck_assert(std::memcmp(streamed.data(), st.mel.data(), st.mel.size() * sizeof(float)) == 0);
  }
}
END_TEST

START_TEST(empty_stream_emits_nothing) {
  MelSpectrogram mel;
  std::vector<float> out;
  ck_assert_int_eq(mel.push(static_cast<const float*>(nullptr), 0, out), 0);
  ck_assert_int_eq(mel.finish(out), 0);
  ck_assert(out.empty());
  ck_assert_int_eq(MelSpectrogram::total_frames(0, MelConfig{}), 0);
}
END_TEST

START_TEST(one_sample_gives_one_frame) {
  MelSpectrogram mel;
  std::vector<float> out;
  const float x = 0.5f;
  ck_assert_int_eq(mel.push(&x, 1, out), 0);  // frame 0 needs 400 samples of look-ahead
  ck_assert_int_eq(mel.finish(out), 1);
  ck_assert_int_eq(out.size(), 80);
  // A single impulse of 0.5 at the window centre: |X[k]| = 0.5 for every bin,
  // so mel = 0.5 * row sums of the basis.
  const std::vector<float> basis = slaney_mel_basis(MelConfig{});
  MelFrameAnalyser analyser{MelConfig{}};
  for (int i = 0; i < 80; ++i) {
    double row = 0;
    for (int k = 0; k < 401; ++k) row += basis[size_t(i) * 401 + k];
    ck_assert(std::fabs(out[i] - analyser.normalise(0.5 * row)) < 1e-6);
  }
}
END_TEST

START_TEST(frames_appear_with_25ms_lookahead) {
  MelSpectrogram mel;
  std::vector<float> out;
  const std::vector<float> x = noise(1000, 5);
  // Frame m needs samples up to 200 m + 400.
  ck_assert_int_eq(mel.push(x.data(), 399, out), 0);
  ck_assert_int_eq(mel.push(x.data() + 399, 1, out), 1);
  ck_assert_int_eq(mel.push(x.data() + 400, 200, out), 1);
  ck_assert_int_eq(mel.push(x.data() + 600, 400, out), 2);
  ck_assert_int_eq(mel.finish(out), 2);  // 1 + 1000/200 = 6 in total
  ck_assert_int_eq(out.size(), 6 * 80);
}
END_TEST

START_TEST(silence_is_floor) {
  const std::vector<float> x(16000, 0.0f);
  const std::vector<float> out = melspectrogram(x.data(), x.size());
  ck_assert_int_eq(out.size(), 81 * 80);
  for (float v : out) ck_assert(v == -4.0f);
}
END_TEST

START_TEST(pcm16_matches_float) {
  std::vector<int16_t> pcm(5000);
  std::mt19937 rng(2);
  for (auto& s : pcm) s = int16_t(int(rng() % 65536) - 32768);
  std::vector<float> f(pcm.size());
  for (size_t i = 0; i < pcm.size(); ++i) f[i] = pcm[i] / 32768.0f;
  MelSpectrogram a, b;
  std::vector<float> oa, ob;
  a.push(pcm.data(), pcm.size(), oa);
  a.finish(oa);
  b.push(f.data(), f.size(), ob);
  b.finish(ob);
  ck_assert(oa == ob);
}
END_TEST

START_TEST(reset_drops_state) {
  const std::vector<float> x = noise(4000, 9);
  MelSpectrogram mel;
  std::vector<float> junk, out;
  mel.push(x.data(), 1234, junk);
  mel.reset();
  mel.push(x.data(), x.size(), out);
  mel.finish(out);
  ck_assert(out == melspectrogram(x.data(), x.size()));
  // finish() also resets: a second stream is independent of the first.
  std::vector<float> again;
  mel.push(x.data(), x.size(), again);
  mel.finish(again);
  ck_assert(again == out);
}
END_TEST

START_TEST(window_start_matches_reference_formula) {
  const MelConfig cfg;
  for (int64_t i = 0; i < 200000; ++i) {
    const int64_t ref = int64_t(80.0 * ((double(i) - 2) / 25.0));  // Python int() truncates
    ck_assert_int_eq(window_start(i, cfg), ref);
  }
  ck_assert_int_eq(window_start(0, cfg), -6);
  ck_assert_int_eq(window_start(1, cfg), -3);
  const auto idx = window_indices(0, 10, cfg);
  const int64_t expected[16] = {0, 0, 0, 0, 0, 0, 0, 1, 2, 3, 4, 5, 6, 7, 8, 9};
  for (int k = 0; k < 16; ++k) ck_assert_int_eq(idx[k], expected[k]);
  ck_assert_int_eq(video_frame_count(1000, cfg), 1);
  ck_assert_int_eq(video_frame_count(639, cfg), 0);
  ck_assert_int_eq(samples_for_video_frames(12, cfg), 7680);
}
END_TEST

START_TEST(extract_window_transposes) {
  const MelConfig cfg;
  const int64_t frames = 30;
  std::vector<float> mel(frames * 80);
  for (int64_t t = 0; t < frames; ++t)
    for (int c = 0; c < 80; ++c) mel[t * 80 + c] = float(t * 1000 + c);
  std::vector<float> win(80 * 16);
  extract_window(mel.data(), frames, 9, win.data(), cfg);  // start = trunc(16*7/5) = 22
  for (int c = 0; c < 80; ++c)
    for (int k = 0; k < 16; ++k) ck_assert(win[c * 16 + k] == float(std::min<int64_t>(22 + k, 29) * 1000 + c));
}
END_TEST

int main() {
  Suite* s = suite_create("mel");
  TCase* tc = tcase_create("core");
  tcase_set_timeout(tc, 120);
  tcase_add_test(tc, filterbank_matches_librosa);
  tcase_add_test(tc, hann_is_periodic);
  tcase_add_test(tc, fft_matches_naive_dft);
  tcase_add_test(tc, stft_magnitude_matches_naive_dft);
  tcase_add_test(tc, chunking_does_not_change_output);
  tcase_add_test(tc, streaming_equals_whole_signal_stages);
  tcase_add_test(tc, empty_stream_emits_nothing);
  tcase_add_test(tc, one_sample_gives_one_frame);
  tcase_add_test(tc, frames_appear_with_25ms_lookahead);
  tcase_add_test(tc, silence_is_floor);
  tcase_add_test(tc, pcm16_matches_float);
  tcase_add_test(tc, reset_drops_state);
  tcase_add_test(tc, window_start_matches_reference_formula);
  tcase_add_test(tc, extract_window_transposes);
  suite_add_tcase(s, tc);
  SRunner* sr = srunner_create(s);
  srunner_run_all(sr, CK_NORMAL);
  const int failed = srunner_ntests_failed(sr);
  srunner_free(sr);
  return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
