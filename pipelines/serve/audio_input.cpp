#include "audio_input.h"

#include <gst/app/gstappsink.h>
#include <gst/app/gstappsrc.h>
#include <gst/gst.h>

#include <cstring>

#include "speech_queue.h"

namespace {

uint32_t le32(const uint8_t* p) { return p[0] | (p[1] << 8) | (p[2] << 16) | (static_cast<uint32_t>(p[3]) << 24); }
uint16_t le16(const uint8_t* p) { return static_cast<uint16_t>(p[0] | (p[1] << 8)); }

std::string raw_format(unsigned tag, unsigned bits) {
  if (tag == 1) {
    switch (bits) {
      case 8: return "U8";
      case 16: return "S16LE";
      case 24: return "S24LE";
      case 32: return "S32LE";
      default: break;
    }
  } else if (tag == 3) {
    if (bits == 32) return "F32LE";
    if (bits == 64) return "F64LE";
  }
  return "";
}

}  // namespace

PcmClip parse_wav(const uint8_t* body, size_t size) {
  if (size < 12 || std::memcmp(body, "RIFF", 4) != 0 || std::memcmp(body + 8, "WAVE", 4) != 0)
    throw AudioInputError("the body is not a WAV file (no RIFF/WAVE header); send a WAV, or raw S16LE samples "
                          "with ?rate=R&channels=C");
  size_t pos = 12;
  bool have_fmt = false;
  unsigned tag = 0, channels = 0, rate = 0, block = 0, bits = 0;
  while (pos + 8 <= size) {
    const uint8_t* chunk = body + pos;
    const uint32_t len = le32(chunk + 4);
    const size_t avail = size - pos - 8;
    if (std::memcmp(chunk, "fmt ", 4) == 0) {
      if (len < 16 || avail < 16) throw AudioInputError("truncated WAV: the 'fmt ' chunk is cut short");
      tag = le16(chunk + 8);
      channels = le16(chunk + 10);
      rate = le32(chunk + 12);
      block = le16(chunk + 20);
      bits = le16(chunk + 22);
      if (tag == 0xFFFE) {  // WAVE_FORMAT_EXTENSIBLE: the sub-format GUID starts with the real tag
        if (len < 40 || avail < 40) throw AudioInputError("truncated WAV: the extensible 'fmt ' chunk is cut short");
        tag = le16(chunk + 8 + 24);
      }
      have_fmt = true;
    } else if (std::memcmp(chunk, "data", 4) == 0) {
      if (!have_fmt) throw AudioInputError("malformed WAV: the 'data' chunk comes before 'fmt '");
      const std::string format = raw_format(tag, bits);
      if (format.empty())
        throw AudioInputError("unsupported WAV sample format (format tag " + std::to_string(tag) + ", " +
                              std::to_string(bits) + " bits); use PCM 8/16/24/32-bit or float 32/64-bit");
      if (channels < 1 || channels > 8) throw AudioInputError("unsupported WAV: " + std::to_string(channels) + " channels (1 to 8)");
      if (rate < 1000 || rate > 384000) throw AudioInputError("unsupported WAV: sample rate " + std::to_string(rate) + " Hz");
      if (block != channels * (bits / 8)) throw AudioInputError("malformed WAV: block align does not match channels x bits");
      // Streaming writers that cannot seek back leave the size at 0xFFFFFFFF:
      // the samples run to the end of the body.
      size_t n = len == 0xFFFFFFFFu ? avail : len;
      if (n > avail)
        throw AudioInputError("truncated WAV: the data chunk declares " + std::to_string(len) + " bytes but the body holds " +
                              std::to_string(avail) + " after the header");
      n -= n % block;
      if (n == 0) throw AudioInputError("the WAV holds no samples");
      PcmClip clip;
      clip.format = format;
      clip.rate = static_cast<int>(rate);
      clip.channels = static_cast<int>(channels);
      clip.data.assign(chunk + 8, chunk + 8 + n);
      return clip;
    }
    pos += 8 + static_cast<size_t>(len) + (len & 1);  // chunks are word-aligned
  }
  throw AudioInputError(have_fmt ? "truncated WAV: no 'data' chunk" : "truncated WAV: no 'fmt ' chunk");
}

PcmClip raw_s16le(const uint8_t* body, size_t size, int rate, int channels) {
  if (rate < 1000 || rate > 384000) throw AudioInputError("rate=" + std::to_string(rate) + " is out of range (1000 to 384000 Hz)");
  if (channels < 1 || channels > 8) throw AudioInputError("channels=" + std::to_string(channels) + " is out of range (1 to 8)");
  const size_t frame = 2u * static_cast<size_t>(channels);
  if (size < frame) throw AudioInputError("the body holds no samples");
  PcmClip clip;
  clip.format = "S16LE";
  clip.rate = rate;
  clip.channels = channels;
  clip.data.assign(body, body + size - size % frame);
  return clip;
}

std::vector<int16_t> to_speech_samples(const PcmClip& clip) {
  GstElement* pipe = gst_pipeline_new("speech-convert");
  GstElement* src = gst_element_factory_make("appsrc", nullptr);
  GstElement* conv = gst_element_factory_make("audioconvert", nullptr);
  GstElement* resample = gst_element_factory_make("audioresample", nullptr);
  GstElement* sink = gst_element_factory_make("appsink", nullptr);
  if (!pipe || !src || !conv || !resample || !sink)
    throw AudioInputError("GStreamer's appsrc, audioconvert, audioresample or appsink is missing");
  gst_bin_add_many(GST_BIN(pipe), src, conv, resample, sink, nullptr);
  gst_element_link_many(src, conv, resample, sink, nullptr);
  GstCaps* in_caps = gst_caps_new_simple("audio/x-raw", "format", G_TYPE_STRING, clip.format.c_str(), "rate",
                                         G_TYPE_INT, clip.rate, "channels", G_TYPE_INT, clip.channels, "layout",
                                         G_TYPE_STRING, "interleaved", nullptr);
  GstCaps* out_caps = gst_caps_new_simple("audio/x-raw", "format", G_TYPE_STRING, "S16LE", "rate", G_TYPE_INT,
                                          SpeechQueue::kRate, "channels", G_TYPE_INT, 1, "layout", G_TYPE_STRING,
                                          "interleaved", nullptr);
  g_object_set(src, "caps", in_caps, "format", GST_FORMAT_TIME, nullptr);
  g_object_set(sink, "caps", out_caps, "sync", FALSE, nullptr);
  gst_caps_unref(in_caps);
  gst_caps_unref(out_caps);

  gst_element_set_state(pipe, GST_STATE_PLAYING);
  GstBuffer* buf = gst_buffer_new_memdup(clip.data.data(), clip.data.size());
  GST_BUFFER_PTS(buf) = 0;
  gst_app_src_push_buffer(GST_APP_SRC(src), buf);
  gst_app_src_end_of_stream(GST_APP_SRC(src));

  std::vector<int16_t> out;
  std::string error;
  while (true) {
    GstSample* sample = gst_app_sink_try_pull_sample(GST_APP_SINK(sink), 10 * GST_SECOND);
    if (!sample) {
      if (!gst_app_sink_is_eos(GST_APP_SINK(sink))) {
        GstBus* bus = gst_element_get_bus(pipe);
        GstMessage* msg = gst_bus_pop_filtered(bus, GST_MESSAGE_ERROR);
        if (msg) {
          GError* err = nullptr;
          gst_message_parse_error(msg, &err, nullptr);
          error = err->message;
          g_error_free(err);
          gst_message_unref(msg);
        } else {
          error = "the conversion did not finish";
        }
        gst_object_unref(bus);
      }
      break;
    }
    GstBuffer* b = gst_sample_get_buffer(sample);
    GstMapInfo map;
    if (gst_buffer_map(b, &map, GST_MAP_READ)) {
      const auto* p = reinterpret_cast<const int16_t*>(map.data);
      out.insert(out.end(), p, p + map.size / 2);
      gst_buffer_unmap(b, &map);
    }
    gst_sample_unref(sample);
  }
  gst_element_set_state(pipe, GST_STATE_NULL);
  gst_object_unref(pipe);
  if (!error.empty()) throw AudioInputError("could not convert the speech to 48 kHz mono: " + error);
  return out;
}
