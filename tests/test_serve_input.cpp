// tavce-serve's input side without servers (suite serve): the WAV reader
// against headers built here byte by byte, the conversion to 48 kHz mono
// against the sine that went in (length, frequency from zero crossings,
// level), the speech queue's bounds, and the command line and --config file.
#include <gst/gst.h>

#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <string>
#include <vector>

#include "audio_input.h"
#include "config.h"
#include "speech_queue.h"

// After the standard headers: check.h defines macros (fail) that clash with them.
#include <check.h>

namespace {

void put16(std::vector<uint8_t>& v, unsigned x) {
  v.push_back(x & 0xFF);
  v.push_back((x >> 8) & 0xFF);
}
void put32(std::vector<uint8_t>& v, uint32_t x) {
  put16(v, x & 0xFFFF);
  put16(v, x >> 16);
}
void tag(std::vector<uint8_t>& v, const char* t) { v.insert(v.end(), t, t + 4); }

// A WAV of `data` with the given format; `extensible` writes the 40-byte
// WAVE_FORMAT_EXTENSIBLE fmt chunk; `junk` puts an odd-sized chunk (with its
// pad byte) before fmt; `declared` overrides the data chunk's size.
std::vector<uint8_t> wav(unsigned format, unsigned channels, unsigned rate, unsigned bits,
                         const std::vector<uint8_t>& data, bool extensible = false, bool junk = false,
                         int64_t declared = -1) {
  std::vector<uint8_t> v;
  tag(v, "RIFF");
  put32(v, 0);  // patched below
  tag(v, "WAVE");
  if (junk) {
    tag(v, "LIST");
    put32(v, 3);
    v.insert(v.end(), {'a', 'b', 'c', 0});  // 3 bytes + pad
  }
  tag(v, "fmt ");
  put32(v, extensible ? 40 : 16);
  put16(v, extensible ? 0xFFFE : format);
  put16(v, channels);
  put32(v, rate);
  put32(v, rate * channels * bits / 8);
  put16(v, channels * bits / 8);
  put16(v, bits);
  if (extensible) {
    put16(v, 22);      // cbSize
    put16(v, bits);    // valid bits
    put32(v, 0);       // channel mask
    put16(v, format);  // sub-format GUID: the tag, then the fixed tail
    const uint8_t tail[14] = {0x00, 0x00, 0x00, 0x00, 0x10, 0x00, 0x80, 0x00, 0x00, 0xAA, 0x00, 0x38, 0x9B, 0x71};
    v.insert(v.end(), tail, tail + 14);
  }
  tag(v, "data");
  put32(v, declared >= 0 ? static_cast<uint32_t>(declared) : static_cast<uint32_t>(data.size()));
  v.insert(v.end(), data.begin(), data.end());
  const uint32_t riff = static_cast<uint32_t>(v.size() - 8);
  std::memcpy(&v[4], &riff, 4);
  return v;
}

std::vector<uint8_t> sine_s16(unsigned rate, unsigned channels, double hz, double seconds, double amp) {
  std::vector<uint8_t> out;
  const auto n = static_cast<size_t>(rate * seconds);
  for (size_t i = 0; i < n; ++i) {
    const auto s = static_cast<int16_t>(std::lround(amp * 32767 * std::sin(2 * M_PI * hz * i / rate)));
    for (unsigned c = 0; c < channels; ++c) put16(out, static_cast<uint16_t>(s));
  }
  return out;
}

std::string error_of(const std::vector<uint8_t>& body) {
  try {
    parse_wav(body.data(), body.size());
  } catch (const AudioInputError& e) {
    return e.what();
  }
  return "";
}

// Zero crossings per second and RMS of the middle of `s` (48 kHz).
void measure(const std::vector<int16_t>& s, double& hz, double& rms) {
  const size_t a = s.size() / 4, b = 3 * s.size() / 4;
  int crossings = 0;
  double sum = 0;
  for (size_t i = a + 1; i < b; ++i) {
    crossings += (s[i - 1] < 0) != (s[i] < 0);
    sum += static_cast<double>(s[i]) * s[i];
  }
  hz = crossings / 2.0 / ((b - a) / 48000.0);
  rms = std::sqrt(sum / static_cast<double>(b - a)) / 32767;
}

}  // namespace

START_TEST(test_wav_headers) {
  const std::vector<uint8_t> pcm = sine_s16(16000, 1, 440, 0.1, 0.5);
  PcmClip c = parse_wav(wav(1, 1, 16000, 16, pcm).data(), wav(1, 1, 16000, 16, pcm).size());
  ck_assert_str_eq(c.format.c_str(), "S16LE");
  ck_assert_int_eq(c.rate, 16000);
  ck_assert_int_eq(c.channels, 1);
  ck_assert(c.data == pcm);

  // Extensible 24-bit stereo after an odd-sized chunk; float; 8-bit.
  const std::vector<uint8_t> six(6 * 10, 7);
  auto b = wav(1, 2, 44100, 24, six, true, true);
  c = parse_wav(b.data(), b.size());
  ck_assert_str_eq(c.format.c_str(), "S24LE");
  ck_assert_int_eq(c.channels, 2);
  ck_assert_uint_eq(c.data.size(), 60);
  b = wav(3, 1, 48000, 32, std::vector<uint8_t>(40, 0));
  // Held in a variable: ck_assert_str_eq keeps the pointer past the full
  // expression, so a temporary's c_str() would dangle (ASan found it).
  c = parse_wav(b.data(), b.size());
  ck_assert_str_eq(c.format.c_str(), "F32LE");
  b = wav(1, 1, 8000, 8, std::vector<uint8_t>(40, 128));
  c = parse_wav(b.data(), b.size());
  ck_assert_str_eq(c.format.c_str(), "U8");
  // A streaming writer's 0xFFFFFFFF size: the samples run to the end.
  b = wav(1, 1, 16000, 16, pcm, false, false, 0xFFFFFFFFll);
  ck_assert_uint_eq(parse_wav(b.data(), b.size()).data.size(), pcm.size());

  // What must be refused, and how.
  std::string e = error_of(std::vector<uint8_t>{'h', 'e', 'l', 'l', 'o', ' ', 'w', 'o', 'r', 'l', 'd', '!', '!'});
  ck_assert_msg(e.find("not a WAV") != std::string::npos, "%s", e.c_str());
  b = wav(1, 1, 16000, 16, pcm);
  b.resize(b.size() - 1000);
  e = error_of(b);
  ck_assert_msg(e.find("truncated WAV: the data chunk declares 3200 bytes but the body holds 2200") != std::string::npos,
                "%s", e.c_str());
  b = wav(1, 1, 16000, 16, pcm);
  b.resize(30);  // inside fmt
  e = error_of(b);
  ck_assert_msg(e.find("truncated WAV") != std::string::npos, "%s", e.c_str());
  e = error_of(wav(2, 1, 16000, 4, pcm));  // MS ADPCM
  ck_assert_msg(e.find("unsupported WAV sample format (format tag 2") != std::string::npos, "%s", e.c_str());
  e = error_of(wav(1, 1, 16000, 16, {}));
  ck_assert_msg(e.find("no samples") != std::string::npos, "%s", e.c_str());
  e = error_of(wav(1, 0, 16000, 16, pcm));
  ck_assert_msg(e.find("channels") != std::string::npos, "%s", e.c_str());
}
END_TEST

START_TEST(test_conversion_to_48k_mono) {
  // 2 s of 440 Hz at 16 kHz, stereo with both channels equal: 96000 samples
  // at 48 kHz, still 440 Hz, same level (a downmix averages equal channels).
  const auto pcm = sine_s16(16000, 2, 440, 2.0, 0.5);
  const auto body = wav(1, 2, 16000, 16, pcm);
  const std::vector<int16_t> out = to_speech_samples(parse_wav(body.data(), body.size()));
  ck_assert_msg(std::abs(static_cast<long>(out.size()) - 96000) <= 48, "%zu samples", out.size());
  double hz, rms;
  measure(out, hz, rms);
  ck_assert_msg(std::fabs(hz - 440) < 2, "%.1f Hz", hz);
  ck_assert_msg(std::fabs(rms - 0.5 / std::sqrt(2.0)) < 0.01, "RMS %.4f", rms);

  // Raw S16LE at 22050 Hz (espeak-ng's rate), odd byte count trimmed.
  auto raw = sine_s16(22050, 1, 300, 1.0, 0.25);
  raw.push_back(1);
  const PcmClip clip = raw_s16le(raw.data(), raw.size(), 22050, 1);
  ck_assert_uint_eq(clip.data.size(), raw.size() - 1);
  const std::vector<int16_t> out2 = to_speech_samples(clip);
  ck_assert_msg(std::abs(static_cast<long>(out2.size()) - 48000) <= 48, "%zu samples", out2.size());
  measure(out2, hz, rms);
  ck_assert_msg(std::fabs(hz - 300) < 2, "%.1f Hz", hz);
  ck_assert_msg(std::fabs(rms - 0.25 / std::sqrt(2.0)) < 0.01, "RMS %.4f", rms);

  bool threw = false;
  try {
    raw_s16le(raw.data(), raw.size(), 100, 1);
  } catch (const AudioInputError&) {
    threw = true;
  }
  ck_assert(threw);
}
END_TEST

START_TEST(test_speech_queue) {
  SpeechQueue q(1.0);  // 48000 samples
  ck_assert(q.push(std::vector<int16_t>(30000, 5)));
  ck_assert(!q.push(std::vector<int16_t>(20000, 6)));  // would pass the bound: nothing queued
  ck_assert_uint_eq(q.queued_samples(), 30000);
  const std::optional<uint64_t> second = q.push(std::vector<int16_t>(18000, 6));  // exactly full
  ck_assert(second);
  ck_assert_uint_eq(*second, 30000);  // it plays after the first clip
  std::vector<int16_t> out(960);
  ck_assert_uint_eq(q.pop(out.data(), out.size(), 2'000'000'000), 960);
  ck_assert_int_eq(out[0], 5);
  // The second clip's first sample: 30000 samples after the pop that began at 2 s.
  ck_assert_double_eq_tol(q.stream_seconds_at(*second), 2.0 + 30000.0 / 48000, 1e-9);
  q.clear();
  ck_assert_uint_eq(q.pop(out.data(), out.size(), 2'020'000'000), 0);  // silence
  ck_assert_int_eq(out[959], 0);
  // Silence counts: a clip pushed now starts where the next pop begins.
  const std::optional<uint64_t> third = q.push(std::vector<int16_t>(100, 7));
  ck_assert(third);
  ck_assert_uint_eq(*third, 1920);
  ck_assert_double_eq_tol(q.stream_seconds_at(*third), 2.04, 1e-9);
  q.clear();
  // A feed that runs ahead loses its oldest samples.
  q.push_dropping(std::vector<int16_t>(40000, 1));
  q.push_dropping(std::vector<int16_t>(20000, 2));
  ck_assert_uint_eq(q.queued_samples(), 48000);
  ck_assert_uint_eq(q.dropped_samples(), 12000);
  ck_assert_uint_eq(q.pop(out.data(), 1, 0), 1);
  ck_assert_int_eq(out[0], 1);
}
END_TEST

START_TEST(test_config) {
  ck_assert_uint_eq(parse_size("16M", "x"), 16u * 1024 * 1024);
  ck_assert_uint_eq(parse_size("64k", "x"), 65536u);
  ck_assert_uint_eq(parse_size("1000", "x"), 1000u);
  for (const char* bad : {"", "-1", "12Q", "M"}) {
    bool threw = false;
    try {
      parse_size(bad, "--max-body");
    } catch (const ConfigError& e) {
      threw = std::string(e.what()).find("--max-body") == 0;
    }
    ck_assert_msg(threw, "'%s' accepted", bad);
  }
  const std::string portrait = std::string(g_getenv("TAVCE_DATA_DIR") ? g_getenv("TAVCE_DATA_DIR") : "../shared/data") +
                               "/image/happy.png";
  AvatarConfig a = parse_avatar_spec("anna:" + portrait + ":tavce-lite:en-gb");
  ck_assert_str_eq(a.name.c_str(), "anna");
  ck_assert_str_eq(a.bundle.c_str(), "tavce-lite");
  ck_assert_str_eq(a.voice.c_str(), "en-gb");
  for (const std::string& bad : std::vector<std::string>{"anna", "an na:" + portrait, "anna:/no/such.png", "a:b:c:d:e"}) {
    bool threw = false;
    try {
      parse_avatar_spec(bad);
    } catch (const ConfigError&) {
      threw = true;
    }
    ck_assert_msg(threw, "'%s' accepted", bad.c_str());
  }

  // File first, command line over it; avatars and RTP inputs of both.
  const std::string file = std::string(g_get_tmp_dir()) + "/tavce-serve-test.conf";
  FILE* f = fopen(file.c_str(), "w");
  fprintf(f, "# comment\nhttp-port = 9000\ntoken = from-file\navatar = anna:%s\nrtp = anna:5004\n", portrait.c_str());
  fclose(f);
  const std::string bob = "bob:" + portrait;
  const char* argv[] = {"tavce-serve", "--config", file.c_str(), "--http-port", "9100", "--avatar", bob.c_str(),
                        "--rtp", "bob:5006:l16:16000:2", nullptr};
  bool help = true;
  ServeConfig cfg = parse_serve_args(9, const_cast<char**>(argv), help);
  ck_assert(!help);
  ck_assert_int_eq(cfg.http_port, 9100);
  ck_assert_str_eq(cfg.token.c_str(), "from-file");
  ck_assert_uint_eq(cfg.avatars.size(), 2);
  ck_assert_int_eq(cfg.avatars[0].rtp.port, 5004);
  ck_assert_str_eq(cfg.avatars[0].rtp.codec.c_str(), "opus");
  ck_assert_int_eq(cfg.avatars[1].rtp.rate, 16000);
  ck_assert_int_eq(cfg.avatars[1].rtp.channels, 2);
  ck_assert_str_eq(cfg.bind.c_str(), "127.0.0.1");  // the default: loopback only

  f = fopen(file.c_str(), "w");
  fprintf(f, "http-port = 9000\nbogus = 1\n");
  fclose(f);
  const char* argv2[] = {"tavce-serve", "--config", file.c_str(), nullptr};
  std::string why;
  try {
    parse_serve_args(3, const_cast<char**>(argv2), help);
  } catch (const ConfigError& e) {
    why = e.what();
  }
  ck_assert_msg(why.find(":2: unknown setting 'bogus'") != std::string::npos, "%s", why.c_str());
  const std::string carl = "carl:" + portrait;
  const char* argv3[] = {"tavce-serve", "--avatar", bob.c_str(), "--rtp", "bob:5004", "--avatar", carl.c_str(),
                         "--rtp", "carl:5004", nullptr};
  why.clear();
  try {
    parse_serve_args(9, const_cast<char**>(argv3), help);
  } catch (const ConfigError& e) {
    why = e.what();
  }
  ck_assert_msg(why.find("RTP port 5004 is given to two avatars") != std::string::npos, "%s", why.c_str());
  remove(file.c_str());
}
END_TEST

int main(int argc, char** argv) {
  gst_init(&argc, &argv);
  Suite* s = suite_create("tavce-serve input");
  TCase* tc = tcase_create("input");
  tcase_set_timeout(tc, 60);
  tcase_add_test(tc, test_wav_headers);
  tcase_add_test(tc, test_conversion_to_48k_mono);
  tcase_add_test(tc, test_speech_queue);
  tcase_add_test(tc, test_config);
  suite_add_tcase(s, tc);
  SRunner* sr = srunner_create(s);
  srunner_run_all(sr, CK_NORMAL);
  const int failed = srunner_ntests_failed(sr);
  srunner_free(sr);
  return failed == 0 ? 0 : 1;
}
