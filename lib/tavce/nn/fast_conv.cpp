#include "tavce/nn/fast_conv.h"

#include <cstdlib>
#include <cstring>
#include <mutex>
#include <utility>

#include <ATen/Parallel.h>
#include <ATen/core/grad_mode.h>
#include <ATen/ops/cat.h>
#include <ATen/ops/conv2d.h>
#include <ATen/ops/empty.h>
#include <ATen/ops/matmul.h>
#include <ATen/ops/zeros.h>
#include <ATen/Dispatch.h>
#include <c10/core/GradMode.h>

#include "tavce/error.h"
#include "tavce_fast_conv_config.h"  // TAVCE_HAVE_DNNL (lib/meson.build)

#ifdef TAVCE_HAVE_DNNL
#include <dnnl.hpp>
#endif

namespace tavce::nn {

namespace {

using Key = std::vector<std::pair<const void*, int64_t>>;

int64_t version_of(const at::Tensor& t) { return t.is_inference() ? 0 : static_cast<int64_t>(t._version()); }

// Identity of the parameters a cache was built from: storage and version
// counter of every weight and bias (an in-place load bumps the version).
Key key_of(const std::vector<ConvParams>& convs) {
  Key k;
  for (const ConvParams& c : convs) {
    k.emplace_back(c.weight.data_ptr(), version_of(c.weight));
    k.emplace_back(c.bias.defined() ? c.bias.data_ptr() : nullptr, c.bias.defined() ? version_of(c.bias) : -1);
  }
  return k;
}

// Weights and biases concatenated along the output channels (missing biases as zeros).
std::pair<at::Tensor, at::Tensor> concat(const std::vector<ConvParams>& convs) {
  if (convs.empty()) throw Error("fast_conv: no convolutions given");
  std::vector<at::Tensor> ws, bs;
  bool any_bias = false;
  for (const ConvParams& c : convs) any_bias = any_bias || c.bias.defined();
  for (const ConvParams& c : convs) {
    ws.push_back(c.weight.detach());
    if (any_bias)
      bs.push_back(c.bias.defined() ? c.bias.detach() : at::zeros({c.weight.size(0)}, c.weight.options()));
  }
  at::Tensor w = ws.size() == 1 ? ws[0].contiguous() : at::cat(ws, 0);
  at::Tensor b;
  if (any_bias) b = bs.size() == 1 ? bs[0].contiguous() : at::cat(bs, 0);
  return {w, b};
}

bool env_enabled() {
  static const bool enabled = [] {
    const char* v = std::getenv("TAVCE_FAST_CONV");
    return !(v && std::strcmp(v, "0") == 0);
  }();
  return enabled;
}

#ifdef TAVCE_HAVE_DNNL
dnnl::engine& cpu_engine() {
  static dnnl::engine engine(dnnl::engine::kind::cpu, 0);
  return engine;
}
#endif

}  // namespace

bool fast_conv_compiled() {
#ifdef TAVCE_HAVE_DNNL
  return true;
#else
  return false;
#endif
}

bool fast_conv_applicable(const at::Tensor& x, const at::Tensor& weight) {
  if (!env_enabled()) return false;
  if (!x.defined() || !x.device().is_cpu() || x.layout() != c10::kStrided || x.scalar_type() != at::kFloat)
    return false;
  if (weight.scalar_type() != at::kFloat || !weight.device().is_cpu()) return false;
  return !(at::GradMode::is_enabled() && (x.requires_grad() || weight.requires_grad()));
}

// ---- WinogradConv3x3 ----------------------------------------------------------

struct WinogradConv3x3::State {
  std::mutex mutex;
  Key key;
  at::Tensor weight, bias;  // concatenated, contiguous
  bool used = false;
#ifdef TAVCE_HAVE_DNNL
  struct Prim {
    int64_t n, c, h, w;
    dnnl::memory::desc user_src_md, user_dst_md, src_md, dst_md;
    dnnl::convolution_forward conv;
    dnnl::reorder to_src, from_dst;
    dnnl::memory weights, bias;
    bool src_plain, dst_plain;
  };
  std::vector<Prim> prims;
  bool unavailable = false;  // no Winograd kernel on this CPU / for these sizes

  Prim* prim_for(int64_t n, int64_t c, int64_t h, int64_t w) {
    for (Prim& p : prims)
      if (p.n == n && p.c == c && p.h == h && p.w == w) return &p;
    if (unavailable) return nullptr;
    using tag = dnnl::memory::format_tag;
    using dt = dnnl::memory::data_type;
    using md = dnnl::memory::desc;
    const int64_t k = weight.size(0);
    const dnnl::memory::dims src_d{n, c, h, w}, w_d{k, c, 3, 3}, b_d{k}, dst_d{n, k, h, w};
    try {
      dnnl::engine& eng = cpu_engine();
      dnnl::convolution_forward::desc cd(dnnl::prop_kind::forward_inference, dnnl::algorithm::convolution_winograd,
                                         md(src_d, dt::f32, tag::any), md(w_d, dt::f32, tag::any),
                                         md(b_d, dt::f32, tag::x), md(dst_d, dt::f32, tag::any), {1, 1}, {1, 1},
                                         {1, 1});
      dnnl::convolution_forward::primitive_desc pd(cd, eng);
      Prim p;
      p.n = n, p.c = c, p.h = h, p.w = w;
      p.user_src_md = md(src_d, dt::f32, tag::nchw);
      p.user_dst_md = md(dst_d, dt::f32, tag::nchw);
      p.src_md = pd.src_desc();
      p.dst_md = pd.dst_desc();
      p.src_plain = p.src_md == p.user_src_md;
      p.dst_plain = p.dst_md == p.user_dst_md;
      p.conv = dnnl::convolution_forward(pd);
      if (!p.src_plain) p.to_src = dnnl::reorder(dnnl::reorder::primitive_desc(eng, p.user_src_md, eng, p.src_md));
      if (!p.dst_plain) p.from_dst = dnnl::reorder(dnnl::reorder::primitive_desc(eng, p.dst_md, eng, p.user_dst_md));
      // The Winograd-domain weights, transformed once.
      dnnl::memory user_w(md(w_d, dt::f32, tag::oihw), eng, weight.data_ptr());
      p.weights = dnnl::memory(pd.weights_desc(), eng);
      dnnl::stream strm(eng);
      dnnl::reorder(user_w, p.weights).execute(strm, user_w, p.weights);
      strm.wait();
      p.bias = dnnl::memory(md(b_d, dt::f32, tag::x), eng, bias.data_ptr());
      prims.push_back(std::move(p));
      return &prims.back();
    } catch (const dnnl::error&) {
      unavailable = true;
      return nullptr;
    }
  }
#endif
};

WinogradConv3x3::WinogradConv3x3() : state_(std::make_unique<State>()) {}
WinogradConv3x3::~WinogradConv3x3() = default;

bool WinogradConv3x3::used_winograd() const { return state_->used; }

at::Tensor WinogradConv3x3::forward(const at::Tensor& x, const std::vector<ConvParams>& convs) {
  State& s = *state_;
  std::lock_guard<std::mutex> lock(s.mutex);
  Key key = key_of(convs);
  if (key != s.key || !s.weight.defined()) {
    at::NoGradGuard no_grad;
    for (const ConvParams& c : convs)
      if (c.weight.dim() != 4 || c.weight.size(2) != 3 || c.weight.size(3) != 3 ||
          c.weight.size(1) != convs[0].weight.size(1))
        throw Error("fast_conv: WinogradConv3x3 needs 3x3 weights with one input width");
    std::tie(s.weight, s.bias) = concat(convs);
    if (!s.bias.defined()) s.bias = at::zeros({s.weight.size(0)}, s.weight.options());
    s.key = std::move(key);
#ifdef TAVCE_HAVE_DNNL
    s.prims.clear();
#endif
  }
  if (x.dim() != 4 || x.size(1) != s.weight.size(1))
    throw Error("fast_conv: input channels do not match the weights");
  s.used = false;
#ifdef TAVCE_HAVE_DNNL
  if (State::Prim* p = s.prim_for(x.size(0), x.size(1), x.size(2), x.size(3))) {
    const at::Tensor xc = x.contiguous();
    at::Tensor y = at::empty({x.size(0), s.weight.size(0), x.size(2), x.size(3)}, xc.options());
    dnnl::engine& eng = cpu_engine();
    dnnl::stream strm(eng);
    dnnl::memory user_src(p->user_src_md, eng, xc.data_ptr());
    dnnl::memory user_dst(p->user_dst_md, eng, y.data_ptr());
    dnnl::memory src = user_src, dst = user_dst;
    at::Tensor src_buf, dst_buf;  // blocked layouts, in ATen-allocated (64-byte aligned) memory
    if (!p->src_plain) {
      src_buf = at::empty({static_cast<int64_t>(p->src_md.get_size() / sizeof(float)) + 16}, xc.options());
      src = dnnl::memory(p->src_md, eng, src_buf.data_ptr());
      p->to_src.execute(strm, user_src, src);
    }
    if (!p->dst_plain) {
      dst_buf = at::empty({static_cast<int64_t>(p->dst_md.get_size() / sizeof(float)) + 16}, xc.options());
      dst = dnnl::memory(p->dst_md, eng, dst_buf.data_ptr());
    }
    p->conv.execute(strm, {{DNNL_ARG_SRC, src}, {DNNL_ARG_WEIGHTS, p->weights}, {DNNL_ARG_BIAS, p->bias},
                           {DNNL_ARG_DST, dst}});
    if (!p->dst_plain) p->from_dst.execute(strm, dst, user_dst);
    strm.wait();
    s.used = true;
    return y;
  }
#endif
  return at::conv2d(x, s.weight, s.bias, 1, 1);
}

// ---- UpsampledConv3x3 ---------------------------------------------------------
//
// Output pixel (s*i + p, s*j + q) of the 3x3 conv on the upsampled map reads
// rows s*i + p + dy, dy in {-1, 0, 1}, i.e. low-resolution rows i + o with
// o = floor((p + dy) / s), and the zero padding of the high-resolution map is
// exactly the low-resolution one. So each row phase p uses at most two
// low-resolution offsets: p = 0 uses {-1, 0}, p = s - 1 uses {0, 1}, and the
// phases in between only {0}. The 2-offset phases are a 2-tap conv with
// padding 1 (H + 1 outputs; phase 0 reads outputs 0..H-1 and phase s-1
// outputs 1..H), the others a 1-tap conv. Rows and columns combine into at
// most four convolutions, all phases of one kind stacked along the output
// channels; the phase kernels are the 3x3 taps summed per offset.

namespace {

struct PhaseClass {
  std::vector<int64_t> phases;  // row (or column) phases of this class
  std::vector<int64_t> starts;  // where each phase's rows begin in the conv output
  int64_t taps = 1, pad = 0;
};

std::vector<PhaseClass> phase_classes(int64_t s) {
  std::vector<PhaseClass> out;
  PhaseClass a;
  a.taps = 2, a.pad = 1;
  a.phases = {0, s - 1};
  a.starts = {0, 1};
  out.push_back(a);
  if (s > 2) {
    PhaseClass b;
    for (int64_t p = 1; p < s - 1; ++p) b.phases.push_back(p), b.starts.push_back(0);
    out.push_back(b);
  }
  return out;
}

// (taps, 3): which kernel tap each of the three high-resolution taps lands on.
at::Tensor phase_matrix(int64_t s, int64_t p, int64_t start, int64_t taps, const at::TensorOptions& opt) {
  at::Tensor r = at::zeros({taps, 3}, opt.device(at::kCPU).dtype(at::kFloat));
  auto acc = r.accessor<float, 2>();
  for (int64_t dy = -1; dy <= 1; ++dy) {
    const int64_t v = p + dy;
    const int64_t o = v < 0 ? -1 : (v >= s ? 1 : 0);
    const int64_t k = taps == 2 ? o + 1 - start : 0;
    acc[k][dy + 1] = 1.f;
  }
  return r.to(opt.dtype());
}

}  // namespace

struct UpsampledConv3x3::State {
  struct Group {
    const PhaseClass* rows;
    const PhaseClass* cols;
    at::Tensor weight, bias;  // all phases of the group stacked along the output channels
  };
  std::mutex mutex;
  Key key;
  int64_t s = 0, k = 0;
  std::vector<PhaseClass> classes;
  std::vector<Group> groups;
  at::Tensor weight, bias;  // s = 1
};

UpsampledConv3x3::UpsampledConv3x3() : state_(std::make_unique<State>()) {}
UpsampledConv3x3::~UpsampledConv3x3() = default;

at::Tensor UpsampledConv3x3::forward(const at::Tensor& x, int64_t scale, const std::vector<ConvParams>& convs,
                                     bool relu) {
  if (scale < 1) throw Error("fast_conv: upsampling factor must be >= 1");
  State& st = *state_;
  std::lock_guard<std::mutex> lock(st.mutex);
  Key key = key_of(convs);
  key.emplace_back(nullptr, scale);
  if (key != st.key || !st.weight.defined()) {
    at::NoGradGuard no_grad;
    for (const ConvParams& c : convs)
      if (c.weight.dim() != 4 || c.weight.size(2) != 3 || c.weight.size(3) != 3)
        throw Error("fast_conv: UpsampledConv3x3 needs 3x3 weights");
    std::tie(st.weight, st.bias) = concat(convs);
    st.s = scale;
    st.k = st.weight.size(0);
    st.groups.clear();
    st.classes = scale > 1 ? phase_classes(scale) : std::vector<PhaseClass>{};
    for (const PhaseClass& rc : st.classes)
      for (const PhaseClass& cc : st.classes) {
        State::Group g{&rc, &cc, {}, {}};
        std::vector<at::Tensor> ws, bs;
        for (size_t a = 0; a < rc.phases.size(); ++a)
          for (size_t b = 0; b < cc.phases.size(); ++b) {
            const at::Tensor r = phase_matrix(scale, rc.phases[a], rc.starts[a], rc.taps, st.weight.options());
            const at::Tensor c = phase_matrix(scale, cc.phases[b], cc.starts[b], cc.taps, st.weight.options());
            // (K, C, 3, 3) -> (K, C, rows.taps, cols.taps): taps summed per low-resolution offset.
            ws.push_back(at::matmul(at::matmul(r, st.weight), c.t()));
            if (st.bias.defined()) bs.push_back(st.bias);
          }
        g.weight = at::cat(ws, 0).contiguous();
        if (!bs.empty()) g.bias = at::cat(bs, 0);
        st.groups.push_back(std::move(g));
      }
    st.key = std::move(key);
  }
  if (x.dim() != 4 || x.size(1) != st.weight.size(1))
    throw Error("fast_conv: input channels do not match the weights");
  if (scale == 1) {
    at::Tensor y = at::conv2d(x, st.weight, st.bias, 1, 1).contiguous();
    return relu ? y.relu_() : y;
  }

  const int64_t n = x.size(0), h = x.size(2), w = x.size(3), k = st.k, s = st.s;
  std::vector<at::Tensor> ys;
  for (const State::Group& g : st.groups)
    ys.push_back(at::conv2d(x, g.weight, g.bias, 1, {g.rows->pad, g.cols->pad})
                     .contiguous());
  // Interleave the phases (and apply the ReLU) in one pass: output row
  // s*i + p of channel (b, c) gathers the phase-(p, q) rows for all q.
  at::Tensor out = at::empty({n, k, h * s, w * s}, ys[0].options());
  AT_DISPATCH_FLOATING_TYPES(out.scalar_type(), "upsampled_conv3x3_interleave", [&] {
    scalar_t* dst = out.data_ptr<scalar_t>();
    at::parallel_for(0, n * k * h, 1, [&](int64_t begin, int64_t end) {
      for (int64_t row = begin; row < end; ++row) {
        const int64_t i = row % h, bc = row / h, c = bc % k, b = bc / k;
        scalar_t* out_rows = dst + (bc * h * s + i * s) * (w * s);
        for (size_t gi = 0; gi < st.groups.size(); ++gi) {
          const State::Group& g = st.groups[gi];
          const at::Tensor& y = ys[gi];
          const int64_t yh = y.size(2), yw = y.size(3), ych = y.size(1);
          const scalar_t* src = y.data_ptr<scalar_t>();
          int64_t idx = 0;
          for (size_t pa = 0; pa < g.rows->phases.size(); ++pa)
            for (size_t pb = 0; pb < g.cols->phases.size(); ++pb, ++idx) {
              const scalar_t* in = src + ((b * ych + idx * k + c) * yh + i + g.rows->starts[pa]) * yw +
                                   g.cols->starts[pb];
              scalar_t* o = out_rows + g.rows->phases[pa] * (w * s) + g.cols->phases[pb];
              if (relu)
                for (int64_t j = 0; j < w; ++j) o[j * s] = in[j] > 0 ? in[j] : scalar_t(0);
              else
                for (int64_t j = 0; j < w; ++j) o[j * s] = in[j];
            }
        }
      }
    });
  });
  return out;
}

}  // namespace tavce::nn
